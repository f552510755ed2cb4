"""solar_client: a Python client of the solar server (FRAME32 over TCP, UDP,
and the KV service of proto/kv.proto).

    from solar_client import Connection, KvClient
    with Connection("127.0.0.1", 7700, timeout=2.0) as c:
        reply = c.call(b"request bytes")

The KV names (KvClient, KvError, ...) need the code generated from
proto/kv.proto (build.sh); they are imported on first use, so Connection,
UdpConnection and AsyncConnection work without it.
"""
from .aio import AsyncConnection
from .connection import Connection
from .errors import (ConnectError, ConnectionClosedError, ProtocolError, ServerError, SolarError,
                     TimeoutError)
from .udp import UdpConnection

__version__ = "0.1.0"

_KV_NAMES = ("KvClient", "KvError", "InvalidArgumentError", "TooLargeError", "UnavailableError",
             "InternalError", "ScanResult", "Status")

__all__ = ["Connection", "AsyncConnection", "UdpConnection", "SolarError", "ConnectError", "TimeoutError",
           "ConnectionClosedError", "ProtocolError", "ServerError", *_KV_NAMES]


def __getattr__(name):
    if name in _KV_NAMES:
        from . import kv
        return getattr(kv, name)
    raise AttributeError(f"module 'solar_client' has no attribute {name!r}")
