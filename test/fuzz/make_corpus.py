#!/usr/bin/env python3
"""Writes the seed corpora, test/fuzz/corpus/<target>/, and config_fuzz.dict.

A handful of small valid inputs per target (and a few near misses), in each
target's input format (see the comment at the top of each *_fuzz.cc). The
output is committed; run this again after changing a format:
    python3 test/fuzz/make_corpus.py
"""
import os
import re
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")

AF_INET, AF_INET6 = 2, 10


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# ---- ipc records (src/ipc/record.h) ----
OPEN, DATA, CLOSE, REPLY, HELLO, LOST = 1, 2, 3, 4, 5, 6
FIRST, MORE, NOREPLY, CLOSEAFTER, OVERFLOW = 1, 2, 4, 8, 16


def record(rtype, payload=b"", flags=FIRST, listener=0, conn=1, gen=1, seq=0, total=None, offset=0,
           family=AF_INET, port=40000, addr=b"\x7f\x00\x00\x01"):
    total = len(payload) if total is None else total
    h = struct.pack("<HBBHHIIQIIIHBB16s", 0x534C, 1, rtype, flags, listener, conn, gen, seq, len(payload), total,
                    offset, port, family, 0, addr.ljust(16, b"\0"))
    assert len(h) == 56
    raw = h + payload
    return raw + b"\0" * (-len(raw) % 8)


def chunks(message, size, **kw):
    out = b""
    for off in range(0, len(message), size):
        part = message[off:off + size]
        flags = (FIRST if off == 0 else 0) | (MORE if off + size < len(message) else 0)
        out += record(DATA, part, flags=flags, total=len(message), offset=off, **kw)
    return out


def records():
    limits = b"\x03"  # 4 listeners, 4 MiB messages
    write("record_fuzz", "data_v4", limits + record(DATA, b"hello"))
    write("record_fuzz", "open_data_close", limits + record(OPEN) + record(DATA, b"get k", seq=0) + record(CLOSE))
    write("record_fuzz", "data_v6", limits + record(DATA, b"x" * 13, family=AF_INET6, addr=b"\0" * 15 + b"\1",
                                                   listener=2))
    write("record_fuzz", "reply_flags", limits + record(REPLY, b"ok", flags=FIRST | CLOSEAFTER, seq=3) +
          record(REPLY, b"", flags=FIRST | NOREPLY, seq=4))
    write("record_fuzz", "chunked", limits + chunks(b"abcdefghijklmnopqrstuvwxyz", 10, seq=7))
    write("record_fuzz", "worker_lost", limits + record(LOST, struct.pack("<IIQ", 1, 1, 0) * 2, conn=0, listener=9,
                                                        family=0, addr=b"", port=0))
    write("record_fuzz", "hello", limits + record(HELLO, gen=5, family=0, addr=b"", port=0))
    write("record_fuzz", "unpadded_last", limits + record(DATA, b"abc")[:56 + 3])
    write("record_fuzz", "bad_magic", limits + b"\x00" + record(DATA, b"hello")[1:])

    write("reassembler_fuzz", "whole", record(DATA, b"whole message"))
    write("reassembler_fuzz", "chunked", chunks(b"0123456789" * 3, 8, seq=1))
    write("reassembler_fuzz", "interleaved",
          b"".join(a + b for a, b in zip([record(DATA, b"aaaa", flags=FIRST | MORE, total=8, conn=1),
                                          record(DATA, b"AAAA", flags=0, total=8, offset=4, conn=1)],
                                         [record(DATA, b"bbbb", flags=FIRST | MORE, total=8, conn=2),
                                          record(DATA, b"BBBB", flags=0, total=8, offset=4, conn=2)])))
    write("reassembler_fuzz", "restart_discards",
          record(DATA, b"aaaa", flags=FIRST | MORE, total=8, seq=1) + record(DATA, b"new", seq=2))
    write("reassembler_fuzz", "orphan", record(DATA, b"tail", flags=0, total=8, offset=4))
    write("reassembler_fuzz", "close_takes",
          record(OPEN) + record(DATA, b"aaaa", flags=FIRST | MORE, total=8) + record(CLOSE))
    write("reassembler_fuzz", "hello_takes",
          record(DATA, b"aaaa", flags=FIRST | MORE, total=8, listener=1) + record(HELLO, listener=1))
    write("reassembler_fuzz", "replies", record(REPLY, b"r1", seq=0) +
          record(REPLY, b"r2..", flags=FIRST | MORE, total=6, seq=1) + record(REPLY, b"..", flags=0, total=6, offset=4,
                                                                              seq=1))


