"""A client of solar's KV service (builtin:kv, proto/kv.proto).

Each method sends one solar.kv.KvRequest, numbered like solar-cli does (an
id counting up from 1 per client, echoed in the reply), and maps the reply's
status as solar-cli does: OK is the result, NOT_FOUND of a get is None and
of a delete is False, every other status raises the KvError subclass named
after it (UnavailableError: nothing was applied, retrying later is safe).
"""
from google.protobuf.message import DecodeError

from .connection import Connection
from .errors import ProtocolError, ServerError
from .udp import UdpConnection

try:
    from ._gen import kv_pb2
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError("solar_client.kv needs solar_client/_gen/kv_pb2.py, generated from proto/kv.proto: "
                      "run clients/python/build.sh (needs protoc), or pip install clients/python") from e

Status = kv_pb2.Status


class KvError(ServerError):
    """The KV service answered with a status other than OK (or NOT_FOUND
    where that is a result). `status` is the kv_pb2.Status number,
    `status_name` its name, `error` the server's text."""

    def __init__(self, status, error, index=None):
        self.status = status
        self.status_name = Status.Name(status) if status in Status.values() else f"STATUS_{status}"
        self.error = error
        super().__init__(f"{self.status_name}: {error}" if error else self.status_name, index)


class InvalidArgumentError(KvError):
    """Not a valid request: an empty key, a scan limit over the maximum, ..."""


class TooLargeError(KvError):
    """A key or value over its limit, or a reply too big for the transport."""


class UnavailableError(KvError):
    """The database is unreachable or busy: nothing was applied, retry later."""


class InternalError(KvError):
    """The database refused the statement for another reason (disk full, ...)."""


_ERRORS = {
    Status.NOT_FOUND: KvError,
    Status.INVALID_ARGUMENT: InvalidArgumentError,
    Status.TOO_LARGE: TooLargeError,
    Status.UNAVAILABLE: UnavailableError,
    Status.INTERNAL: InternalError,
}


class ScanResult(list):
    """A scan's entries, a list of (key, value) pairs, or of keys with
    keys_only. `more` is True when further keys match: scan again with
    start_after=result.last_key."""

    def __init__(self, items, more, last_key):
        super().__init__(items)
        self.more = more
        self.last_key = last_key


def _bytes(b, what):
    if isinstance(b, str):
        return b.encode()
    if isinstance(b, (bytes, bytearray, memoryview)):
        return bytes(b)
    raise TypeError(f"{what} must be bytes or str, not {type(b).__name__}")


def _check(r, index=None):
    """Raises the KvError of a failed status; returns whether it was OK."""
    if r.status == Status.OK:
        return True
    if r.status == Status.STATUS_UNSPECIFIED:
        raise ProtocolError("a KvResponse without a status")
    raise _ERRORS.get(r.status, KvError)(r.status, r.error, index)


def _scan_op(prefix=b"", *, start_after=b"", limit=0, keys_only=False):
    return kv_pb2.Scan(prefix=_bytes(prefix, "prefix"), start_after=_bytes(start_after, "start_after"),
                       limit=limit, keys_only=keys_only)


def _scan_result(r, keys_only):
    items = [e.key for e in r.entries] if keys_only else [(e.key, e.value) for e in r.entries]
    return ScanResult(items, r.more, r.entries[-1].key if r.entries else None)


def _op(op):
    """A kv_pb2.Op from ("get", key), ("put", key, value), ("del", key),
    ("scan", prefix[, {limit, start_after, keys_only}]) or a kv_pb2.Op."""
    if isinstance(op, kv_pb2.Op):
        return op
    verb, *args = op
    if verb == "get":
        return kv_pb2.Op(get=kv_pb2.Get(key=_bytes(args[0], "key")))
    if verb == "put":
        return kv_pb2.Op(put=kv_pb2.Put(key=_bytes(args[0], "key"), value=_bytes(args[1], "value")))
    if verb in ("del", "delete"):
        return kv_pb2.Op(**{"del": kv_pb2.Del(key=_bytes(args[0], "key"))})
    if verb == "scan":
        return kv_pb2.Op(scan=_scan_op(*args[:1], **(args[1] if len(args) > 1 else {})))
    raise ValueError(f"unknown batch op {verb!r}: expected get, put, del or scan")


def _result(op, r, index):
    """One batch result, mapped as the single-op methods map their reply."""
    kind = op.WhichOneof("op")
    if r.status == Status.NOT_FOUND and kind in ("get", "del"):
        return None if kind == "get" else False
    _check(r, index)
    if kind == "get":
        return r.value
    if kind == "del":
        return True
    if kind == "scan":
        return _scan_result(r, op.scan.keys_only)
    return None


def _is_read(req):
    """Whether running `req` twice does no harm: a get, a scan, or a batch of
    only gets and scans. A resent put could overwrite another client's newer
    put, and a resent delete would report False: writes are never resent."""
    kind = req.WhichOneof("op")
    if kind == "batch":
        return all(op.WhichOneof("op") in ("get", "scan") for op in req.batch.ops)
    return kind in ("get", "scan")


