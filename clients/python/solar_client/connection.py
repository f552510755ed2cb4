"""A synchronous TCP connection to solar speaking FRAME32.

One Connection is one TCP connection, used by one thread at a time. Replies
on a connection come back in request order (README.md, Protocols), so
call_many() pipelines: it writes every request, then reads the replies in
order, writing and reading together so that a large batch cannot deadlock
on full socket buffers.

Reconnects and the retry rule.
- Before sending (always, for every call): on a reused connection the client
  checks, without blocking, whether the server already closed it (a restart,
  its idle timeout); then it opens a new connection before sending anything.
  Nothing was sent, so this cannot run a request twice.
- After sending, a call is resent once, on a new connection, only when the
  call asked for it (retry=True, on the call or as the Connection's default)
  and all of these hold:
  - the connection was opened before this call (a reused connection: the
    server may have restarted or closed it meanwhile), and
  - not one byte of a reply had arrived (EPIPE, ECONNRESET or EOF first).
  A timeout, a partial reply, or a failure on a fresh connection is never
  resent: the request may have run.

Why the resend is off by default: a reused connection that breaks before any
reply is usually a server that restarted or closed it (idle timeout) before
reading the request. But a worker that crashes or is killed in the middle of
the request (request_timeout_ms) also closes the connection before any reply,
and so does a server with error_replies: false whose worker threw: then the
request ran (or partly ran), and a resend would run it again. So pass
retry=True only for idempotent requests (reads; writes that running twice
cannot harm); without it such a failure raises ConnectionClosedError and the
caller decides. KvClient passes retry=True for its reads only.
"""
import math
import select
import socket
import time

from . import _frame
from .errors import ConnectError, ConnectionClosedError, ProtocolError, ServerError, TimeoutError

_SEND_CHUNK = 1 << 20
_RECV_CHUNK = 1 << 18
_POLL_IN = select.POLLIN | select.POLLERR | select.POLLHUP


class _Broken(Exception):
    """The connection failed mid-exchange (internal: decides the retry)."""

    def __init__(self, why, before_reply):
        super().__init__(why)
        self.before_reply = before_reply


def _not_resent(reused, before_reply):
    """The note for a failure that the retry rule would have resent."""
    if reused and before_reply:
        return " (not resent: the request may have run; pass retry=True for an idempotent request)"
    return ""