# ---- framers (src/listener/framer.h) ----
def framers():
    def head(max_frame, seed=7):
        return struct.pack("<HB", max_frame - 1, seed)

    def f32(p):
        return struct.pack(">I", len(p)) + p

    write("frame32_fuzz", "two_frames", head(1024) + f32(b"hello") + f32(b""))
    write("frame32_fuzz", "partial", head(1024) + f32(b"complete") + f32(b"partial")[:7])
    write("frame32_fuzz", "too_large", head(16) + f32(b"x" * 17))
    write("frame32_fuzz", "exact_max", head(8, 1) + f32(b"12345678") + f32(b"1"))
    write("line_fuzz", "lines", head(1024) + b"get a\nput b c\r\n\n")
    write("line_fuzz", "partial", head(1024) + b"whole line\nno newline yet")
    write("line_fuzz", "too_large", head(8) + b"123456789\n")
    write("line_fuzz", "cr_at_max", head(8, 3) + b"12345678\r\n12345678\r")
    write("raw_fuzz", "bytes", head(1024) + b"anything at all\n\0\xff")
    write("raw_fuzz", "over_max", head(4, 9) + b"0123456789")


# ---- UDP queue messages (src/ipc/msg_queue.h) ----
def udp():
    def msg(payload, family=AF_INET, addr=b"\x7f\x00\x00\x01", port=5353):
        return struct.pack("<IIHB5x16s", 0x55445031, len(payload), port, family, addr.ljust(16, b"\0")) + payload

    write("udp_message_fuzz", "v4", msg(b"ping"))
    write("udp_message_fuzz", "v6", msg(b"ping6", AF_INET6, b"\x20\x01\x0d\xb8" + b"\0" * 11 + b"\1"))
    write("udp_message_fuzz", "empty_payload", msg(b""))
    write("udp_message_fuzz", "length_mismatch", msg(b"ping")[:-1])


