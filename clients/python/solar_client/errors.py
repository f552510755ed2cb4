"""The exceptions of solar_client: every one derives from SolarError.

What each one says about the connection:
- ServerError (and its KV subclasses): the server answered; the connection is fine.
- TimeoutError, ProtocolError, ConnectionClosedError: the connection was
  dropped (a late reply would otherwise answer the next request); the next
  call opens a new one.
- ConnectError: no connection could be opened.
"""
import builtins


class SolarError(Exception):
    """Base class of every error raised by solar_client."""


class ConnectError(SolarError):
    """Could not connect (refused, unreachable, connect timeout, bad address)."""


class TimeoutError(SolarError, builtins.TimeoutError):  # noqa: A001 - deliberate shadowing
    """No (complete) reply within the request timeout.

    Also a builtin TimeoutError, so `except TimeoutError` without importing
    this one catches it. A timed-out request is never retried: it may have run.
    """


class ConnectionClosedError(SolarError):
    """The server closed or reset the connection before the reply was complete.

    The request may have run: it is resent (once) only for a call with
    retry=True (see solar_client.connection)."""


class ProtocolError(SolarError):
    """The server sent something this client cannot read (an implausible
    frame length, a reply that is not a KvResponse, unexpected bytes)."""


class ServerError(SolarError):
    """An error reply: the server answered this request with an error message
    (FRAME32's error frame, e.g. the worker's process() threw).

    `message` is the server's text. In call_many, `index` is the position of
    the request it answers (None for call).
    """

    def __init__(self, message, index=None):
        super().__init__(message)
        self.message = message
        self.index = index
