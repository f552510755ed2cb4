#!/usr/bin/env python3
"""The cluster test: the deployment of deploy/ (two solar hosts behind HAProxy,
PostgreSQL made highly available by Patroni over etcd) under load, with real
failures. solar-bench drives the KV service through HAProxy, keeping a ledger
of every put solar acknowledged, while the test

  1. measures throughput through HAProxy with two solar hosts and with one;
  2. restarts every solar host in turn (drain, wait until HAProxy has moved
     away, stop, start): no request may fail;
  3. kills -9 one solar host: only the requests in flight on its connections
     may fail, the load carries on on the other host, and the host rejoins
     when it is started again;
  4. kills -9 the PostgreSQL primary's postmaster: Patroni promotes the
     synchronous standby and writes succeed again within a bounded time;
  5. waits until the old primary has rejoined as the synchronous standby,
     reads every acknowledged put back, switches the primary back to the old
     one and reads them all back again: 0 acknowledged writes may be lost;
  6. tears the cluster down and checks that nothing is left running.

Run by `make test` (mk/build.mk, cluster-test). Exits 0 with a SKIP line when
an engine is not installed (deploy/cluster.sh exit status 3) or when not run
as root; 1 on any failed check. Prints the figures; with CLUSTER_FIGURES=FILE
also writes them as JSON.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build"))
SOLAR = os.path.abspath(os.environ.get("SOLAR_BIN", os.path.join(BUILD, "solar")))
BENCH = os.path.abspath(os.environ.get("SOLAR_BENCH", os.path.join(BUILD, "solar-bench")))
SOLARCTL = os.path.abspath(os.environ.get("SOLARCTL", os.path.join(BUILD, "solarctl")))
CLUSTER = os.path.join(ROOT, "deploy", "cluster.sh")

FRONTEND = "127.0.0.20:7700"
STATS = "http://127.0.0.20:8404/;csv"
PG_ADDR = {1: "127.0.0.11", 2: "127.0.0.12"}
SOLAR_ADMIN = {"a": "127.0.0.21:7702", "b": "127.0.0.22:7702"}
CONNECTIONS = 16

failures = []
figures = {}


def log(message):
    print(f"cluster-test: {message}", flush=True)


def check(ok, what):
    log(("ok      " if ok else "FAILED  ") + what)
    if not ok:
        failures.append(what)
    return ok


def http_code(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def http_text(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode()
    except OSError:
        return ""


def wait_for(predicate, seconds, what):
    """Seconds it took until predicate() held; raises after `seconds`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > seconds:
            raise TimeoutError(f"{what}: not within {seconds} s")
        time.sleep(0.1)
    return time.monotonic() - start


def haproxy_state(host):
    for line in http_text(STATS).splitlines():
        fields = line.split(",")
        if len(fields) > 17 and fields[0] == "solar" and fields[1] == host:
            return fields[17].split(" ")[0]
    return ""


def cluster(*args, check_rc=True):
    r = subprocess.run([CLUSTER, *args], env={**os.environ, "SOLAR_BIN": SOLAR}, capture_output=True, text=True,
                       timeout=240)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"deploy/cluster.sh {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r


def read_pid(path):
    with open(path) as f:
        return int(f.readline().strip())


class Bench:
    """solar-bench through HAProxy in the background, with a timeline."""

    def __init__(self, directory, name, seconds, *extra):
        self.json = os.path.join(directory, f"{name}.json")
        self.timeline = os.path.join(directory, f"{name}.timeline")
        self.out = open(os.path.join(directory, f"{name}.out"), "w")
        self.proc = subprocess.Popen(
            [BENCH, "--workload", "kv", "-c", str(CONNECTIONS), "-t", "2", "-s", "100", "-d", f"{seconds}s",
             "--json", self.json, "--timeline", self.timeline, *extra, FRONTEND],
            stdout=self.out, stderr=subprocess.STDOUT)
        self.seconds = seconds

    def finish(self):
        self.proc.wait(timeout=self.seconds + 60)
        self.out.close()
        with open(self.json) as f:
            return json.load(f)

    def samples(self):
        """[(wall_ms, answered, errors)] every 100 ms."""
        out = []
        with open(self.timeline) as f:
            for line in f:
                wall, _, answered, errors = (int(x) for x in line.split())
                out.append((wall, answered, errors))
        return out


