"""Connection, UdpConnection and AsyncConnection against a real solar
(builtin:debug: an echo worker that also obeys `throw`, `error:MSG`,
`big:N`, `sleep:MS`, `pid`, `crash`)."""
import asyncio
import builtins
import socket
import time
import unittest

from solar_client import (AsyncConnection, ConnectError, Connection, ConnectionClosedError, ServerError,
                          TimeoutError, UdpConnection)
from tests.cut_proxy import CutProxy
from tests.solar_server import SolarServer, free_port

THROWN = "asked to throw"  # builtin:debug's exception text for "throw"


def expect_server_error(test, reply):
    """Fails with a clear message when the server answered `throw` with a
    normal frame: a server that does not set bit 31 of the length word."""
    if isinstance(reply, (bytes, bytearray)):
        test.fail(f"the server answered 'throw' with a NORMAL frame {bytes(reply)!r}, not an error frame "
                  "(bit 31 of the length word unset): the server does not send error replies")
    test.assertIsInstance(reply, ServerError)
    test.assertEqual(reply.message, THROWN)


class EchoServer(unittest.TestCase):
    """builtin:echo, over TCP and UDP."""

    def test_tcp_and_udp_echo(self):
        with SolarServer("builtin:echo", udp=True) as srv:
            with Connection("127.0.0.1", srv.port, timeout=5) as c:
                self.assertEqual(c.call(b"ping"), b"ping")
                payloads = [b"%d" % i * 1000 for i in range(100)]
                self.assertEqual(c.call_many(payloads), payloads)
                self.assertEqual(c.reconnects, 0)
            with UdpConnection("127.0.0.1", srv.udp_port, timeout=2, retries=2) as u:
                self.assertEqual(u.call(b"datagram"), b"datagram")
                self.assertEqual(u.call(b"x" * 60000), b"x" * 60000)


class DebugServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # 3 workers: the sleeping test's worker stays busy for 0.5 s after its
        # client gave up, and round robin may pin a new connection to it.
        cls.server = SolarServer("builtin:debug", workers=3, udp=True).start()
        cls.addClassCleanup(cls.server.stop)

    def connect(self, **kw):
        c = Connection("127.0.0.1", self.server.port, **kw)
        self.addCleanup(c.close)
        return c

    def test_call_echoes_the_payload(self):
        c = self.connect(timeout=5)
        self.assertEqual(c.call(b"hello"), b"hello")
        self.assertEqual(c.call(b""), b"")
        blob = bytes(range(256)) * 4096  # 1 MiB, every byte value
        self.assertEqual(c.call(blob), blob)

    def test_call_many_returns_replies_in_request_order(self):
        c = self.connect(timeout=10)
        payloads = [b"sleep:50"] + [f"req-{i}".encode() * (i + 1) for i in range(200)]
        replies = c.call_many(payloads)
        self.assertEqual(replies[0], b"slept:50")
        self.assertEqual(replies[1:], payloads[1:])

    def test_throw_is_a_server_error_and_the_connection_stays_usable(self):
        c = self.connect(timeout=5)
        self.assertEqual(c.call(b"before"), b"before")
        try:
            reply = c.call(b"throw")
        except ServerError as e:
            reply = e
        expect_server_error(self, reply)
        self.assertIsNone(reply.index)
        self.assertTrue(c.connected)
        self.assertEqual(c.call(b"after"), b"after")
        self.assertEqual(c.reconnects, 0)  # the same connection answered

    def test_throw_inside_a_pipeline_answers_only_its_position(self):
        c = self.connect(timeout=5)
        payloads = [b"a", b"throw", b"c", b"throw", b"throw"] + [b"after-%d" % i for i in range(50)]
        replies = c.call_many(payloads, return_exceptions=True)
        self.assertEqual(len(replies), len(payloads))
        for i, (p, r) in enumerate(zip(payloads, replies)):
            if p == b"throw":
                expect_server_error(self, r)
                self.assertEqual(r.index, i)
            else:
                self.assertEqual(r, p)
        self.assertEqual(c.reconnects, 0)
        self.assertEqual(c.call(b"next"), b"next")

    def test_response_error_and_oversized_reply_are_error_replies(self):
        c = self.connect(timeout=5)
        replies = c.call_many([b"error:no such order", b"big:%d" % ((4 << 20) + 1), b"big:3", b"z"],
                              return_exceptions=True)
        self.assertIsInstance(replies[0], ServerError)
        self.assertEqual(replies[0].message, "no such order")  # Response::error's text
        self.assertIsInstance(replies[1], ServerError)  # over max_frame_bytes (4 MiB)
        self.assertIn("max_frame_bytes", replies[1].message)
        self.assertEqual(replies[2:], [b"bbb", b"z"])
        self.assertEqual(c.reconnects, 0)

    def test_call_many_raises_the_first_error_reply_after_reading_all(self):
        c = self.connect(timeout=5)
        try:
            replies = c.call_many([b"a", b"throw", b"c", b"throw"])
        except ServerError as e:
            replies = e
        expect_server_error(self, replies)
        self.assertEqual(replies.index, 1)
        # Every reply of the batch was read: the next call gets its own reply.
        self.assertEqual(c.call_many([b"x", b"y"]), [b"x", b"y"])
        self.assertEqual(c.reconnects, 0)

    def test_slow_request_times_out_promptly(self):
        c = self.connect(timeout=0.3)
        start = time.monotonic()
        with self.assertRaises(TimeoutError) as cm:
            c.call(b"sleep:800")
        elapsed = time.monotonic() - start
        self.assertIsInstance(cm.exception, builtins.TimeoutError)
        self.assertGreaterEqual(elapsed, 0.29)
        self.assertLess(elapsed, 1.5)
        self.assertFalse(c.connected)  # dropped: the late reply must not answer the next call
        self.assertEqual(c.call(b"next", timeout=5), b"next")

    def test_udp_call_echoes(self):
        with UdpConnection("127.0.0.1", self.server.udp_port, timeout=2, retries=2) as u:
            self.assertEqual(u.call(b"over udp"), b"over udp")
            self.assertEqual(u.call(b"peer").split()[0], b"udp")

    def test_udp_error_reply_is_not_sent_so_the_call_times_out(self):
        with UdpConnection("127.0.0.1", self.server.udp_port) as u:
            start = time.monotonic()
            with self.assertRaises(TimeoutError):
                u.call(b"throw", timeout=0.3, retries=0)
            self.assertLess(time.monotonic() - start, 1.5)
            self.assertEqual(u.call(b"still there", timeout=2), b"still there")

    def test_async_call_call_many_and_error_reply(self):
        async def run():
            async with AsyncConnection("127.0.0.1", self.server.port, timeout=5) as c:
                one = await c.call(b"async")
                many = await c.call_many([b"x", b"sleep:20", b"y"])
                try:
                    thrown = await c.call(b"throw")
                except ServerError as e:
                    thrown = e
                mixed = await c.call_many([b"p", b"throw", b"q"], return_exceptions=True)
                after = await c.call(b"after")
                start = time.monotonic()
                with self.assertRaises(TimeoutError):
                    await c.call(b"sleep:800", timeout=0.3)
                waited = time.monotonic() - start
                return one, many, thrown, mixed, after, waited, c.reconnects
        one, many, thrown, mixed, after, waited, reconnects = asyncio.run(run())
        self.assertEqual(one, b"async")
        self.assertEqual(many, [b"x", b"slept:20", b"y"])
        expect_server_error(self, thrown)
        self.assertEqual([mixed[0], mixed[2]], [b"p", b"q"])
        expect_server_error(self, mixed[1])
        self.assertEqual(after, b"after")
        self.assertLess(waited, 1.5)
        self.assertEqual(reconnects, 0)


