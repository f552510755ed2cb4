#!/usr/bin/python3
"""KV get requests per second from one process over one connection.

    kv_get_rate.py [--pipeline N] [--value-bytes N] HOST PORT SECONDS

Puts one key, then gets it for SECONDS seconds over one TCP connection to a
running solar serving builtin:kv, and prints the rate. Each get waits for
its reply (round-trip bound) unless --pipeline N sends N gets per round trip
(KvClient.get_many). From the source tree, after clients/python/build.sh:

    PYTHONPATH=clients/python /usr/bin/python3 clients/python/examples/kv_get_rate.py 127.0.0.1 7700 5
"""
import argparse
import sys
import time

from solar_client import KvClient, SolarError


def main():
    ap = argparse.ArgumentParser(description="KV gets/s over one connection for SECONDS seconds")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("seconds", type=float)
    ap.add_argument("--pipeline", type=int, default=1, metavar="N",
                    help="gets per round trip (default 1: one get, one reply, the next get)")
    ap.add_argument("--value-bytes", type=int, default=100, metavar="N", help="size of the value read")
    ap.add_argument("--key", default="kv_get_rate:key", help="the key written, then read")
    args = ap.parse_args()
    if args.seconds <= 0 or args.pipeline < 1:
        ap.error("SECONDS must be > 0 and --pipeline >= 1")
    key = args.key.encode()
    value = b"v" * args.value_bytes
    try:
        with KvClient(args.host, args.port, connect_timeout=2, timeout=5) as kv:
            kv.put(key, value)
            n = 0
            start = time.perf_counter()
            end = start + args.seconds
            if args.pipeline == 1:
                while time.perf_counter() < end:
                    for _ in range(100):  # check the clock every 100 gets
                        if kv.get(key) != value:
                            sys.exit("kv_get_rate: the key changed under the test")
                    n += 100
            else:
                keys = [key] * args.pipeline
                while time.perf_counter() < end:
                    if kv.get_many(keys) != [value] * args.pipeline:
                        sys.exit("kv_get_rate: the key changed under the test")
                    n += args.pipeline
            elapsed = time.perf_counter() - start
    except SolarError as e:
        sys.exit(f"kv_get_rate: {args.host}:{args.port}: {type(e).__name__}: {e}")
    print(f"{n} gets in {elapsed:.2f} s over 1 connection (pipeline {args.pipeline}): "
          f"{n / elapsed:.0f} gets/s, {elapsed / n * 1e6:.1f} us per get")


if __name__ == "__main__":
    main()