def longest_stall_ms(samples, after_ms):
    """The longest time after `after_ms` in which no request succeeded."""
    longest, last_progress = 0, None
    previous = None
    for wall, answered, _ in samples:
        if previous is not None and wall >= after_ms:
            if last_progress is None:
                last_progress = previous[0]
            if answered > previous[1]:
                longest = max(longest, wall - last_progress)
                last_progress = wall
        previous = (wall, answered)
    return longest


def last_error_ms(samples):
    """When the error count last went up, or None."""
    last = None
    for (_, _, e0), (wall, _, e1) in zip(samples, samples[1:]):
        if e1 > e0:
            last = wall
    return last


def worker_requests(host):
    total = 0
    for m in re.finditer(r'^solar_requests_total\{role="worker"[^}]*\} (\d+)$',
                         http_text(f"http://{SOLAR_ADMIN[host]}/metrics"), re.M):
        total += int(m.group(1))
    return total


def primary():
    for n, addr in PG_ADDR.items():
        if http_code(f"http://{addr}:8008/primary") == 200:
            return n
    return None


def check_ledger(directory, name, ledgers, what):
    merged = os.path.join(directory, f"{name}.ledger")
    count = 0
    with open(merged, "w") as out:
        for path in ledgers:
            with open(path) as f:
                for line in f:
                    out.write(line)
                    count += 1
    r = subprocess.run([BENCH, "--workload", "kv", "--kv-check-ledger", merged, "-c", str(CONNECTIONS), "-t", "2",
                        "--json", "-", FRONTEND], capture_output=True, text=True, timeout=300)
    result = json.loads(r.stdout)
    lost = result["errors"]["total"]
    check(result["requests"] == count and lost == 0,
          f"{what}: {count} acknowledged puts read back, {lost} missing or wrong")
    return count, lost


def solarctl(host, directory, *args):
    return subprocess.run([SOLARCTL, "-c", os.path.join(directory, f"solar-{host}", "solar.conf"), *args],
                          capture_output=True, text=True, timeout=60)


def throughput(directory):
    two = Bench(directory, "two-hosts", 5, "--kv-get-ratio", "0.9").finish()
    solarctl("b", directory, "drain")
    wait_for(lambda: haproxy_state("b") == "DOWN", 10, "HAProxy marks the drained host b down")
    one = Bench(directory, "one-host", 5, "--kv-get-ratio", "0.9").finish()
    solarctl("b", directory, "stop")
    cluster("start-solar", "b", directory)
    wait_for(lambda: haproxy_state("b") == "UP", 10, "host b back in HAProxy")
    check(two["errors"]["total"] == 0 and one["errors"]["total"] == 0, "throughput runs: no failed request")
    figures["rate_two_hosts"] = round(two["requests_per_second"])
    figures["rate_one_host"] = round(one["requests_per_second"])
    log(f"throughput through HAProxy, 90% gets: two hosts {figures['rate_two_hosts']}/s, "
        f"one host {figures['rate_one_host']}/s (both hosts share this machine's cores)")


