"""A TCP proxy in front of a real solar, for the retry rule: it forwards
FRAME32 both ways and records every request frame the server was sent, and
cut_next_reply() makes it drop the server's next reply and close that client
connection instead of forwarding it. The request ran on the real server; the
client sees its connection closed after sending, before any reply byte: the
case where a resend would run the request twice.

Used by one test at a time, with no request in flight when cutting is armed.
"""
import select
import socket
import struct
import threading


class CutProxy:
    def __init__(self, upstream_port, host="127.0.0.1"):
        self.upstream = (host, upstream_port)
        self.requests = []  # every request payload forwarded to the server, in order
        self.connections = 0
        self._cut = False
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._threads = []
        self._closing = False
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def cut_next_reply(self):
        with self._lock:
            self._cut = True

    def close(self):
        self._closing = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        for t in self._threads:
            t.join(5)

    def _accept(self):
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            server = socket.create_connection(self.upstream, timeout=5)
            t = threading.Thread(target=self._pipe, args=(client, server), daemon=True)
            t.start()
            self._threads.append(t)

    def _pipe(self, client, server):
        pending = bytearray()  # client bytes not yet a whole frame (for self.requests)
        with client, server:
            while not self._closing:
                ready, _, _ = select.select([client, server], [], [], 0.2)
                for sock in ready:
                    try:
                        data = sock.recv(1 << 16)
                    except OSError:
                        return
                    if not data:
                        return  # either side closed: close both
                    if sock is client:
                        pending += data
                        while len(pending) >= 4:
                            n = struct.unpack(">I", pending[:4])[0] & 0x7FFF_FFFF
                            if len(pending) < 4 + n:
                                break
                            self.requests.append(bytes(pending[4:4 + n]))
                            del pending[:4 + n]
                        server.sendall(data)
                    else:
                        with self._lock:
                            cut, self._cut = self._cut, False
                        if cut:
                            return  # the reply is dropped, the client sees EOF
                        client.sendall(data)
