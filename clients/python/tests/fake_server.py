"""A scripted FRAME32 server in a thread, for the client behaviours a real
solar cannot be made to show on demand (a reply cut in half, a close right
after a request arrives).

Each accepted connection runs the next script from `scripts`: a function
(conn, server) that reads requests with server.read_request(conn) and
answers with conn.sendall(frame(...)). Counts connections and requests.
"""
import socket
import struct
import threading


def frame(payload, error=False):
    return struct.pack(">I", len(payload) | (0x8000_0000 if error else 0)) + payload


def _read_exactly(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class FakeServer:
    def __init__(self, scripts):
        self.scripts = list(scripts)
        self.connections = 0
        self.requests = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(5)

    def read_request(self, conn):
        header = _read_exactly(conn, 4)
        if header is None:
            return None
        body = _read_exactly(conn, struct.unpack(">I", header)[0])
        if body is not None:
            self.requests.append(body)
        return body

    def _serve(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            script = self.scripts.pop(0) if self.scripts else None
            with conn:
                if script is not None:
                    try:
                        script(conn, self)
                    except OSError:
                        pass


def echo_forever(conn, server):
    while (req := server.read_request(conn)) is not None:
        conn.sendall(frame(req))


def echo_then(n, last):
    """Echo n requests, then run last(conn, server)."""
    def script(conn, server):
        for _ in range(n):
            req = server.read_request(conn)
            if req is None:
                return
            conn.sendall(frame(req))
        last(conn, server)
    return script


def close_after_request(conn, server):
    server.read_request(conn)


def half_reply_then_close(conn, server):
    server.read_request(conn)
    conn.sendall(frame(b"hello")[:6])


def never_reply(conn, server):
    server.read_request(conn)
    conn.recv(1)  # until the client goes away