def rolling_restart(directory):
    bench = Bench(directory, "rolling", 30, "--kv-get-ratio", "0.5", "--retry")
    time.sleep(3)
    for host in ("a", "b"):
        old = read_pid(os.path.join(directory, f"solar-{host}", "pid"))
        solarctl(host, directory, "drain")
        wait_for(lambda: haproxy_state(host) == "DOWN", 10, f"HAProxy moves away from drained host {host}")
        solarctl(host, directory, "stop")
        cluster("start-solar", host, directory)
        wait_for(lambda: haproxy_state(host) == "UP", 10, f"host {host} back in HAProxy")
        check(read_pid(os.path.join(directory, f"solar-{host}", "pid")) != old, f"host {host} restarted")
    result = bench.finish()
    figures["rolling_restart_failed"] = result["errors"]["total"]
    figures["rolling_restart_resent"] = result["retry"]["resent"]
    check(result["errors"]["total"] == 0 and result["requests"] > 0,
          f"rolling restart of both hosts under load: {result['requests']} requests, "
          f"{result['errors']['total']} failed ({result['retry']['resent']} resent after a graceful close)")


def kill_solar_host(directory, ledgers):
    bench = Bench(directory, "kill-host", 14, "--kv-get-ratio", "0.5", "--kv-ledger",
                  os.path.join(directory, "kill-host.ledger"))
    ledgers.append(os.path.join(directory, "kill-host.ledger"))
    time.sleep(4)
    killed_ms = int(time.time() * 1000)
    os.kill(read_pid(os.path.join(directory, "solar-a", "pid")), signal.SIGKILL)
    down = wait_for(lambda: haproxy_state("a") == "DOWN", 10, "HAProxy marks the killed host down")
    result = bench.finish()
    samples = bench.samples()
    failed = result["errors"]["total"]
    stall = longest_stall_ms(samples, killed_ms)
    after = [s for s in samples if s[0] > killed_ms + 2000]
    figures["kill_host_failed"] = failed
    figures["kill_host_longest_stall_ms"] = stall
    figures["kill_host_marked_down_s"] = round(down, 2)
    check(failed <= CONNECTIONS,
          f"kill -9 of host a: {failed} failed (at most one per connection, {CONNECTIONS} connections)")
    check(stall < 3000 and len(after) > 1 and after[-1][1] > after[0][1],
          f"the load carried on on host b (longest time without a reply {stall} ms)")
    before = worker_requests("b")
    cluster("start-solar", "a", directory)
    rejoin = wait_for(lambda: haproxy_state("a") == "UP", 15, "host a back in HAProxy")
    figures["kill_host_rejoin_s"] = round(rejoin, 2)
    served_before = worker_requests("a")
    Bench(directory, "after-rejoin", 3, "--kv-get-ratio", "0.9").finish()
    check(worker_requests("a") > served_before and worker_requests("b") > before,
          "the restarted host a serves again, beside b")


def kill_primary(directory, ledgers):
    old = primary()
    if not check(old in (1, 2), "one PostgreSQL node is the primary"):
        return
    standby = 3 - old
    ledger = os.path.join(directory, "failover.ledger")
    ledgers.append(ledger)
    bench = Bench(directory, "failover", 30, "--kv-get-ratio", "0.5", "--kv-ledger", ledger, "--timeout", "5s")
    time.sleep(5)
    postmaster = read_pid(os.path.join(directory, f"pg{old}", "data", "postmaster.pid"))
    killed_ms = int(time.time() * 1000)
    killed = time.monotonic()
    os.kill(postmaster, signal.SIGKILL)
    promoted = wait_for(lambda: primary() == standby, 60, f"pg{standby} promoted")
    # Patroni brings the old primary back by itself, as a standby (pg_rewind
    # if needed), while the load goes on.
    wait_for(lambda: http_code(f"http://{PG_ADDR[old]}:8008/sync") == 200, 90,
             f"pg{old} back as the synchronous standby")
    rejoin = time.monotonic() - killed
    result = bench.finish()
    samples = bench.samples()
    last_error = last_error_ms(samples)
    recovery = (last_error - killed_ms) if last_error and last_error > killed_ms else 0
    figures["failover_failed"] = result["errors"]["total"]
    figures["failover_promoted_s"] = round(promoted, 2)
    figures["failover_writes_back_ms"] = recovery
    figures["failover_answered"] = result["requests"]
    check(recovery < 30000 and samples[-1][1] > samples[-10][1],
          f"kill -9 of pg{old}'s postmaster: pg{standby} promoted after {promoted:.1f} s, KV requests succeed "
          f"again {recovery} ms after the kill ({result['errors']['total']} answered UNAVAILABLE meanwhile)")
    figures["old_primary_rejoined_s"] = round(rejoin, 2)
    log(f"pg{old} was back as the synchronous standby {rejoin:.1f} s after the kill")
    count, lost = check_ledger(directory, "after-failover", ledgers, f"after the failover (primary pg{standby})")
    figures["acknowledged_writes"] = count
    figures["acknowledged_writes_lost"] = lost
    # The rejoined old primary must hold every write too: make it the primary again.
    r = subprocess.run(["patronictl", "-c", os.path.join(directory, f"pg{standby}", "patroni.yml"), "switchover",
                        "--leader", f"pg{standby}", "--candidate", f"pg{old}", "--force"],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"switchover back to pg{old}" + ("" if r.returncode == 0 else ": " + r.stderr[-500:]))
    wait_for(lambda: primary() == old, 60, f"pg{old} primary again")
    wait_for(lambda: probe_put(), 30, "KV writes through HAProxy after the switchover")
    _, lost_back = check_ledger(directory, "after-switchover", ledgers, f"after the switchover back to pg{old}")
    figures["acknowledged_writes_lost"] += lost_back


