"""Building blocks that bench/bench.py and its scenario modules share.

They are the errors that end a scenario, the child processes, readings of
/proc, the servers under test (event-issuer and nginx) and Run, one
measured run. bench/kafka_bench.py and bench/validation_bench.py import
them from here, and each scenario gets the Bench object of bench.py as its
argument for the settings and the measuring methods.
"""

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX_TEMPLATE = ROOT / "bench" / "nginx.conf.in"
HELPERS = ROOT / "build" / "bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LISTEN_LINE = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")


class BenchError(Exception):
    """A scenario cannot go on; the report shows the message."""


class SkipScenario(Exception):
    """A scenario whose prerequisites are missing."""


def env_number(name, default, kind=float):
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return kind(text)
    except ValueError:
        raise SystemExit(f"bench: {name}={text!r} is not a number")


# ---- Processes --------------------------------------------------------------

class Processes:
    """Every child process this program starts, so that all of them stop.

    The pid file lists the live ones for bench/run.sh, whose EXIT trap stops
    whatever is left if this program dies without cleaning up."""

    def __init__(self, pid_file):
        self.pid_file = pid_file
        self.live = []

    def _write(self):
        self.pid_file.write_text("".join(f"{proc.pid}\n" for proc in self.live))

    def spawn(self, cmd, **kwargs):
        proc = subprocess.Popen([str(part) for part in cmd], **kwargs)
        self.live.append(proc)
        self._write()
        return proc

    def forget(self, proc):
        if proc in self.live:
            self.live.remove(proc)
            self._write()

    def stop(self, proc, timeout=20.0):
        """Sends SIGTERM, waits up to timeout seconds, then sends SIGKILL."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"bench: pid {proc.pid} did not stop within {timeout:.0f} s; killing it",
                      file=sys.stderr)
                proc.kill()
                proc.wait()
        self.forget(proc)

    def stop_all(self):
        for proc in list(self.live):
            self.stop(proc, timeout=5.0)

    def run(self, cmd, stderr, env=None, timeout=None):
        """Runs cmd to its end with stdin from /dev/null and returns its
        Finished. stderr is passed on to Popen. The process is killed after
        timeout seconds, if given, and stopped when this call is interrupted."""
        started = time.monotonic()
        proc = self.spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=stderr, env=env)
        timer = threading.Timer(timeout, proc.kill) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            output = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if timer is not None:
                timer.cancel()
            proc.stdout.close()
            self.stop(proc)
        return Finished(proc.returncode, output, usage, time.monotonic() - started)


@dataclass
class Finished:
    """A child process that Processes.run ran to its end."""
    returncode: int
    output: bytes
    usage: object   # its resource.struct_rusage, from os.wait4
    seconds: float  # wall time from start to exit

    @property
    def cpu_seconds(self):
        """User + system CPU seconds of the process."""
        return self.usage.ru_utime + self.usage.ru_stime


def cpu_seconds(pid):
    """User + system CPU seconds of every thread of pid so far."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kb(pid, name):
    """Returns a kB value of /proc/PID/status, such as VmRSS or VmHWM."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {name}")


def busy_cpu_seconds():
    """CPU seconds that all CPUs together have spent not idle since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(port, path, timeout=1.0):
    """Returns the status of GET path on 127.0.0.1:port, or None when the
    connection is refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                         .encode())
            head = sock.recv(64)
            return int(head.split()[1]) if head.startswith(b"HTTP/1.") else 0
    except ConnectionRefusedError:
        return None


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.002)
    raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")


# ---- Servers ---------------------------------------------------------------

class Product:
    """One event-issuer server on a fresh data folder, pinned to the server CPU.

    With auth, the folder gets tenant "bench" with principal "p", a produce
    grant for every type and an API key, as an operator would set it up."""

    def __init__(self, bench, auth, extra_args=(), all_cpus=False):
        self.bench = bench
        self.auth = auth
        self.label = "event-issuer" + (" (API key" if auth else " (no auth") \
            + (", all CPUs)" if all_cpus else ")")
        self.data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=bench.settings.work_dir))
        self.log_path = bench.log_dir / f"{self.data_dir.name}.log"
        self.key = self._create_key() if auth else None

        cpus = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0))) if all_cpus \
            else str(bench.settings.server_cpu)
        cmd = ["taskset", "-c", cpus, bench.settings.binary, "serve",
               "--listen", "127.0.0.1:0", "--data", self.data_dir, *bench.product_args,
               *extra_args]
        if not auth:
            cmd.append("--insecure-no-auth")
        with open(self.log_path, "wb") as log:
            self.proc = bench.procs.spawn(cmd, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=log)
        self.pids = [self.proc.pid]
        self.port = None
        try:
            wait_until(self._read_port, 15, f"{self.label} to listen (log {self.log_path})")
        except BenchError:
            self.stop()
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise

    def _admin(self, *args):
        result = subprocess.run([self.bench.settings.binary, *args, "--data", self.data_dir],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise BenchError(f"event-issuer {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def _create_key(self):
        self._admin("tenant", "create", "bench")
        self._admin("principal", "create", "bench", "p")
        self._admin("policy", "grant", "bench", "p", "produce", "*")
        return self._admin("key", "create", "bench", "p").strip().splitlines()[-1]

    def _read_port(self):
        if self.proc.poll() is not None:
            raise BenchError(f"{self.label} exited with status {self.proc.returncode}; "
                             f"see {self.log_path}")
        match = LISTEN_LINE.search(self.log_path.read_bytes())
        if match:
            self.port = int(match.group(1))
        return match is not None

    def stored_events(self):
        """Events in the log by `event-issuer log topics`; None when that
        command fails. Call after stop."""
        result = subprocess.run([self.bench.settings.binary, "log", "topics", "--data",
                                 self.data_dir], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            return None
        return sum(int(line.split()[-1]) for line in result.stdout.splitlines() if line.strip())

    def log_problems(self):
        """WARN and ERROR lines of the server log, except the start-up
        warning of --insecure-no-auth and connections that wrk closed with a
        request under way at the end of a run."""
        problems = []
        with open(self.log_path, "rb") as log:
            for line in log:
                if b" INFO " in line[:40] or b"AUTHENTICATION IS OFF" in line:
                    continue
                if b"connection closed before the response was sent" in line:
                    continue
                problems.append(line.decode(errors="replace").rstrip())
        return problems

    def stop(self):
        self.bench.procs.stop(self.proc, timeout=60)

    def cleanup(self):
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)


class Nginx:
    """nginx with one worker that responds 204, pinned to the server CPU."""

    label = "nginx (204)"
    key = None

    def __init__(self, bench):
        self.bench = bench
        self.dir = Path(tempfile.mkdtemp(prefix="nginx-", dir=bench.log_dir))
        self.port = free_port()
        config = NGINX_TEMPLATE.read_text().replace("@DIR@", str(self.dir)) \
                                           .replace("@PORT@", str(self.port))
        (self.dir / "nginx.conf").write_text(config)
        cmd = ["taskset", "-c", bench.settings.server_cpu, "nginx", "-p", self.dir,
               "-c", self.dir / "nginx.conf", "-e", self.dir / "error.log"]
        self.proc = bench.procs.spawn(cmd, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: self._ready(), 15, f"nginx to listen ({self.dir}/error.log)")
        except BenchError:
            self.stop()
            raise
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        self.pids = [self.proc.pid] + [int(pid) for pid in children]

    def _ready(self):
        if self.proc.poll() is not None:
            raise BenchError(f"nginx exited with status {self.proc.returncode}: "
                             f"{self._error_log()}")
        return http_get(self.port, "/") == 405

    def _error_log(self):
        path = self.dir / "error.log"
        return path.read_text().strip() if path.exists() else "(no error log)"

    def log_problems(self):
        return [line for line in self._error_log().splitlines()
                if "[warn]" in line or "[error]" in line or "[crit]" in line or "[emerg]" in line]

    def stored_events(self):
        return None

    def stop(self):
        self.bench.procs.stop(self.proc)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def server_cpu(server):
    return sum(cpu_seconds(pid) for pid in server.pids)


def server_peak_rss_kb(server):
    return max(status_kb(pid, "VmHWM") for pid in server.pids)


# ---- Measurements ------------------------------------------------------------

def median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


@dataclass
class Run:
    """One measured run of one variant."""
    variant: str
    requests_per_s: float
    events_per_s: float
    p50_ms: float = None
    p99_ms: float = None
    cpu_percent: float = None        # server CPU as % of one core
    cpu_ms_per_1k: float = None      # server CPU ms per 1000 requests
    peak_rss_mb: float = None
    client_cpu_percent: float = None
    other_cpu_percent: float = None  # CPU of every other process and the kernel, % of a core
    errors: int = 0
    only_disturbed: bool = False     # a median with no undisturbed run behind it
    extra: dict = field(default_factory=dict)