# ---- config (src/config/config.h) ----
def config():
    with open(os.path.join(ROOT, "etc", "solar.conf")) as f:
        write("config_fuzz", "defaults", f.read())
    write("config_fuzz", "small", 'listen: "127.0.0.1:7800"\nworkers: 4\nprotocol: LINE\ndispatch: LEAST_CONNECTIONS\n')
    write("config_fuzz", "udp", 'udp { listen: "127.0.0.1:7801" workers: 2 queue_bytes: 4194304 '
                                'max_datagram_bytes: 65507 }\n')
    # builtin:kv's settings: the worker's settings map, keys named after proto/kv_config.proto's fields.
    kv_worker = lambda *pairs: 'worker {\n  name: "builtin:kv"\n' + "".join(
        '  settings { key: "%s" value: "%s" }\n' % (k, v.replace('"', '\\"')) for k, v in pairs) + "}\n"
    write("config_fuzz", "kv_postgres", kv_worker(("backend", "postgres"),
                                                  ("postgres_dsn", "host=127.0.0.1 dbname=app user=solar "
                                                                   "password='s3cret pw'"),
                                                  ("table", "kv_items"), ("max_key_bytes", "256")))
    write("config_fuzz", "kv_uri", kv_worker(("backend", "POSTGRES"),
                                             ("postgres_dsn", "postgresql://solar:hunter22@db:5432/app?connect_timeout=2")))
    # A finding (test/unit/fuzz_regressions_test.cc): the password keyword percent-encoded in a URI's query.
    write("config_fuzz", "regression_uri_password", kv_worker(("backend", "postgres"),
                                                              ("postgres_dsn",
                                                               "postgresql://db/app?passw%6Frd=hunter2222")))
    write("config_fuzz", "kv_bad_settings", kv_worker(("backend", "mysql"), ("max_key_bytes", "1k"),
                                                      ("postgres_dns", "host=db")))
    # The retired `kv` section, refused with a migration hint.
    write("config_fuzz", "kv_retired", 'kv { backend: POSTGRES postgres_dsn: "host=db" }\n')
    write("config_fuzz", "worker_module", 'worker { module: "build/libecho.so" watch: true '
                                          'settings { key: "greeting" value: "hi" } }\nmax_workers: 32\n')
    write("config_fuzz", "bad_enum", "protocol: HTTP\n")
    write("config_fuzz", "bad_value", "workers: 0\n")
    write("config_fuzz", "ipv6_admin", 'listen: "[::1]:0"\nadmin_listen: "[::1]:7702"\n')

    # The dictionary: every field and enum value name of the schema and of builtin:kv's settings.
    proto = ""
    for name in ("config.proto", "kv_config.proto"):
        with open(os.path.join(ROOT, "proto", name)) as f:
            proto += re.sub(r"//.*", "", f.read())
    words = sorted(set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*=\s*\d+\s*;", proto)) |
                   set(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=\s*\d+\s*;", proto)))
    words += ["{", "}", ":", "\"", "true", "false", "127.0.0.1:", "[::1]:", "builtin:", "password=", "host=",
              "postgresql://", "dbname=", "?", "&", "%", "#", "\\n", "key", "value", "kv", "postgres", "sqlite"]
    with open(os.path.join(HERE, "config_fuzz.dict"), "w") as f:
        f.write("# Field and enum names of proto/config.proto and proto/kv_config.proto, and a few tokens; "
                "made by make_corpus.py.\n")
        for w in words:
            f.write('"%s"\n' % w.replace("\\", "\\\\").replace('"', '\\"'))


# ---- KV requests (proto/kv.proto), hand-encoded ----
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num, value):
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    value = value.encode() if isinstance(value, str) else value
    return varint(num << 3 | 2) + varint(len(value)) + value


def kv():
    get = lambda k, i=1: field(1, i) + field(2, field(1, k))
    put = lambda k, v, i=2: field(1, i) + field(3, field(1, k) + field(2, v))
    dele = lambda k, i=3: field(1, i) + field(4, field(1, k))
    scan = lambda p, limit=0, after="", keys_only=0, i=4: field(1, i) + field(5, field(1, p) + (
        field(2, limit) if limit else b"") + (field(3, after) if after else b"") + (field(4, 1) if keys_only else b""))
    op = lambda n, body: field(1, field(n, body))
    batch = lambda ops, i=5: field(1, i) + field(6, b"".join(ops))

    def requests(mode, *reqs, fail=0):
        return bytes([mode, fail]) + b"".join(struct.pack(">H", len(r)) + r for r in reqs)

    write("kv_request_fuzz", "put_get_del", requests(0, put("k", "v"), get("k"), dele("k"), get("k")))
    write("kv_request_fuzz", "scan", requests(0, put("user:1", "a"), put("user:2", "b"), put("uses", "c"),
                                              scan("user:", 1), scan("user:", 0, "user:1"), scan("", keys_only=1)))
    write("kv_request_fuzz", "batch", requests(0, batch([op(2, field(1, "a") + field(2, "1")), op(1, field(1, "a")),
                                                          op(3, field(1, "zz")), op(4, field(1, "a"))])))
    write("kv_request_fuzz", "small_limits", requests(4 | 3, put("k" * 17, "v"), put("k", "v" * 300),
                                                      scan("", 9), batch([op(1, field(1, "k"))] * 5)))
    write("kv_request_fuzz", "udp_budget", requests(1, put("big", "v" * 2000), get("big"), scan("b")))
    write("kv_request_fuzz", "failing_store", requests(8, put("k", "v"), get("k"), get("k"), put("k", "w"),
                                                       batch([op(2, field(1, "x") + field(2, "y"))]), get("x"),
                                                       fail=0x5A))
    write("kv_request_fuzz", "malformed", requests(0, b"\xff\xff\xff", b"", field(1, 9)))
    write("kv_request_fuzz", "high_bytes", requests(0, put(b"\xff\xff", b"\x00"), put(b"\xff", b"1"),
                                                    scan(b"\xff"), scan(b"\xff\xff")))


# ---- admin requests (src/admin/admin_http.h) ----
def admin():
    for name, data in [("metrics", b"\x01/metrics"), ("status", b"\x01/status"), ("query", b"\x01/status?x=1#f"),
                       ("absolute", b"\x01http://127.0.0.1:7702/metrics"), ("not_found", b"\x01/"),
                       ("post", b"\x00/metrics"), ("odd", b"\x01//%2e%2e/status;x")]:
        write("admin_request_fuzz", name, data)


if __name__ == "__main__":
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    records()
    framers()
    udp()
    config()
    kv()
    admin()
