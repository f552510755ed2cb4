"""AsyncConnection: Connection for asyncio, with the same call/call_many,
timeouts, error replies and retry rule (see solar_client.connection): a
reused connection the server already closed is replaced before sending;
a resend after sending happens only with retry=True (default False).

Calls on one AsyncConnection from several tasks are run one after another
(a lock); use several connections, or call_many, for concurrency.
"""
import asyncio
import select

from . import _frame
from .connection import _not_resent
from .errors import ConnectError, ConnectionClosedError, ServerError, TimeoutError


class _Broken(Exception):
    def __init__(self, why, before_reply):
        super().__init__(why)
        self.before_reply = before_reply


class AsyncConnection:
    """An asyncio FRAME32 connection to solar at host:port (opened lazily).
    retry: the default of every call's retry= [False] (see Connection)."""

    def __init__(self, host, port, *, connect_timeout=5.0, timeout=10.0, retry=False,
                 max_reply_bytes=_frame.DEFAULT_MAX_REPLY_BYTES):
        self.host = host
        self.port = int(port)
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.retry = retry
        self.max_reply_bytes = max_reply_bytes
        self.reconnects = 0
        self._reader = self._writer = None
        self._lock = asyncio.Lock()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self):
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def call(self, payload, *, timeout=None, retry=None):
        """One request, its reply (bytes); ServerError for an error reply.
        retry: True allows one resend when the reused connection breaks after
        sending, before any reply, for an idempotent request; None uses the
        connection's [False] (see Connection.call)."""
        reply = (await self._run([payload], timeout, retry))[0]
        if isinstance(reply, ServerError):
            reply.index = None
            raise reply
        return reply

    async def call_many(self, payloads, *, timeout=None, return_exceptions=False, retry=None):
        """Pipelined requests, their replies in order (as Connection.call_many)."""
        payloads = list(payloads)
        replies = await self._run(payloads, timeout, retry) if payloads else []
        if not return_exceptions:
            for r in replies:
                if isinstance(r, ServerError):
                    raise r
        return replies

    def _drop(self):
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    def _closed_by_peer(self):
        """True when the idle connection was closed by the server (a restart,
        its idle timeout). The socket itself is polled: the event loop may not
        have run since the server's FIN arrived (the caller was busy), so the
        reader need not show EOF yet. Readable while idle means EOF or an
        error (a reply can only come after a request): replace it."""
        if self._reader.at_eof() or self._reader.exception() is not None or self._writer.is_closing():
            return True
        sock = self._writer.get_extra_info("socket")
        if sock is None:
            return False
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))

    async def _open(self):
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout)
        except asyncio.TimeoutError:
            raise ConnectError(f"connect to {self.host}:{self.port}: timed out") from None
        except OSError as e:
            raise ConnectError(f"connect to {self.host}:{self.port}: {e.strerror or e}") from None

    async def _run(self, payloads, timeout, retry):
        data = _frame.encode(payloads)
        timeout = self.timeout if timeout is None else timeout
        retry = self.retry if retry is None else retry
        async with self._lock:
            if self._writer is not None and self._closed_by_peer():
                self._drop()  # closed by the server while idle: nothing sent, reconnect
                self.reconnects += 1
            reused = self._writer is not None
            if not reused:
                await self._open()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            for attempt in (0, 1):
                try:
                    return await asyncio.wait_for(self._exchange(data, len(payloads)),
                                                  max(0.0, deadline - loop.time()))
                except _Broken as e:
                    self._drop()
                    if attempt:
                        raise ConnectionClosedError(f"{self.host}:{self.port}: {e} (after one reconnect)") from None
                    if not (reused and e.before_reply and retry):
                        raise ConnectionClosedError(f"{self.host}:{self.port}: {e}"
                                                    + _not_resent(reused, e.before_reply)) from None
                except asyncio.TimeoutError:
                    self._drop()
                    raise TimeoutError(f"no reply from {self.host}:{self.port} "
                                       f"within {timeout * 1000:.0f} ms") from None
                except BaseException:
                    self._drop()
                    raise
                self.reconnects += 1
                await self._open()

    async def _exchange(self, data, count):
        # No drain() before reading: the transport sends the buffered batch
        # as the socket allows while replies are read, so nothing deadlocks.
        self._writer.write(data)
        replies = []
        got = False
        try:
            for i in range(count):
                header = await self._reader.readexactly(4)
                got = True
                is_error, length = _frame.decode_header(header, self.max_reply_bytes)
                replies.append(_frame.reply_value(is_error, await self._reader.readexactly(length), i))
        except asyncio.IncompleteReadError as e:
            raise _Broken("the server closed the connection", not (got or e.partial)) from None
        except OSError as e:
            raise _Broken(str(e), not got) from None
        return replies