class Restart(unittest.TestCase):
    def test_server_restarted_under_the_client_is_survived_by_one_reconnect(self):
        port = free_port()
        first = SolarServer("builtin:debug", port=port, workers=1).start()
        self.addCleanup(first.stop)
        c = Connection("127.0.0.1", port, timeout=5)
        self.addCleanup(c.close)
        pid_before = c.call(b"pid")
        first.stop()
        second = SolarServer("builtin:debug", port=port, workers=1).start()
        self.addCleanup(second.stop)
        pid_after = c.call(b"pid")
        self.assertNotEqual(pid_after, pid_before)  # the new server's worker answered
        self.assertEqual(c.reconnects, 1)

    def test_async_server_restart_is_survived_by_one_reconnect(self):
        port = free_port()
        first = SolarServer("builtin:debug", port=port, workers=1).start()
        self.addCleanup(first.stop)

        async def run():
            async with AsyncConnection("127.0.0.1", port, timeout=5) as c:
                before = await c.call(b"pid")
                first.stop()
                second = SolarServer("builtin:debug", port=port, workers=1).start()
                self.addCleanup(second.stop)
                return before, await c.call(b"pid"), c.reconnects
        before, after, reconnects = asyncio.run(run())
        self.assertNotEqual(before, after)
        self.assertEqual(reconnects, 1)

    def test_no_server_is_a_connect_error(self):
        c = Connection("127.0.0.1", free_port(), connect_timeout=1)
        with self.assertRaises(ConnectError):
            c.call(b"x")

    def test_connect_timeout(self):
        # A listening socket that never accepts, its backlog full: further
        # SYNs are dropped, so connect() hangs until the client gives up.
        lsock = socket.socket()
        self.addCleanup(lsock.close)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)
        fillers = []
        for _ in range(3):
            s = socket.socket()
            self.addCleanup(s.close)
            s.setblocking(False)
            try:
                s.connect(lsock.getsockname())
            except BlockingIOError:
                pass
            fillers.append(s)
        c = Connection("127.0.0.1", lsock.getsockname()[1], connect_timeout=0.3)
        start = time.monotonic()
        with self.assertRaises(ConnectError) as cm:
            c.call(b"x")
        self.assertIn("timed out", str(cm.exception))
        self.assertLess(time.monotonic() - start, 1.5)


class WorkerFailures(unittest.TestCase):
    """Failures that close the connection: a crashed worker, and a throw
    with error_replies: false (a server for clients without error frames)."""

    def test_crash_closes_the_connection_and_is_not_resent_by_default(self):
        with SolarServer("builtin:debug", workers=1) as srv, Connection("127.0.0.1", srv.port, timeout=5) as c:
            pid = c.call(b"pid")
            with self.assertRaises(ConnectionClosedError) as cm:
                c.call(b"crash")  # a reused connection, but the request may have run: not resent
            self.assertIn("not resent", str(cm.exception))
            self.assertEqual(c.reconnects, 0)
            self.assertFalse(c.connected)
            new_pid = c.call(b"pid")  # a new connection, served by the respawned worker
            self.assertNotEqual(new_pid, pid)
            self.assertEqual(c.call(b"pid"), new_pid)

    def test_throw_with_error_replies_off_closes_the_connection(self):
        with SolarServer("builtin:debug", extra="error_replies: false\n") as srv, \
                Connection("127.0.0.1", srv.port, timeout=5) as c:
            try:
                reply = c.call(b"throw")  # a fresh connection: never retried
            except ConnectionClosedError:
                reply = None
            if reply is not None:
                self.fail(f"with error_replies: false, 'throw' got the reply {reply!r} instead of a closed connection")
            self.assertEqual(c.reconnects, 0)
            self.assertEqual(c.call(b"after"), b"after")
            # Pipelined behind a throw: the batch fails as a whole (its replies
            # cannot be trusted to line up) and is not resent.
            with self.assertRaises(ConnectionClosedError):
                c.call_many([b"throw", b"x", b"y"])
            self.assertEqual(c.reconnects, 0)
            self.assertEqual(c.call(b"again"), b"again")