class KvClient:
    """KV operations on one connection to solar at host:port.

    TCP (default) keeps one Connection, with its timeouts and retry rule
    (see solar_client.connection); `timeout` bounds each call [10 s]. A
    reused connection the server already closed is always replaced before
    sending. retry=True [default] allows the one resend after sending (the
    reused connection broke before any reply) for reads only: get, scan
    (and every page of scan_all), get_many and a batch of only gets and
    scans. Writes (put, delete, a batch with a put or delete) are never
    resent: the first copy may have run, and a resent put could overwrite
    another client's newer put; they raise ConnectionClosedError instead.
    retry=False: reads are not resent either.

    udp=True sends each request as one datagram (UdpConnection: `timeout`
    per attempt [1 s]; replies are matched by id). A request or its reply
    may be lost: reads are resent up to `retries` times [2]; writes up to
    `write_retries` times [0: a lost write, or its lost reply, is a
    TimeoutError, and the write may or may not have been applied]. With
    write_retries > 0 a write may be applied twice (the first datagram
    arrived and only its reply was lost): a resent put can overwrite a newer
    put by another client, and a resent delete whose first copy ran reports
    False.
    Keys and values are bytes; str is encoded as UTF-8.
    """

    def __init__(self, host="127.0.0.1", port=7700, *, udp=False, connect_timeout=5.0, timeout=None,
                 retries=2, retry=True, write_retries=0):
        if udp:
            self.conn = UdpConnection(host, port, timeout=1.0 if timeout is None else timeout, retries=retries)
        else:
            self.conn = Connection(host, port, connect_timeout=connect_timeout,
                                   timeout=10.0 if timeout is None else timeout, retry=False)
        self.udp = udp
        self.retry = retry
        self.retries = retries
        self.write_retries = write_retries
        self._next_id = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.conn.close()

    def _numbered(self, **op):
        req = kv_pb2.KvRequest(id=self._next_id, **op)
        self._next_id += 1
        return req

    def _parse(self, payload, req):
        r = kv_pb2.KvResponse()
        try:
            r.ParseFromString(payload)
        except DecodeError:
            raise ProtocolError(f"the reply ({len(payload)} bytes) is not a solar.kv.KvResponse") from None
        # 0: the server could not parse the request (its status says why).
        if r.id != req.id and r.id != 0:
            raise ProtocolError(f"reply to request {r.id} where {req.id} was expected")
        return r

    def _call(self, req):
        payload = req.SerializeToString()
        read = _is_read(req)
        if self.udp:
            def ours(reply):
                r = kv_pb2.KvResponse()
                try:
                    r.ParseFromString(reply)
                except DecodeError:
                    return False
                return r.id == req.id
            retries = self.retries if read else self.write_retries
            return self._parse(self.conn.call(payload, retries=retries, accept=ours), req)
        return self._parse(self.conn.call(payload, retry=self.retry and read), req)

    def get(self, key):
        """The value of `key` (bytes), or None when it does not exist."""
        r = self._call(self._numbered(get=kv_pb2.Get(key=_bytes(key, "key"))))
        if r.status == Status.NOT_FOUND:
            return None
        _check(r)
        return r.value

    def put(self, key, value):
        """Inserts or replaces `key`."""
        _check(self._call(self._numbered(put=kv_pb2.Put(key=_bytes(key, "key"), value=_bytes(value, "value")))))

    def delete(self, key):
        """Deletes `key`: True if it existed, False if not."""
        r = self._call(self._numbered(**{"del": kv_pb2.Del(key=_bytes(key, "key"))}))
        if r.status == Status.NOT_FOUND:
            return False
        _check(r)
        return True

    def scan(self, prefix=b"", *, start_after=b"", limit=0, keys_only=False):
        """Keys starting with `prefix` after `start_after`, in bytewise order,
        at most `limit` (0: the server's default, 100). Returns a ScanResult:
        (key, value) pairs, or keys with keys_only; `.more` says whether
        further keys match."""
        op = _scan_op(prefix, start_after=start_after, limit=limit, keys_only=keys_only)
        r = self._call(self._numbered(scan=op))
        _check(r)
        return _scan_result(r, keys_only)

    def scan_all(self, prefix=b"", *, page_size=0, keys_only=False):
        """Every key with `prefix`, fetched page by page (a generator)."""
        start_after = b""
        while True:
            page = self.scan(prefix, start_after=start_after, limit=page_size, keys_only=keys_only)
            yield from page
            if not page.more or page.last_key is None:
                return
            start_after = page.last_key

    def batch(self, ops):
        """Runs `ops` in one round trip and one transaction (all of its puts
        and deletes or none). ops: ("get", key), ("put", key, value),
        ("del", key), ("scan", prefix[, {"limit": .., "start_after": ..,
        "keys_only": ..}]) or kv_pb2.Op. Returns one result per op, as the
        single-op methods would (get: bytes or None, put: None, del: bool,
        scan: ScanResult). A refused batch raises its KvError; nothing of it
        was applied. Only a batch of gets and scans is resent (see KvClient)."""
        ops = [_op(op) for op in ops]
        r = self._call(self._numbered(batch=kv_pb2.Batch(ops=ops)))
        _check(r)
        if len(r.results) != len(ops):
            raise ProtocolError(f"{len(r.results)} batch results for {len(ops)} ops")
        return [_result(op, res, i) for i, (op, res) in enumerate(zip(ops, r.results))]

    def get_many(self, keys):
        """Gets `keys` pipelined on the TCP connection (one round trip, not
        one transaction): a list of values, None for missing keys. Resent
        as a whole like a get (see KvClient)."""
        if self.udp:
            return [self.get(k) for k in keys]
        reqs = [self._numbered(get=kv_pb2.Get(key=_bytes(k, "key"))) for k in keys]
        replies = self.conn.call_many([q.SerializeToString() for q in reqs], retry=self.retry)
        out = []
        for i, (q, payload) in enumerate(zip(reqs, replies)):
            r = self._parse(payload, q)
            if r.status == Status.NOT_FOUND:
                out.append(None)
            else:
                _check(r, i)
                out.append(r.value)
        return out
