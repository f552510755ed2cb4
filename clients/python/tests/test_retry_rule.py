"""The retry rule and the reply decoding, against a scripted server: when a
call is resent on a new connection (only with retry=True), and when it must
not be. (tests/test_connection.py checks the same against a real solar.)"""
import builtins
import time
import unittest

from solar_client import (AsyncConnection, Connection, ConnectionClosedError, ProtocolError, ServerError,
                          TimeoutError)
from tests.fake_server import (FakeServer, close_after_request, echo_forever, echo_then, frame,
                               half_reply_then_close, never_reply)


class RetryRule(unittest.TestCase):
    def test_reused_connection_closed_after_the_request_is_not_resent_by_default(self):
        with FakeServer([echo_then(1, close_after_request), echo_forever]) as srv, \
                Connection("127.0.0.1", srv.port, timeout=2) as c:
            self.assertEqual(c.call(b"one"), b"one")
            with self.assertRaises(ConnectionClosedError) as cm:
                c.call(b"two")
            self.assertIn("not resent", str(cm.exception))
            self.assertEqual(c.reconnects, 0)
            self.assertEqual(srv.requests, [b"one", b"two"])
            self.assertEqual(c.call(b"three"), b"three")  # the next call opens a new connection
            self.assertEqual(srv.connections, 2)

    def test_reused_connection_closed_after_the_request_is_resent_once_with_retry_true(self):
        with FakeServer([echo_then(1, close_after_request), echo_forever]) as srv, \
                Connection("127.0.0.1", srv.port, timeout=2) as c:
            self.assertEqual(c.call(b"one"), b"one")
            self.assertEqual(c.call(b"two", retry=True), b"two")
            self.assertEqual(c.reconnects, 1)
            self.assertEqual(srv.connections, 2)
            self.assertEqual(srv.requests, [b"one", b"two", b"two"])

    def test_retry_true_as_the_connections_default(self):
        with FakeServer([echo_then(1, close_after_request), echo_then(2, close_after_request)]) as srv, \
                Connection("127.0.0.1", srv.port, timeout=2, retry=True) as c:
            c.call(b"one")
            self.assertEqual(c.call_many([b"two", b"three"]), [b"two", b"three"])  # the batch, resent whole
            with self.assertRaises(ConnectionClosedError):
                c.call(b"four", retry=False)  # the call's retry= wins
            self.assertEqual(c.reconnects, 1)
            self.assertEqual(srv.requests, [b"one", b"two", b"two", b"three", b"four"])

    def test_resent_request_that_breaks_again_is_not_resent_twice(self):
        with FakeServer([echo_then(1, close_after_request), close_after_request]) as srv, \
                Connection("127.0.0.1", srv.port, timeout=2) as c:
            c.call(b"one")
            with self.assertRaises(ConnectionClosedError) as cm:
                c.call(b"two", retry=True)
            self.assertIn("after one reconnect", str(cm.exception))
            self.assertEqual(srv.requests, [b"one", b"two", b"two"])

    def test_fresh_connection_closed_is_not_retried(self):
        with FakeServer([close_after_request, echo_forever]) as srv, \
                Connection("127.0.0.1", srv.port, timeout=2) as c:
            with self.assertRaises(ConnectionClosedError):
                c.call(b"one", retry=True)
            self.assertEqual(srv.requests, [b"one"])
            self.assertEqual(c.reconnects, 0)

    def test_partial_reply_is_not_retried(self):
        with FakeServer([echo_then(1, half_reply_then_close), echo_forever]) as srv, \
                Connection("127.0.0.1", srv.port, timeout=2) as c:
            c.call(b"one")
            with self.assertRaises(ConnectionClosedError):
                c.call(b"two", retry=True)
            self.assertEqual(srv.requests, [b"one", b"two"])
            self.assertEqual(c.reconnects, 0)

    def test_timeout_is_not_retried_and_drops_the_connection(self):
        with FakeServer([echo_then(1, never_reply), echo_forever]) as srv, \
                Connection("127.0.0.1", srv.port, timeout=0.2) as c:
            c.call(b"one")
            with self.assertRaises(TimeoutError) as cm:
                c.call(b"two", retry=True)
            self.assertIsInstance(cm.exception, builtins.TimeoutError)
            self.assertFalse(c.connected)
            self.assertEqual(srv.requests, [b"one", b"two"])
            # The next call opens a new connection: no late reply can answer it.
            self.assertEqual(c.call(b"three"), b"three")
            self.assertEqual(srv.connections, 2)

    def test_idle_connection_closed_by_the_server_is_replaced_before_sending(self):
        # Always, without retry=True: nothing was sent on the closed connection.
        with FakeServer([echo_then(1, lambda conn, server: None), echo_forever]) as srv, \
                Connection("127.0.0.1", srv.port, timeout=2) as c:
            c.call(b"one")
            deadline = time.monotonic() + 2
            while not c._closed_by_peer():  # wait until the server's FIN arrived
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.01)
            self.assertEqual(c.call(b"two"), b"two")
            self.assertEqual(c.reconnects, 1)
            self.assertEqual(srv.requests, [b"one", b"two"])  # sent once, on the new connection


