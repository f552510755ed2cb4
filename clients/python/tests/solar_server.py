"""Starts a real solar server for a test: a config in a temp dir, the ready
line read from its stderr, SIGTERM to its pid at the end.

$SOLAR_BIN names the server binary (run_tests.sh requires it).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import unittest

READY = re.compile(r"ready: listening on (\S+):(\d+) with")
UDP = re.compile(r"udp on (\S+):(\d+) ")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


def solar_bin():
    path = os.environ.get("SOLAR_BIN")
    if not path:
        raise unittest.SkipTest("SOLAR_BIN is not set (the solar server binary)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"SOLAR_BIN={path} is not an executable")
    return os.path.abspath(path)


def free_port():
    """A TCP port nothing listens on now (bound to port 0, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SolarServer:
    """One solar master and its children. `port` 0 picks a free port; the
    actual one is `self.port` after start()."""

    def __init__(self, worker, *, port=0, workers=2, udp=False, extra=""):
        self.worker = worker
        self.port = port
        self.workers = workers
        self.udp = udp
        self.extra = extra
        self.udp_port = None
        self.proc = None
        self.dir = None
        self._lines = []
        self._ready = threading.Event()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        # As root the children run as nobody: the state dir's parents must be
        # searchable by it (mkdtemp makes 0700).
        self.dir = tempfile.mkdtemp(prefix="solar-py-")
        os.chmod(self.dir, 0o755)
        conf = os.path.join(self.dir, "solar.conf")
        with open(conf, "w") as f:
            f.write(f'listen: "127.0.0.1:{self.port}"\n'
                    f'admin_listen: "127.0.0.1:0"\n'
                    f'pid_file: "{self.dir}/solar.pid"\n'
                    f'state_dir: "{self.dir}/state"\n'
                    f'workers: {self.workers}\n'
                    f'cpu_affinity: false\n'
                    f'graceful_timeout_ms: 5000\n'
                    f'worker {{ name: "{self.worker}" }}\n'
                    + ('udp { listen: "127.0.0.1:0" workers: 1 }\n' if self.udp else "")
                    + self.extra)
        self.proc = subprocess.Popen([solar_bin(), "-c", conf], cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if not self._ready.wait(START_TIMEOUT) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"solar did not get ready within {START_TIMEOUT:g} s:\n{self.log()}")
        return self

    def _read_log(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace")
            self._lines.append(line)
            m = READY.search(line)
            if m:
                self.port = int(m.group(2))
                u = UDP.search(line)
                self.udp_port = int(u.group(2)) if u else None
                self._ready.set()
        self._ready.set()  # exited: start() notices

    def log(self):
        return "".join(self._lines[-40:])

    def stop(self):
        """SIGTERM to the master (a graceful stop), then wait for it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            self._reader.join(5)  # EOF once the children are gone too
            self.proc.stderr.close()
            self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

