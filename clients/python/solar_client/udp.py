"""UDP: one datagram per request, one datagram back (README.md, UDP path).

UDP may lose a request or its reply, so a call resends after `timeout`, up
to `retries` more times. A retry can run the request twice (the first copy
may have arrived and only its reply been lost): retry only requests that are
safe to repeat (reads, idempotent writes), or pass retries=0 (KvClient
resends reads only; its writes use write_retries, 0 by default). The server
sends no error reply over UDP: a request whose worker fails gets no answer,
and the call ends with TimeoutError.
"""
import select
import socket
import time

from .errors import ConnectError, TimeoutError

MAX_DATAGRAM = 65507  # the largest UDP payload over IPv4


class UdpConnection:
    """A UDP socket connected to solar's udp listener at host:port.

    timeout: default seconds to wait for a reply to each attempt.
    retries: default number of resends after an attempt times out.
    Used by one thread at a time.
    """

    def __init__(self, host, port, *, timeout=1.0, retries=2):
        self.host = host
        self.port = int(port)
        self.timeout = timeout
        self.retries = retries
        self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    def _open(self):
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except OSError as e:
            raise ConnectError(f"cannot resolve {self.host}: {e}") from None
        family, type_, proto, _, addr = infos[0]
        sock = socket.socket(family, type_, proto)
        try:
            # connect() fixes the peer: datagrams from anyone else are dropped
            # by the kernel, and ICMP "port unreachable" becomes an error.
            sock.connect(addr)
        except OSError as e:
            sock.close()
            raise ConnectError(f"udp {self.host}:{self.port}: {e.strerror or e}") from None
        sock.setblocking(False)
        self._sock = sock

    def _drain(self):
        """Drops replies that arrived after their call gave up."""
        while True:
            try:
                self._sock.recv(65535)
            except OSError:  # BlockingIOError: empty; ConnectionRefusedError: an old ICMP
                return

    def call(self, payload, timeout=None, retries=None, *, accept=None):
        """Sends `payload` as one datagram and returns the reply datagram.

        Each attempt waits `timeout` seconds; after `retries` resends the
        call raises TimeoutError (ConnectError if every attempt found the
        port closed). `accept(reply) -> bool` may reject datagrams that answer
        something else (a late reply to an earlier call); they are skipped.
        """
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        if len(payload) > MAX_DATAGRAM:
            raise ValueError(f"a datagram of {len(payload)} bytes is over {MAX_DATAGRAM}")
        if self._sock is None:
            self._open()
        self._drain()
        refused = False
        for _ in range(retries + 1):
            try:
                self._sock.send(payload)
                refused = False
            except ConnectionRefusedError:
                refused = True
            except OSError as e:
                raise ConnectError(f"udp send to {self.host}:{self.port}: {e.strerror or e}") from None
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([self._sock], [], [], left)
                if not ready:
                    break
                try:
                    reply = self._sock.recv(65535)
                except BlockingIOError:
                    continue
                except ConnectionRefusedError:  # ICMP port unreachable: nobody listens (yet)
                    refused = True
                    continue
                if accept is None or accept(reply):
                    return reply
        attempts = retries + 1
        if refused:
            raise ConnectError(f"udp {self.host}:{self.port}: port unreachable ({attempts} attempt(s))")
        raise TimeoutError(f"no udp reply from {self.host}:{self.port} within {timeout * 1000:.0f} ms "
                           f"({attempts} attempt(s))")