def answer_pipeline_with_error(conn, server):
    reqs = [server.read_request(conn) for _ in range(3)]
    conn.sendall(frame(reqs[0]) + frame("worker failed: ünïcode".encode(), error=True) + frame(reqs[2]))
    echo_forever(conn, server)


class ReplyDecoding(unittest.TestCase):
    def test_error_reply_answers_its_position_and_keeps_the_connection(self):
        with FakeServer([answer_pipeline_with_error]) as srv, Connection("127.0.0.1", srv.port, timeout=2) as c:
            replies = c.call_many([b"a", b"b", b"c"], return_exceptions=True)
            self.assertEqual(replies[0], b"a")
            self.assertIsInstance(replies[1], ServerError)
            self.assertEqual(replies[1].message, "worker failed: ünïcode")
            self.assertEqual(replies[1].index, 1)
            self.assertEqual(replies[2], b"c")
            self.assertEqual(c.call(b"d"), b"d")
            self.assertEqual(srv.connections, 1)

    def test_call_many_raises_the_first_error_after_reading_every_reply(self):
        with FakeServer([answer_pipeline_with_error]) as srv, Connection("127.0.0.1", srv.port, timeout=2) as c:
            with self.assertRaises(ServerError) as cm:
                c.call_many([b"a", b"b", b"c"])
            self.assertEqual(cm.exception.index, 1)
            self.assertEqual(c.call(b"d"), b"d")  # still in step: "c" was read
            self.assertEqual(srv.connections, 1)

    def test_implausible_length_is_a_protocol_error(self):
        def huge(conn, server):
            server.read_request(conn)
            conn.sendall(b"\x7f\xff\xff\xff")
            conn.recv(1)
        with FakeServer([huge]) as srv, Connection("127.0.0.1", srv.port, timeout=2) as c:
            with self.assertRaises(ProtocolError):
                c.call(b"x")
            self.assertFalse(c.connected)

    def test_error_reply_limits(self):
        def errors(conn, server):
            server.read_request(conn)
            conn.sendall(frame(b"e" * (64 << 10), error=True))  # the longest the server sends
            server.read_request(conn)
            conn.sendall(frame(b"\xff not utf-8", error=True))
            server.read_request(conn)
            conn.sendall(frame(b"", error=True) + frame(b"x"))  # an empty message, then a normal reply
            server.read_request(conn)
            conn.sendall(frame(b"ok"))
            server.read_request(conn)
            conn.sendall(b"\x80\x01\x00\x01")  # an error frame of 64 KiB + 1 bytes: out of step
            conn.recv(1)
        with FakeServer([errors]) as srv, Connection("127.0.0.1", srv.port, timeout=2) as c:
            with self.assertRaises(ServerError) as cm:
                c.call(b"1")
            self.assertEqual(cm.exception.message, "e" * (64 << 10))
            with self.assertRaises(ServerError) as cm:
                c.call(b"2")
            self.assertEqual(cm.exception.message, "\ufffd not utf-8")
            replies = c.call_many([b"3", b"4"], return_exceptions=True)
            self.assertEqual((replies[0].message, replies[1]), ("", b"x"))
            self.assertEqual(c.call(b"5"), b"ok")
            with self.assertRaises(ProtocolError):
                c.call(b"6")
            self.assertFalse(c.connected)
            self.assertEqual(srv.connections, 1)

    def test_async_error_reply_and_retry(self):
        import asyncio

        async def run(port):
            async with AsyncConnection("127.0.0.1", port, timeout=2) as c:
                replies = await c.call_many([b"a", b"b", b"c"], return_exceptions=True)
                self.assertEqual([replies[0], replies[2]], [b"a", b"c"])
                self.assertEqual(replies[1].message, "worker failed: ünïcode")
                self.assertEqual(await c.call(b"d"), b"d")
                # The script ends after "d" and "e" is sent on a broken connection: one resend.
                return await c.call(b"e", retry=True), c.reconnects

        with FakeServer([echo_then(0, answer_pipeline_with_error_then_close), echo_forever]) as srv:
            reply, reconnects = asyncio.run(run(srv.port))
            self.assertEqual((reply, reconnects), (b"e", 1))
            self.assertEqual(srv.connections, 2)


def answer_pipeline_with_error_then_close(conn, server):
    reqs = [server.read_request(conn) for _ in range(3)]
    conn.sendall(frame(reqs[0]) + frame("worker failed: ünïcode".encode(), error=True) + frame(reqs[2]))
    conn.sendall(frame(server.read_request(conn)))
    server.read_request(conn)  # "e": closed without a reply


if __name__ == "__main__":
    unittest.main()