class Connection:
    """A FRAME32 client connection to solar at host:port.

    connect_timeout: seconds to open the TCP connection (ConnectError after).
    timeout: default seconds for one call or call_many to be answered
      completely, counted from when the connection is open (TimeoutError).
    retry: the default of every call's retry= (None): True allows the one
      resend after sending described above, for a connection that carries
      only idempotent requests [False]. The check before sending is always
      done.
    The connection opens on the first call (or connect()); close() ends it.
    """

    def __init__(self, host, port, *, connect_timeout=5.0, timeout=10.0, retry=False,
                 max_reply_bytes=_frame.DEFAULT_MAX_REPLY_BYTES):
        self.host = host
        self.port = int(port)
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.retry = retry
        self.max_reply_bytes = max_reply_bytes
        # How often a connection was replaced because the server had closed
        # it (before a call, or by the one resend): for logs and tests.
        self.reconnects = 0
        self._sock = None
        self._poller = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "open" if self._sock is not None else "closed"
        return f"<solar_client.Connection {self.host}:{self.port} {state}>"

    @property
    def connected(self):
        return self._sock is not None

    def connect(self):
        """Opens the connection now if it is not open (calls do it lazily)."""
        if self._sock is None:
            self._open()

    def close(self):
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._poller = None

    def call(self, payload, *, timeout=None, retry=None):
        """Sends one request and returns its reply (bytes).

        Raises ServerError for an error reply (the connection stays usable),
        TimeoutError, ConnectionClosedError, ProtocolError, ConnectError.
        retry: True allows one resend when the reused connection breaks after
        sending, before any reply: only for a request that may run twice
        (see the module's docstring). None uses the connection's [False].
        """
        reply = self._run(_frame.encode((payload,)), 1, timeout, retry)[0]
        if isinstance(reply, ServerError):
            reply.index = None
            raise reply
        return reply

    def call_many(self, payloads, *, timeout=None, return_exceptions=False, retry=None):
        """Pipelines the requests and returns their replies, in order.

        `timeout` bounds the whole batch. An error reply answers only its own
        request: with return_exceptions=True its ServerError takes that place
        in the list; otherwise, after every reply has been read (the
        connection stays usable), the first one is raised, with `.index`.
        retry: as for call; a resend resends the whole batch.
        """
        payloads = list(payloads)
        if not payloads:
            return []
        replies = self._run(_frame.encode(payloads), len(payloads), timeout, retry)
        if not return_exceptions:
            for r in replies:
                if isinstance(r, ServerError):
                    raise r
        return replies

    # --- internals ---------------------------------------------------------

    def _open(self):
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except socket.timeout:
            raise ConnectError(f"connect to {self.host}:{self.port}: timed out after "
                               f"{self.connect_timeout:g} s") from None
        except OSError as e:
            raise ConnectError(f"connect to {self.host}:{self.port}: {e.strerror or e}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self._sock = sock
        self._poller = select.poll()
        self._poller.register(sock, _POLL_IN)

    def _closed_by_peer(self):
        """True when the idle connection already shows EOF or an error: the
        server closed it (a restart, its idle timeout). Unexpected bytes on an
        idle connection are a ProtocolError."""
        if not self._poller.poll(0):
            return False
        try:
            data = self._sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        if data:
            self.close()
            raise ProtocolError(f"{len(data)}+ unexpected bytes from {self.host}:{self.port} "
                                "on an idle connection")
        return True

    def _run(self, data, count, timeout, retry):
        if timeout is None:
            timeout = self.timeout
        if retry is None:
            retry = self.retry
        if self._sock is not None and self._closed_by_peer():
            self.close()
            self.reconnects += 1  # nothing was sent on it: no request can run twice
        reused = self._sock is not None
        if not reused:
            self._open()
        deadline = time.monotonic() + timeout
        try:
            return self._exchange(data, count, deadline, timeout)
        except _Broken as e:
            self.close()
            if not (reused and e.before_reply and retry):
                raise ConnectionClosedError(f"{self.host}:{self.port}: {e}"
                                            + _not_resent(reused, e.before_reply)) from None
        except BaseException:
            self.close()  # a late reply would answer the next request
            raise
        self.reconnects += 1
        self._open()
        try:
            return self._exchange(data, count, deadline, timeout)
        except _Broken as e:
            self.close()
            raise ConnectionClosedError(f"{self.host}:{self.port}: {e} (after one reconnect)") from None
        except BaseException:
            self.close()
            raise

    def _exchange(self, data, count, deadline, timeout):
        """Writes `data` and reads `count` replies, both as the socket allows."""
        sock, poller = self._sock, self._poller
        out = memoryview(data)
        sent = 0
        reader = _frame.ReplyReader(self.max_reply_bytes)
        replies = []
        got_bytes = False
        writing = False
        while len(replies) < count:
            if sent < len(out):
                try:
                    sent += sock.send(out[sent:sent + _SEND_CHUNK], socket.MSG_NOSIGNAL)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    # Replies already queued for us mean the server read some
                    # requests: not "before any reply".
                    raise _Broken(f"send: {e.strerror or e}", not (got_bytes or self._readable())) from None
                want_write = sent < len(out)
                if want_write != writing:
                    poller.modify(sock, _POLL_IN | (select.POLLOUT if want_write else 0))
                    writing = want_write
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply from {self.host}:{self.port} within {timeout * 1000:.0f} ms"
                                   + (f" ({len(replies)} of {count} replies)" if count > 1 else ""))
            events = poller.poll(math.ceil(left * 1000))
            if not events or not events[0][1] & _POLL_IN:
                continue
            try:
                chunk = sock.recv(_RECV_CHUNK)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                raise _Broken(f"recv: {e.strerror or e}", not got_bytes) from None
            if not chunk:
                raise _Broken("the server closed the connection", not got_bytes)
            got_bytes = True
            reader.feed(chunk)
            replies.extend(reader.take())
        if writing:
            poller.modify(sock, _POLL_IN)
        if reader.pending():
            raise ProtocolError(f"{reader.pending()} bytes from {self.host}:{self.port} "
                                f"beyond the {count} replies expected")
        return replies

    def _readable(self):
        try:
            return bool(self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:
            return False
