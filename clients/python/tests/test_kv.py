"""KvClient against a real solar serving builtin:kv (SQLite in the temp state_dir)."""
import os
import re
import socket
import subprocess
import sys
import time
import unittest

from solar_client import (ConnectionClosedError, InvalidArgumentError, KvClient, KvError, ServerError, Status,
                          TimeoutError)
from solar_client._gen import kv_pb2
from tests.cut_proxy import CutProxy
from tests.solar_server import SolarServer


class Kv(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SolarServer("builtin:kv", udp=True).start()
        cls.addClassCleanup(cls.server.stop)

    def client(self, port=None, **kw):
        kv = KvClient("127.0.0.1", port or self.server.port, timeout=5, **kw)
        self.addCleanup(kv.close)
        return kv

    def test_put_get_delete_round_trip(self):
        kv = self.client()
        self.assertIsNone(kv.get(b"rt:key"))
        kv.put(b"rt:key", b"\x00value\xff")
        self.assertEqual(kv.get(b"rt:key"), b"\x00value\xff")
        kv.put("rt:key", "replaced")  # str is UTF-8
        self.assertEqual(kv.get(b"rt:key"), b"replaced")
        self.assertTrue(kv.delete(b"rt:key"))
        self.assertFalse(kv.delete(b"rt:key"))
        self.assertIsNone(kv.get(b"rt:key"))

    def test_scan_returns_prefix_matches_in_order_and_pages(self):
        kv = self.client()
        for i in (3, 1, 2, 5, 4):
            kv.put(f"scan:{i}", f"v{i}")
        kv.put(b"scanx", b"not this prefix")
        page = kv.scan(b"scan:", limit=3)
        self.assertEqual(page, [(b"scan:1", b"v1"), (b"scan:2", b"v2"), (b"scan:3", b"v3")])
        self.assertTrue(page.more)
        rest = kv.scan(b"scan:", start_after=page.last_key)
        self.assertEqual(rest, [(b"scan:4", b"v4"), (b"scan:5", b"v5")])
        self.assertFalse(rest.more)
        self.assertEqual(kv.scan(b"scan:", keys_only=True), [b"scan:%d" % i for i in range(1, 6)])
        self.assertEqual(list(kv.scan_all(b"scan:", page_size=2, keys_only=True)),
                         [b"scan:%d" % i for i in range(1, 6)])

    def test_batch_applies_all_and_returns_one_result_per_op(self):
        kv = self.client()
        kv.put(b"b:old", b"1")
        results = kv.batch([("put", b"b:new", b"2"), ("get", b"b:old"), ("get", b"b:missing"),
                            ("del", b"b:old"), ("del", b"b:missing"), ("scan", b"b:", {"keys_only": True})])
        self.assertEqual(results, [None, b"1", None, True, False, [b"b:new"]])
        self.assertIsNone(kv.get(b"b:old"))

    def test_refused_batch_applies_nothing(self):
        kv = self.client()
        with self.assertRaises(InvalidArgumentError) as cm:
            kv.batch([("put", b"bad:1", b"x"), ("put", b"", b"empty key")])
        self.assertEqual(cm.exception.status, Status.INVALID_ARGUMENT)
        self.assertIsInstance(cm.exception, ServerError)
        self.assertIsNone(kv.get(b"bad:1"))

    def test_invalid_argument_is_raised_and_the_client_goes_on(self):
        kv = self.client()
        with self.assertRaises(InvalidArgumentError) as cm:
            kv.get(b"")
        self.assertEqual(cm.exception.status_name, "INVALID_ARGUMENT")
        with self.assertRaises(KvError):
            kv.scan(b"", limit=100000)
        kv.put(b"after", b"ok")
        self.assertEqual(kv.get(b"after"), b"ok")

    def test_get_many_pipelines_in_order(self):
        kv = self.client()
        for i in range(20):
            kv.put(f"gm:{i}", f"value {i}")
        keys = [f"gm:{i}" for i in range(20)] + ["gm:missing"]
        self.assertEqual(kv.get_many(keys), [f"value {i}".encode() for i in range(20)] + [None])

    def test_state_is_in_the_temp_sqlite_file_and_survives_a_new_connection(self):
        self.client().put(b"persist:key", b"kept")
        self.assertTrue(os.path.isfile(os.path.join(self.server.dir, "state", "kv", "kv.sqlite3")))
        self.assertEqual(self.client().get(b"persist:key"), b"kept")

    def test_kv_get_rate_example_runs(self):
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        script = os.path.join(here, "examples", "kv_get_rate.py")
        env = dict(os.environ, PYTHONPATH=here)
        for extra in ([], ["--pipeline", "16"]):
            out = subprocess.run([sys.executable, script, "127.0.0.1", str(self.server.port), "0.2", *extra],
                                 env=env, capture_output=True, text=True, timeout=20)
            self.assertEqual(out.returncode, 0, out.stderr)
            m = re.match(r"(\d+) gets in [\d.]+ s over 1 connection .*: (\d+) gets/s", out.stdout)
            self.assertIsNotNone(m, out.stdout)
            self.assertGreater(int(m.group(1)), 0)

    def test_udp_get_and_put(self):
        kv = self.client(self.server.udp_port, udp=True, retries=2)
        kv.put(b"udp:key", b"over udp")
        self.assertEqual(kv.get(b"udp:key"), b"over udp")
        self.assertIsNone(kv.get(b"udp:missing"))


def _kinds(payloads):
    """The op of each KvRequest payload ("batch:get,put" for a batch)."""
    out = []
    for p in payloads:
        req = kv_pb2.KvRequest.FromString(p)
        kind = req.WhichOneof("op")
        if kind == "batch":
            kind += ":" + ",".join(op.WhichOneof("op") for op in req.batch.ops)
        out.append(kind)
    return out


class KvResend(unittest.TestCase):
    """Reads are resent, writes are not, when a reused connection breaks after
    sending: a real builtin:kv behind CutProxy, which lets the server run the
    request and then drops its reply and closes the client connection."""

    @classmethod
    def setUpClass(cls):
        cls.server = SolarServer("builtin:kv", workers=1).start()
        cls.addClassCleanup(cls.server.stop)

    def setUp(self):
        self.proxy = CutProxy(self.server.port)
        self.addCleanup(self.proxy.close)

    def client(self, **kw):
        kv = KvClient("127.0.0.1", self.proxy.port, timeout=5, **kw)
        self.addCleanup(kv.close)
        return kv

    def cut(self, kv, call):
        """Runs call() with the reply of its (first) request cut, on a reused
        connection; returns its result and the request kinds the server got."""
        kv.get(b"warm")  # the connection is now a reused one
        before = len(self.proxy.requests)
        self.proxy.cut_next_reply()
        return call(), _kinds(self.proxy.requests[before:])

    def test_reads_are_resent_once(self):
        kv = self.client()
        kv.put(b"rs:a", b"1")
        kv.put(b"rs:b", b"2")
        reconnects = kv.conn.reconnects
        cases = [
            ("get", lambda: kv.get(b"rs:a"), b"1", ["get", "get"]),
            ("scan", lambda: kv.scan(b"rs:", keys_only=True), [b"rs:a", b"rs:b"], ["scan", "scan"]),
            ("scan_all", lambda: list(kv.scan_all(b"rs:", page_size=1, keys_only=True)),
             [b"rs:a", b"rs:b"], ["scan", "scan", "scan"]),  # the first page resent, then the second
            ("get_many", lambda: kv.get_many([b"rs:a", b"rs:b", b"rs:none"]), [b"1", b"2", None],
             ["get"] * 6),
            ("batch of reads", lambda: kv.batch([("get", b"rs:a"), ("scan", b"rs:", {"keys_only": True})]),
             [b"1", [b"rs:a", b"rs:b"]], ["batch:get,scan"] * 2),
        ]
        for name, call, expected, sent in cases:
            with self.subTest(name):
                result, kinds = self.cut(kv, call)
                self.assertEqual(result, expected)
                self.assertEqual(kinds, sent)
                reconnects += 1
                self.assertEqual(kv.conn.reconnects, reconnects)

    def test_writes_are_not_resent(self):
        kv = self.client()
        kv.put(b"ws:gone", b"x")
        cases = [
            ("put", lambda: kv.put(b"ws:put", b"new"), ["put"]),
            ("delete", lambda: kv.delete(b"ws:gone"), ["del"]),
            ("batch with a put", lambda: kv.batch([("get", b"ws:put"), ("put", b"ws:batch", b"b")]),
             ["batch:get,put"]),
            ("batch with a delete", lambda: kv.batch([("scan", b"ws:"), ("del", b"ws:batch")]),
             ["batch:scan,del"]),
        ]
        for name, call, sent in cases:
            with self.subTest(name):
                with self.assertRaises(ConnectionClosedError) as cm:
                    self.cut(kv, call)
                self.assertIn("not resent", str(cm.exception))
                self.assertEqual(_kinds(self.proxy.requests[-len(sent):]), sent)
                self.assertEqual(_kinds(self.proxy.requests[-len(sent) - 1:-len(sent)]), ["get"])  # the warm-up
                self.assertEqual(kv.conn.reconnects, 0)
        # Each write ran once on the server although its caller saw an error.
        self.assertEqual(kv.scan(b"ws:"), [(b"ws:put", b"new")])

    def test_retry_false_resends_no_read(self):
        kv = self.client(retry=False)
        with self.assertRaises(ConnectionClosedError):
            self.cut(kv, lambda: kv.get(b"warm"))
        self.assertEqual(kv.conn.reconnects, 0)
        self.assertEqual(kv.get(b"warm"), None)  # a new connection


class KvUdpResend(unittest.TestCase):
    """Over UDP a lost datagram is resent for reads (retries), not for writes
    (write_retries, 0 by default). Counted at a UDP socket that never answers."""

    def setUp(self):
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.sink.close)
        self.sink.bind(("127.0.0.1", 0))
        self.sink.setblocking(False)

    def sent(self):
        kinds = []
        while True:
            try:
                kinds += _kinds([self.sink.recv(65535)])
            except BlockingIOError:
                return kinds

    def attempts(self, call):
        with self.assertRaises(TimeoutError):
            call()
        return self.sent()

    def test_reads_are_resent_writes_are_not(self):
        port = self.sink.getsockname()[1]
        with KvClient("127.0.0.1", port, udp=True, timeout=0.05, retries=2) as kv:
            self.assertEqual(self.attempts(lambda: kv.get(b"k")), ["get"] * 3)
            self.assertEqual(self.attempts(lambda: kv.scan(b"k")), ["scan"] * 3)
            self.assertEqual(self.attempts(lambda: kv.batch([("get", b"k")])), ["batch:get"] * 3)
            self.assertEqual(self.attempts(lambda: kv.put(b"k", b"v")), ["put"])
            self.assertEqual(self.attempts(lambda: kv.delete(b"k")), ["del"])
            self.assertEqual(self.attempts(lambda: kv.batch([("get", b"k"), ("put", b"k", b"v")])),
                             ["batch:get,put"])
        with KvClient("127.0.0.1", port, udp=True, timeout=0.05, retries=2, write_retries=1) as kv:
            self.assertEqual(self.attempts(lambda: kv.put(b"k", b"v")), ["put"] * 2)


if __name__ == "__main__":
    unittest.main()