class ResendAfterSending(unittest.TestCase):
    """The retry rule against a real solar behind CutProxy: the server runs
    the request, the proxy drops its reply and closes the reused client
    connection. Resent only with retry=True."""

    @classmethod
    def setUpClass(cls):
        cls.server = SolarServer("builtin:debug", workers=1).start()
        cls.addClassCleanup(cls.server.stop)

    def setUp(self):
        self.proxy = CutProxy(self.server.port)
        self.addCleanup(self.proxy.close)

    def test_broken_after_sending_is_not_resent_by_default(self):
        with Connection("127.0.0.1", self.proxy.port, timeout=5) as c:
            self.assertEqual(c.call(b"warm"), b"warm")  # the connection is now a reused one
            self.proxy.cut_next_reply()
            with self.assertRaises(ConnectionClosedError) as cm:
                c.call(b"once")
            self.assertIn("not resent", str(cm.exception))
            self.assertEqual(c.reconnects, 0)
            self.assertFalse(c.connected)
            self.assertEqual(self.proxy.requests, [b"warm", b"once"])  # it ran once, on the server
            self.assertEqual(c.call(b"again"), b"again")  # a new connection, then reused
            self.proxy.cut_next_reply()
            with self.assertRaises(ConnectionClosedError):
                c.call_many([b"x", b"y"])
            self.assertEqual(c.call(b"after"), b"after")
            self.assertEqual(self.proxy.requests, [b"warm", b"once", b"again", b"x", b"y", b"after"])
            self.assertEqual((c.reconnects, self.proxy.connections), (0, 3))

    def test_broken_after_sending_is_resent_once_with_retry_true(self):
        with Connection("127.0.0.1", self.proxy.port, timeout=5) as c:
            c.call(b"warm")
            self.proxy.cut_next_reply()
            self.assertEqual(c.call(b"twice", retry=True), b"twice")
            self.assertEqual(c.reconnects, 1)
            self.proxy.cut_next_reply()
            self.assertEqual(c.call_many([b"a", b"b"], retry=True), [b"a", b"b"])  # the whole batch
            self.assertEqual(c.reconnects, 2)
            self.assertEqual(self.proxy.requests, [b"warm", b"twice", b"twice", b"a", b"b", b"a", b"b"])
        with Connection("127.0.0.1", self.proxy.port, timeout=5, retry=True) as c:  # the connection's default
            c.call(b"warm")
            self.proxy.cut_next_reply()
            self.assertEqual(c.call(b"again"), b"again")
            self.assertEqual(c.reconnects, 1)
            self.proxy.cut_next_reply()
            with self.assertRaises(ConnectionClosedError):
                c.call(b"not this one", retry=False)  # a call's retry= overrides it
            self.assertEqual(c.reconnects, 1)

    def test_fresh_connection_broken_after_sending_is_not_resent_even_with_retry_true(self):
        with Connection("127.0.0.1", self.proxy.port, timeout=5) as c:
            self.proxy.cut_next_reply()
            with self.assertRaises(ConnectionClosedError):
                c.call(b"first", retry=True)
            self.assertEqual((c.reconnects, self.proxy.requests), (0, [b"first"]))

    def test_async_resends_only_with_retry_true(self):
        async def run():
            async with AsyncConnection("127.0.0.1", self.proxy.port, timeout=5) as c:
                await c.call(b"warm")
                self.proxy.cut_next_reply()
                with self.assertRaises(ConnectionClosedError) as cm:
                    await c.call(b"once")
                self.assertIn("not resent", str(cm.exception))
                self.assertEqual(c.reconnects, 0)
                await c.call(b"warm again")
                self.proxy.cut_next_reply()
                self.assertEqual(await c.call(b"twice", retry=True), b"twice")
                return c.reconnects
        self.assertEqual(asyncio.run(run()), 1)
        self.assertEqual(self.proxy.requests, [b"warm", b"once", b"warm again", b"twice", b"twice"])


if __name__ == "__main__":
    unittest.main()