def probe_put():
    r = subprocess.run([BENCH, "--workload", "kv", "--kv-get-ratio", "0", "-c", "1", "-n", "20", "--json", "-",
                        FRONTEND], capture_output=True, text=True, timeout=60)
    try:
        return json.loads(r.stdout)["errors"]["total"] == 0
    except ValueError:
        return False


def leftovers(directory):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if directory in cmdline and "cluster_test" not in cmdline:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


def main():
    if os.geteuid() != 0:
        log("SKIP: needs root (each engine runs as its own user)")
        return 0
    for binary in (SOLAR, BENCH, SOLARCTL):
        if not os.access(binary, os.X_OK):
            log(f"FAILED: {binary} is missing (build first)")
            return 1
    directory = tempfile.mkdtemp(prefix="solar-cluster-test-")
    started = time.monotonic()
    r = cluster("up", directory, check_rc=False)
    if r.returncode == 3:
        log(f"SKIP: {r.stderr.strip()}")
        os.rmdir(directory)
        return 0
    try:
        if r.returncode != 0:
            raise RuntimeError(f"deploy/cluster.sh up failed: {r.stderr[-3000:]}")
        figures["cluster_up_s"] = round(time.monotonic() - started, 1)
        log(f"cluster up in {figures['cluster_up_s']} s ({directory})")
        ledgers = []
        throughput(directory)
        rolling_restart(directory)
        kill_solar_host(directory, ledgers)
        kill_primary(directory, ledgers)
    except Exception as e:  # a phase that could not finish: the rest cannot run either
        check(False, f"{type(e).__name__}: {e}")
        for name in ("solar-a/solar.out", "solar-b/solar.out", "haproxy/haproxy.log"):
            path = os.path.join(directory, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    log(f"--- {name} (end) ---\n" + f.read()[-1500:])
    finally:
        cluster("down", directory, check_rc=False)
    left = leftovers(directory)
    check(not left and not os.path.exists(directory), "torn down: nothing left running, nothing left on disk"
          + ("" if not left else ": " + "; ".join(left)))
    figures["total_s"] = round(time.monotonic() - started, 1)
    log("figures: " + json.dumps(figures, sort_keys=True))
    if os.environ.get("CLUSTER_FIGURES"):
        with open(os.environ["CLUSTER_FIGURES"], "w") as f:
            json.dump(figures, f, indent=2, sort_keys=True)
    if failures:
        log(f"{len(failures)} check(s) FAILED")
        return 1
    log("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
