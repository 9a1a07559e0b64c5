#!/usr/bin/env python3
"""Benchmark of event-issuer against baselines measured in the same run.

bench/run.sh starts this after it has installed the tools and built the
helper programs; `make bench` runs bench/run.sh. Every server listens on
127.0.0.1 with a port chosen at start. The server under test (nginx or
event-issuer) runs on one CPU and the load generator on the other, pinned
with taskset. Every process started here is listed in the pid file given by
run.sh and stopped before this program returns.

This file contains the measuring methods (Bench), the HTTP, batch,
connections, curve, start-up and profile scenarios, and the report. The
kafka scenario is in bench/kafka_bench.py and the validation scenario in
bench/validation_bench.py. The pieces they all share are in bench/common.py.

The settings come from the environment (see Settings.from_env); the results
go to RESULTS_DIR/report.md, results.json and the PNG plots.
"""

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import kafka_bench
import validation_bench
from common import (HELPERS, LISTEN_LINE, ROOT, BenchError, Nginx, Processes, Product, Run,
                    SkipScenario, busy_cpu_seconds, env_number, http_get, median, server_cpu,
                    server_peak_rss_kb, status_kb)

WRK_SCRIPT = ROOT / "bench" / "wrk" / "produce.lua"
PLOT_SCRIPT = ROOT / "bench" / "plot.gp"
ALL_SCENARIOS = ["single", "structured", "batch", "connections", "curve", "startup",
                 "kafka", "validation", "profile"]
DEFAULT_SCENARIOS = [name for name in ALL_SCENARIOS if name != "profile"]


@dataclass
class Settings:
    """Benchmark settings, each read from the environment variable named beside it."""
    duration: float          # BENCH_DURATION: seconds of each measured wrk run
    warmup: float            # BENCH_WARMUP: seconds of load before each measured run
    rounds: int              # BENCH_ROUNDS: runs of each variant; the median is reported
    connections: int         # BENCH_CONNECTIONS: keep-alive connections of wrk
    batch_events: int        # BENCH_BATCH_EVENTS: events per batch request
    idle_connections: int    # BENCH_IDLE_CONNECTIONS: for the connections scenario
    curve_connections: list  # BENCH_CURVE_CONNECTIONS: space-separated counts
    curve_duration: float    # BENCH_CURVE_DURATION: seconds per point of the curve
    starts: int              # BENCH_STARTS: start-up measurements
    max_other_cpu: float     # BENCH_MAX_OTHER_CPU: % of a core others may use in a run
    retries: int             # BENCH_RETRIES: repeats of a run that others disturbed
    server_cpu: int          # BENCH_SERVER_CPU: CPU of the server under test
    client_cpu: int          # BENCH_CLIENT_CPU: CPU of wrk and the other clients
    scenarios: list          # BENCH_SCENARIOS: space-separated names, see ALL_SCENARIOS
    binary: Path             # BENCH_BIN: the event-issuer binary
    work_dir: Path           # BENCH_WORK_DIR: data folders, on the disk to be measured
    results_dir: Path
    pid_file: Path

    @classmethod
    def from_env(cls, results_dir, pid_file):
        cpus = sorted(os.sched_getaffinity(0))
        scenarios = os.environ.get("BENCH_SCENARIOS", "").split() or DEFAULT_SCENARIOS
        unknown = [name for name in scenarios if name not in ALL_SCENARIOS]
        if unknown:
            raise SystemExit(f"bench: unknown scenario {' '.join(unknown)} in BENCH_SCENARIOS; "
                             f"known: {' '.join(ALL_SCENARIOS)}")
        curve = os.environ.get("BENCH_CURVE_CONNECTIONS", "1 16 64 256").split()
        return cls(
            duration=env_number("BENCH_DURATION", 8.0),
            warmup=env_number("BENCH_WARMUP", 2.0),
            rounds=env_number("BENCH_ROUNDS", 3, int),
            connections=env_number("BENCH_CONNECTIONS", 64, int),
            batch_events=env_number("BENCH_BATCH_EVENTS", 100, int),
            idle_connections=env_number("BENCH_IDLE_CONNECTIONS", 10000, int),
            curve_connections=[int(n) for n in curve],
            curve_duration=env_number("BENCH_CURVE_DURATION", 5.0),
            starts=env_number("BENCH_STARTS", 10, int),
            max_other_cpu=env_number("BENCH_MAX_OTHER_CPU", 20.0),
            retries=env_number("BENCH_RETRIES", 1, int),
            server_cpu=env_number("BENCH_SERVER_CPU", cpus[-1], int),
            client_cpu=env_number("BENCH_CLIENT_CPU", cpus[0], int),
            scenarios=scenarios,
            binary=Path(os.environ.get("BENCH_BIN", ROOT / "build" / "event-issuer")),
            work_dir=Path(os.environ.get("BENCH_WORK_DIR", ROOT / "build" / "bench" / "work")),
            results_dir=results_dir,
            pid_file=pid_file,
        )


# ---- Measurements ------------------------------------------------------------

def product_args(binary):
    """Returns the serve options every benchmark server gets. The events of
    the benchmark have no registered schema, so a server that rejects such
    types by default gets the option that accepts them."""
    serve_help = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True,
                                timeout=10).stdout
    return ["--require-registered-types=false"] if "--require-registered-types" in serve_help \
        else []


def snapshot_binary(settings):
    """Copies the binary under test into the work folder and points
    settings.binary at the copy, so that a rebuild during the run does not
    change what is measured."""
    copy = settings.work_dir / "event-issuer"
    shutil.copy2(settings.binary, copy)
    settings.binary = copy


class Bench:
    def __init__(self, settings):
        self.settings = settings
        self.procs = Processes(settings.pid_file)
        self.log_dir = Path(tempfile.mkdtemp(prefix="ei-bench-logs-", dir=self._log_parent()))
        self.rows = []       # (scenario, Run, baseline label or None, ratio or None)
        self.targets = []    # (scenario, target, measured, passed or None)
        self.runs = {}       # scenario -> list of Run, every round
        self.notes = []
        self.curve = []
        self.skipped = {}
        self.failed = {}
        self.extra = {}
        self.repeated_runs = 0
        self.product_args = product_args(settings.binary)

    @staticmethod
    def _log_parent():
        """Server logs go to tmpfs when there is one, so writing them does
        not compete with the log's fsync calls for the disk."""
        shm = Path("/dev/shm")
        return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None

    def close(self):
        self.procs.stop_all()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def wait_for_quiet(self, limit=20.0, timeout=5.0):
        """Waits up to timeout seconds until all CPUs together are busy less
        than limit % of a core, measured over half a second."""
        deadline = time.monotonic() + timeout
        while True:
            before = busy_cpu_seconds()
            time.sleep(0.5)
            if 200 * (busy_cpu_seconds() - before) < limit or time.monotonic() > deadline:
                return

    # -- wrk ----------------------------------------------------------------

    def wrk(self, port, mode, key, connections, duration, check=False):
        """Runs wrk on the client CPU and returns its BENCH_JSON result plus
        the CPU share of its core that wrk used."""
        env = dict(os.environ, BENCH_MODE=mode, BENCH_BATCH=str(self.settings.batch_events))
        env.pop("BENCH_KEY", None)
        env.pop("BENCH_CHECK", None)
        if key:
            env["BENCH_KEY"] = key
        if check:
            env["BENCH_CHECK"] = "1"
        path = "/bench/produce/batch" if mode == "batch" else "/bench/produce"
        cmd = ["taskset", "-c", self.settings.client_cpu, "wrk", "-t1", "-c", connections,
               "-d", f"{duration:g}s", "--timeout", "10s", "--latency", "-s", WRK_SCRIPT,
               f"http://127.0.0.1:{port}{path}"]
        finished = self.procs.run(cmd, subprocess.STDOUT, env)
        output = finished.output.decode(errors="replace")

        line = next((line for line in output.splitlines() if line.startswith("BENCH_JSON ")), None)
        if finished.returncode != 0 or line is None:
            raise BenchError(f"wrk failed with status {finished.returncode}: "
                             f"{output.strip()[-500:]}")
        result = json.loads(line[len("BENCH_JSON "):])
        result["client_cpu_percent"] = 100 * finished.cpu_seconds / finished.seconds
        return result

    def load(self, server, mode, connections, duration, warmup, events_per_request=1):
        """Warms the server up, then measures one wrk run against it."""
        acknowledged = 0
        if warmup > 0:
            result = self.wrk(server.port, mode, server.key, connections, warmup, check=True)
            if result["first_bad_response"]:
                raise BenchError(f"{server.label} responded {result['first_bad_response'][:300]}")
            acknowledged += result["requests"] - result["errors_status"]

        self.wait_for_quiet()
        cpu_before = server_cpu(server)
        busy_before = busy_cpu_seconds()
        started = time.monotonic()
        result = self.wrk(server.port, mode, server.key, connections, duration)
        elapsed = time.monotonic() - started
        cpu_used = server_cpu(server) - cpu_before
        other_used = busy_cpu_seconds() - busy_before - cpu_used \
            - result["client_cpu_percent"] * elapsed / 100
        acknowledged += result["requests"] - result["errors_status"]

        seconds = result["duration_us"] / 1e6
        requests = result["requests"]
        errors = sum(result[name] for name in ("errors_connect", "errors_read", "errors_write",
                                               "errors_status", "errors_timeout"))
        return Run(
            variant=server.label,
            requests_per_s=requests / seconds,
            events_per_s=(requests - result["errors_status"]) * events_per_request / seconds,
            p50_ms=result["latency_p50_us"] / 1000,
            p99_ms=result["latency_p99_us"] / 1000,
            cpu_percent=100 * cpu_used / elapsed,
            cpu_ms_per_1k=1000 * cpu_used / (requests / 1000) if requests else None,
            peak_rss_mb=server_peak_rss_kb(server) / 1024,
            client_cpu_percent=result["client_cpu_percent"],
            other_cpu_percent=max(0.0, 100 * other_used / elapsed),
            errors=errors,
            extra={"acknowledged_events": acknowledged * events_per_request, "wrk": result},
        )

    def finish(self, server, run, acknowledged=None):
        """Stops the server, checks its log and that it stored at least the
        acknowledged events (by default those of run), and deletes its
        files."""
        try:
            server.stop()
            problems = server.log_problems()
            if problems:
                self.notes.append(f"{server.label}: {len(problems)} warning or error lines in "
                                  f"its log, the first: `{problems[0][:200]}`")
            if acknowledged is None and run is not None:
                acknowledged = run.extra["acknowledged_events"]
            if run is not None:
                stored = server.stored_events()
                if stored is not None:
                    run.extra["stored_events"] = stored
                    if stored < acknowledged:
                        self.notes.append(f"{server.label}: the log holds {stored} events but "
                                          f"{acknowledged} were acknowledged")
        finally:
            server.cleanup()

    def measure_variants(self, name, starters, mode, events_per_request=1):
        """Runs every variant settings.rounds times, interleaved and in a
        rotating order, each on a fresh server; returns {label: [Run]}."""
        runs = {}
        for round_index in range(self.settings.rounds):
            shift = round_index % len(starters)
            for start in starters[shift:] + starters[:shift]:
                run = self.measure_one(start, mode, events_per_request)
                runs.setdefault(run.variant, []).append(run)
                print(f"  {name} round {round_index + 1}: {describe(run)}", flush=True)
        self.runs.setdefault(name, []).extend(run for group in runs.values() for run in group)
        return runs

    def disturbed(self, run):
        return run.other_cpu_percent is not None and \
            run.other_cpu_percent > self.settings.max_other_cpu

    def repeat_if_disturbed(self, measure, runs_of=lambda run: [run]):
        """Calls measure() and returns its result. While other processes
        disturbed one of the result's runs (runs_of lists them), it calls
        measure() again, at most settings.retries more times."""
        for attempt in range(self.settings.retries + 1):
            result = measure()
            noisy = [run for run in runs_of(result) if self.disturbed(run)]
            if not noisy or attempt == self.settings.retries:
                return result
            self.repeated_runs += 1
            print(f"  {noisy[0].variant}: other processes used {noisy[0].other_cpu_percent:.0f}% "
                  "of a core during the run; measuring again", flush=True)
        return result

    def measure_one(self, start, mode, events_per_request):
        if callable(start):
            return self.repeat_if_disturbed(start)
        return self.repeat_if_disturbed(
            lambda: self.measure_server(start, mode, events_per_request))

    def measure_server(self, start, mode, events_per_request):
        """Starts a fresh server with start = (class, arguments...), loads it
        and stops it."""
        server = start[0](self, *start[1:])
        run = None
        try:
            run = self.load(server, mode, self.settings.connections, self.settings.duration,
                            self.settings.warmup, events_per_request)
        finally:
            self.finish(server, run)
        return run

    # -- Results --------------------------------------------------------------

    def median_run(self, variant, runs):
        return median_run(variant, runs, self.settings.max_other_cpu)

    def add_row(self, scenario, run, baseline=None):
        ratio = None
        if baseline is not None and baseline.events_per_s:
            ratio = run.events_per_s / baseline.events_per_s
        self.rows.append((scenario, run, baseline.variant if baseline else None, ratio))
        return ratio

    def add_target(self, scenario, target, measured, passed, based_on=()):
        """Records a target. When a median in based_on has only disturbed
        runs behind it, the result is "UNSURE" rather than PASS or MISS."""
        if any(run.only_disturbed for run in based_on):
            passed = None
        self.targets.append((scenario, target, measured, passed))


def describe(run):
    text = f"{run.variant}: {run.requests_per_s:,.0f} req/s"
    if run.events_per_s != run.requests_per_s:
        text += f", {run.events_per_s:,.0f} events/s"
    if run.p99_ms is not None:
        text += f", p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms"
    if run.cpu_percent is not None:
        text += f", server CPU {run.cpu_percent:.0f}%"
    if run.client_cpu_percent is not None:
        text += f", client CPU {run.client_cpu_percent:.0f}%"
    if run.other_cpu_percent is not None:
        text += f", other CPU {run.other_cpu_percent:.0f}%"
    if run.errors:
        text += f", {run.errors} errors"
    return text


def median_run(variant, runs, max_other_cpu):
    """Returns a Run of the medians of each measure. It leaves out the runs in
    which other processes used more than max_other_cpu % of a core, unless
    every run was disturbed."""
    quiet = [run for run in runs
             if run.other_cpu_percent is None or run.other_cpu_percent <= max_other_cpu]
    only_disturbed = not quiet
    runs = quiet or runs
    return Run(
        variant=variant,
        requests_per_s=median([run.requests_per_s for run in runs]),
        events_per_s=median([run.events_per_s for run in runs]),
        p50_ms=median([run.p50_ms for run in runs]),
        p99_ms=median([run.p99_ms for run in runs]),
        cpu_percent=median([run.cpu_percent for run in runs]),
        cpu_ms_per_1k=median([run.cpu_ms_per_1k for run in runs]),
        peak_rss_mb=median([run.peak_rss_mb for run in runs]),
        client_cpu_percent=median([run.client_cpu_percent for run in runs]),
        other_cpu_percent=median([run.other_cpu_percent for run in runs]),
        errors=sum(run.errors for run in runs),
        only_disturbed=only_disturbed,
    )


# ---- Scenarios ---------------------------------------------------------------

def scenario_http(bench, name, mode):
    """single / structured: nginx's 204 (the HTTP ceiling) against the
    product without and with an API key, the same requests to each."""
    runs = bench.measure_variants(name, [(Nginx,), (Product, False), (Product, True)], mode)
    nginx = bench.median_run(Nginx.label, runs[Nginx.label])
    no_auth = bench.median_run("event-issuer (no auth)", runs["event-issuer (no auth)"])
    keyed = bench.median_run("event-issuer (API key)", runs["event-issuer (API key)"])

    bench.add_row(name, nginx)
    bench.add_row(name, no_auth, nginx)
    ratio = bench.add_row(name, keyed, nginx)
    bench.add_target(name, "event-issuer (API key) ≥ 0.5 × nginx requests/s",
                     f"{ratio:.2f} ×", ratio >= 0.5, [nginx, keyed])
    bench.add_target(name, "event-issuer (API key) p99 < 5 ms", f"{keyed.p99_ms:.2f} ms",
                     keyed.p99_ms < 5, [keyed])
    cost = 1 - keyed.requests_per_s / no_auth.requests_per_s
    bench.add_target(name, "authentication costs < 5% of requests/s", f"{100 * cost:.1f}%",
                     cost < 0.05, [keyed, no_auth])
    if nginx.client_cpu_percent and nginx.client_cpu_percent > 90:
        bench.notes.append(
            f"{name}: wrk used {nginx.client_cpu_percent:.0f}% of its core against nginx, so "
            f"nginx's figure is partly wrk's limit, and the ratios to it flatter event-issuer.")


def sqlite_baseline(bench):
    """Runs bench/sqlite_baseline.c once on the server CPU."""
    settings = bench.settings
    bench.wait_for_quiet()
    folder = Path(tempfile.mkdtemp(prefix="sqlite-", dir=settings.work_dir))
    try:
        cmd = ["taskset", "-c", settings.server_cpu, HELPERS / "sqlite_baseline", folder,
               f"{settings.warmup:g}", f"{settings.duration:g}", settings.batch_events, 1024]
        busy_before = busy_cpu_seconds()
        started = time.monotonic()
        proc = bench.procs.spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=settings.warmup + settings.duration + 120)
        finally:
            bench.procs.stop(proc)
        elapsed = time.monotonic() - started
        busy = busy_cpu_seconds() - busy_before
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if proc.returncode != 0:
        raise BenchError(f"sqlite_baseline failed with status {proc.returncode}: {err.strip()}")
    result = json.loads(out)

    # The program reports the CPU of its counted phase only, so its warm-up
    # is estimated at the same rate.
    own = result["cpu_seconds"] * elapsed / result["seconds"]
    rows_per_s = result["rows_per_second"]
    return Run(
        variant="SQLite inserts (C)",
        requests_per_s=rows_per_s / settings.batch_events,
        events_per_s=rows_per_s,
        p50_ms=result["commit_p50_us"] / 1000,
        p99_ms=result["commit_p99_us"] / 1000,
        cpu_percent=100 * result["cpu_seconds"] / result["seconds"],
        cpu_ms_per_1k=1000 * result["cpu_seconds"] / (result["transactions"] / 1000),
        peak_rss_mb=result["max_rss_kb"] / 1024,
        other_cpu_percent=max(0.0, 100 * (busy - own) / elapsed),
        extra={"baseline": result},
    )


def scenario_batch(bench):
    """Batches of 1 KiB events into the embedded log, against the same rows
    inserted straight into SQLite by one C process. A further variant lets
    the server use every CPU, wrk's included, because wrk needs little CPU
    here. It shows what the machine can do, but it is no fair comparison."""
    count = bench.settings.batch_events
    spread = "event-issuer (API key, all CPUs)"
    runs = bench.measure_variants("batch", [lambda: sqlite_baseline(bench), (Product, False),
                                            (Product, True), (Product, True, (), True)],
                                  "batch", count)
    baseline = bench.median_run("SQLite inserts (C)", runs["SQLite inserts (C)"])
    no_auth = bench.median_run("event-issuer (no auth)", runs["event-issuer (no auth)"])
    keyed = bench.median_run("event-issuer (API key)", runs["event-issuer (API key)"])
    unpinned = bench.median_run(spread, runs[spread])

    bench.add_row("batch", baseline)
    bench.add_row("batch", no_auth, baseline)
    ratio = bench.add_row("batch", keyed, baseline)
    bench.add_row("batch", unpinned, baseline)
    bench.add_target("batch", "event-issuer (API key) ≥ 150,000 events/s",
                     f"{keyed.events_per_s:,.0f} events/s", keyed.events_per_s >= 150000,
                     [keyed])
    bench.add_target("batch", "event-issuer (API key) ≥ 0.6 × SQLite baseline events/s",
                     f"{ratio:.2f} ×", ratio >= 0.6, [keyed, baseline])


def hold_idle_connections(bench, port):
    """Starts idle_conns on the client CPU; returns it once its connections
    are open, with the parsed "ready" line."""
    count = bench.settings.idle_connections
    limit = int(3 * bench.settings.duration + bench.settings.warmup + 120)
    proc = bench.procs.spawn(["taskset", "-c", bench.settings.client_cpu,
                              HELPERS / "idle_conns", port, count, limit],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    if len(line) != 4 or line[0] != "ready":
        bench.procs.stop(proc)
        raise BenchError(f"idle_conns failed: {proc.stderr.read().strip()}")
    return proc, {"open": int(line[1]), "failed": int(line[2]), "open_ms": int(line[3])}


def count_still_open(proc):
    proc.stdin.write("check\n")
    proc.stdin.flush()
    line = proc.stdout.readline().split()
    return int(line[1]) if len(line) == 2 and line[0] == "open" else 0


@dataclass
class HeldRound:
    """One round of the connections scenario."""
    before: Run
    during: Run
    opened: dict     # the "ready" line of idle_conns
    rss_mb: float    # VmRSS with the connections open, before the second run
    still_open: int  # connections open after the second run


def held_round(bench):
    """Single events, then idle connections opened, then single events again,
    all on one fresh server."""
    settings = bench.settings
    # The idle timeout must outlast a round; the default connection limit
    # (20000) already covers the idle connections and wrk's.
    server = Product(bench, True, ["--connection-timeout", "600"])
    run = None
    during = None
    idle = None
    try:
        run = bench.load(server, "binary", settings.connections, settings.duration,
                         settings.warmup)
        run.variant = "before"
        idle, opened = hold_idle_connections(bench, server.port)
        time.sleep(1)
        rss = status_kb(server.proc.pid, "VmRSS") / 1024
        during = bench.load(server, "binary", settings.connections, settings.duration, 0)
        during.variant = f"with {settings.idle_connections} idle"
        still_open = count_still_open(idle)
    finally:
        if idle is not None:
            idle.stdin.close()
            bench.procs.stop(idle)
        acknowledged = None
        if run is not None and during is not None:
            acknowledged = run.extra["acknowledged_events"] + during.extra["acknowledged_events"]
        bench.finish(server, run, acknowledged)
    return HeldRound(run, during, opened, rss, still_open)


def scenario_connections(bench):
    """Single events before and while idle keep-alive connections are held."""
    settings = bench.settings
    count = settings.idle_connections
    rounds = []
    for round_index in range(settings.rounds):
        held = bench.repeat_if_disturbed(lambda: held_round(bench),
                                         lambda held: [held.before, held.during])
        rounds.append(held)
        print(f"  connections round {round_index + 1}: opened {held.opened['open']} "
              f"({held.opened['failed']} failed) in {held.opened['open_ms']} ms, "
              f"RSS {held.rss_mb:.1f} MB, still open after the run {held.still_open}; "
              f"before: {describe(held.before)}; during: {describe(held.during)}", flush=True)

    before = [held.before for held in rounds]
    during = [held.during for held in rounds]
    held_counts = [min(held.opened["open"], held.still_open) for held in rounds]
    peak_rss = max(max(held.rss_mb, held.during.peak_rss_mb) for held in rounds)
    bench.runs["connections"] = before + during
    bench.extra["connections"] = [{"opened": held.opened, "rss_mb": held.rss_mb,
                                   "still_open": held.still_open} for held in rounds]

    before_median = bench.median_run("event-issuer (API key), before", before)
    during_median = bench.median_run(f"event-issuer (API key), {count} idle connections held",
                                     during)
    during_median.peak_rss_mb = peak_rss
    bench.add_row("connections", before_median)
    ratio = bench.add_row("connections", during_median, before_median)
    bench.add_target("connections", f"{count} idle connections held",
                     f"{min(held_counts)} held", min(held_counts) >= count)
    bench.add_target("connections", "peak RSS with them held < 200 MB", f"{peak_rss:.1f} MB",
                     peak_rss < 200)
    bench.add_target("connections", "requests/s with them held ≥ 0.9 × before",
                     f"{ratio:.2f} ×", ratio >= 0.9, [before_median, during_median])


def curve_point(bench, start, connections, warmup):
    server = start[0](bench, *start[1:])
    run = None
    try:
        run = bench.load(server, "binary", connections, bench.settings.curve_duration, warmup)
    finally:
        bench.finish(server, run)
    return run


def scenario_curve(bench):
    """Requests/s and p99 against the connection count, nginx and event-issuer."""
    settings = bench.settings
    warmup = min(settings.warmup, 1.0)
    for connections in settings.curve_connections:
        point = {"connections": connections}
        for kind in ("nginx", "product"):
            start = (Nginx,) if kind == "nginx" else (Product, True)
            run = bench.repeat_if_disturbed(
                lambda: curve_point(bench, start, connections, warmup))
            point[kind] = run
            print(f"  curve {connections} connections: {describe(run)}", flush=True)
        bench.curve.append(point)

    data = settings.results_dir / "curve.dat"
    with open(data, "w") as out:
        out.write("# connections nginx_rps product_rps nginx_p99_ms product_p99_ms\n")
        for point in bench.curve:
            out.write(f"{point['connections']} {point['nginx'].requests_per_s:.1f} "
                      f"{point['product'].requests_per_s:.1f} {point['nginx'].p99_ms:.3f} "
                      f"{point['product'].p99_ms:.3f}\n")
    result = subprocess.run(["gnuplot", "-e", f"datafile='{data}'; outdir='{settings.results_dir}'",
                             PLOT_SCRIPT], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        bench.notes.append(f"gnuplot failed: {result.stderr.strip()[:300]}")


def start_and_time(bench, data_dir):
    """Starts the server the way an operator would and returns (process,
    ms to the listening line, ms to the first /healthz 200). The process
    inherits the server CPU from this one, so no taskset exec is timed."""
    cmd = [bench.settings.binary, "serve", "--listen", "127.0.0.1:0", "--data", data_dir]
    everywhere = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {bench.settings.server_cpu})
    try:
        started = time.perf_counter()
        proc = bench.procs.spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
    finally:
        os.sched_setaffinity(0, everywhere)

    port = None
    for line in proc.stderr:
        match = LISTEN_LINE.search(line)
        if match:
            port = int(match.group(1))
            break
    listening = time.perf_counter()
    if port is None:
        bench.procs.stop(proc)
        raise BenchError(f"event-issuer exited with status {proc.wait()} before it listened")
    while http_get(port, "/healthz") != 200:
        if time.perf_counter() - started > 15:
            bench.procs.stop(proc)
            raise BenchError("event-issuer did not respond 200 to /healthz within 15 s")
        time.sleep(0.0005)
    ready = time.perf_counter()
    return proc, 1000 * (listening - started), 1000 * (ready - started)


def scenario_startup(bench):
    """Start-up time and idle RSS, on a data folder that already has a
    registry with a key and an event log, as at a restart."""
    settings = bench.settings
    setup = Product(bench, True)
    setup.stop()
    data_dir = setup.data_dir
    to_listen, to_ready = [], []
    try:
        for _ in range(settings.starts):
            proc, listen_ms, ready_ms = start_and_time(bench, data_dir)
            to_listen.append(listen_ms)
            to_ready.append(ready_ms)
            bench.procs.stop(proc)
            proc.stderr.close()
        proc, _, _ = start_and_time(bench, data_dir)
        time.sleep(1)
        idle_rss = status_kb(proc.pid, "VmRSS") / 1024
        idle_hwm = status_kb(proc.pid, "VmHWM") / 1024
        bench.procs.stop(proc)
        proc.stderr.close()
    finally:
        setup.cleanup()

    bench.extra["startup"] = {"listen_ms": to_listen, "healthz_ms": to_ready,
                              "idle_rss_mb": idle_rss, "idle_hwm_mb": idle_hwm}
    print(f"  start-up: median {median(to_listen):.1f} ms to the listening line, "
          f"{median(to_ready):.1f} ms to the first /healthz 200; idle RSS {idle_rss:.1f} MB",
          flush=True)
    bench.add_target("startup", f"start-up < 100 ms (exec to first /healthz 200, median of "
                     f"{settings.starts})", f"{median(to_ready):.1f} ms "
                     f"(listening line {median(to_listen):.1f} ms)", median(to_ready) < 100)
    bench.add_target("startup", "idle RSS < 15 MB", f"{idle_rss:.1f} MB", idle_rss < 15)


def scenario_profile(bench):
    """Not run by default (BENCH_SCENARIOS=profile): perf record of the
    server during the single scenario with an API key. It writes perf.txt:
    the time spent in each function and everything it calls. The call
    graphs come from DWARF unwinding, because the release build and its
    libraries keep no frame pointers."""
    settings = bench.settings
    if shutil.which("perf") is None:
        raise SkipScenario("perf is not installed")
    server = Product(bench, True)
    run = None
    perf_data = settings.results_dir / "perf.data"

    try:
        bench.wrk(server.port, "binary", server.key, settings.connections, settings.warmup)
        perf = bench.procs.spawn(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384",
                                  "-q", "-o", perf_data, "-p", server.proc.pid],
                                 stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run = bench.load(server, "binary", settings.connections, settings.duration, 0)
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
            bench.procs.forget(perf)
    finally:
        bench.finish(server, run)

    report = subprocess.run(["perf", "report", "-i", perf_data, "--stdio", "--children",
                             "--percent-limit", "1", "-g", "none", "--sort", "symbol"],
                            capture_output=True, text=True, timeout=600)
    (settings.results_dir / "perf.txt").write_text(report.stdout)
    print(f"  profile: {describe(run)}; perf report in {settings.results_dir / 'perf.txt'}")


# ---- Report ----------------------------------------------------------------

def command_output(cmd):
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (result.stdout + result.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def machine_description(settings):
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    file_system = command_output(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T",
                                  str(settings.work_dir)])
    hypervisor = next((line.split(":", 1)[1].strip() for line in
                       command_output(["lscpu"]).splitlines()
                       if line.startswith("Hypervisor vendor")), "none")
    if shutil.which("systemd-detect-virt"):
        hypervisor += f"; container: {command_output(['systemd-detect-virt', '--container'])}"
    return {
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU model": cpu_model,
        "kernel": platform.release(),
        "memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "hypervisor": hypervisor,
        "data folder file system": file_system,
        "load average at start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def software_versions(settings):
    commit = command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = command_output(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    built = datetime.fromtimestamp(settings.binary.stat().st_mtime, timezone.utc)
    return {
        "event-issuer": f"commit {commit}{', with uncommitted changes in src/' if dirty else ''}; "
                        f"binary built {built:%Y-%m-%d %H:%M} UTC",
        "compiler": command_output(["cc", "--version"]).splitlines()[0],
        "SQLite": command_output(["pkg-config", "--modversion", "sqlite3"]),
        "libmicrohttpd": command_output(["pkg-config", "--modversion", "libmicrohttpd"]),
        "nginx": command_output(["nginx", "-v"]).replace("nginx version: ", ""),
        "wrk": command_output(["wrk", "-v"]).splitlines()[0].split(" Copyright")[0],
    }


def format_number(value, digits=0):
    return "–" if value is None else f"{value:,.{digits}f}"


def results_table(bench):
    lines = ["| scenario | variant | requests/s | events/s | p50 ms | p99 ms | server CPU % of a core "
             "| server CPU ms per 1000 requests | peak RSS MB | × baseline |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for scenario, run, baseline, ratio in bench.rows:
        ratio_text = f"{ratio:.2f} × {baseline}" if ratio is not None else "baseline"
        variant = run.variant + (" (every run disturbed)" if run.only_disturbed else "")
        lines.append(
            f"| {scenario} | {variant} | {format_number(run.requests_per_s)} "
            f"| {format_number(run.events_per_s)} | {format_number(run.p50_ms, 2)} "
            f"| {format_number(run.p99_ms, 2)} | {format_number(run.cpu_percent)} "
            f"| {format_number(run.cpu_ms_per_1k, 1)} | {format_number(run.peak_rss_mb, 1)} "
            f"| {ratio_text} |")
    return lines


def targets_table(bench):
    lines = ["| scenario | target | measured | result |", "|---|---|---|---|"]
    for scenario, target, measured, passed in bench.targets:
        result = "UNSURE (every run disturbed)" if passed is None else "PASS" if passed else "MISS"
        lines.append(f"| {scenario} | {target} | {measured} | {result} |")
    for scenario, reason in bench.skipped.items():
        lines.append(f"| {scenario} | – | skipped: {reason} | – |")
    for scenario, reason in bench.failed.items():
        lines.append(f"| {scenario} | – | failed: {reason} | – |")
    return lines


def all_runs_table(bench):
    lines = ["| scenario | variant | requests/s | events/s | p50 ms | p99 ms | server CPU % "
             "| wrk CPU % | other CPU % | errors | acknowledged events | stored events |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    every = [(scenario, run) for scenario, runs in bench.runs.items() for run in runs]
    every += [(f"curve, {point['connections']} connections", point[kind])
              for point in bench.curve for kind in ("nginx", "product")]
    for scenario, run in every:
        lines.append(
            f"| {scenario} | {run.variant} | {format_number(run.requests_per_s)} "
            f"| {format_number(run.events_per_s)} | {format_number(run.p50_ms, 2)} "
            f"| {format_number(run.p99_ms, 2)} | {format_number(run.cpu_percent)} "
            f"| {format_number(run.client_cpu_percent)} | {format_number(run.other_cpu_percent)} "
            f"| {run.errors} | {run.extra.get('acknowledged_events', '–')} "
            f"| {run.extra.get('stored_events', '–')} |")
    return lines


def write_report(bench, machine, versions, started, finished):
    settings = bench.settings
    out = [f"# event-issuer benchmark, {started:%Y-%m-%d %H:%M} UTC", ""]
    rounds = "once" if settings.rounds == 1 else f"{settings.rounds} times"
    intro = ("Produced by `make bench` (bench/run.sh). Each variant ran "
             f"{rounds}, interleaved with its baseline in a rotating order, on a "
             f"fresh server each time; the tables give the median. Each run: {settings.warmup:g} s "
             f"warm-up, then {settings.duration:g} s measured, wrk with one thread and "
             f"{settings.connections} keep-alive connections. The server under test was pinned "
             f"to CPU {settings.server_cpu} and wrk to CPU {settings.client_cpu} with taskset. "
             "event-issuer answers only after its commit is durable (SQLite WAL, "
             "synchronous=FULL); nginx answers 204 without reading anything but the request.")
    if {"kafka", "validation"} & set(settings.scenarios):
        intro += (" The kafka and validation scenarios measure in their own way, which the "
                  "notes and docs/benchmark.md describe.")
    out += [intro, "", "## Results", ""]
    out += results_table(bench)
    out += ["", "## Targets", ""]
    out += targets_table(bench)
    if bench.curve:
        out += ["", "## Connection count", "",
                "Single events, binary mode, event-issuer with an API key, "
                f"{settings.curve_duration:g} s per point.", "",
                "![requests per second against connections](throughput.png)", "",
                "![p99 latency against connections](latency_p99.png)"]
        noisy = [f"{point[kind].variant} at {point['connections']}" for point in bench.curve
                 for kind in ("nginx", "product") if bench.disturbed(point[kind])]
        if noisy:
            out += ["", "Points measured while other processes used more than "
                    f"{settings.max_other_cpu:g}% of a core: {', '.join(noisy)}."]
    if "startup" in bench.extra:
        startup = bench.extra["startup"]
        out += ["", "## Start-up", "",
                f"{settings.starts} starts on a data folder with a registry and an event log: "
                "milliseconds from exec to the listening line: "
                + ", ".join(f"{value:.1f}" for value in startup["listen_ms"])
                + "; to the first /healthz 200: "
                + ", ".join(f"{value:.1f}" for value in startup["healthz_ms"])
                + f". Idle RSS after 1 s: {startup['idle_rss_mb']:.1f} MB "
                  f"(VmHWM {startup['idle_hwm_mb']:.1f} MB)."]
    if bench.notes:
        out += ["", "## Notes", ""] + [f"- {note}" for note in bench.notes]
    out += ["", "## Every run", ""]
    out += all_runs_table(bench)
    out += ["", "## Machine and software", ""]
    out += [f"- {name}: {value}" for name, value in {**machine, **versions}.items()]
    out += [f"- load average at the end: "
            f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
            f"- duration of the whole run: {(finished - started).total_seconds():.0f} s", ""]
    (settings.results_dir / "report.md").write_text("\n".join(out))

    raw = {
        "started": started.isoformat(), "machine": machine, "versions": versions,
        "settings": {name: str(value) for name, value in vars(settings).items()},
        "rows": [{"scenario": scenario, "baseline": baseline, "ratio": ratio, **vars(run)}
                 for scenario, run, baseline, ratio in bench.rows],
        "targets": [{"scenario": scenario, "target": target, "measured": measured,
                     "passed": passed} for scenario, target, measured, passed in bench.targets],
        "runs": {scenario: [vars(run) for run in runs] for scenario, runs in bench.runs.items()},
        "curve": [{"connections": point["connections"], "nginx": vars(point["nginx"]),
                   "product": vars(point["product"])} for point in bench.curve],
        "extra": bench.extra, "notes": bench.notes, "skipped": bench.skipped,
        "failed": bench.failed,
    }
    (settings.results_dir / "results.json").write_text(json.dumps(raw, indent=1, default=str))


# ---- Main ------------------------------------------------------------------

SCENARIOS = {
    "single": lambda bench: scenario_http(bench, "single", "binary"),
    "structured": lambda bench: scenario_http(bench, "structured", "structured"),
    "batch": scenario_batch,
    "connections": scenario_connections,
    "curve": scenario_curve,
    "startup": scenario_startup,
    "kafka": kafka_bench.scenario_kafka,
    "validation": validation_bench.scenario_validation,
    "profile": scenario_profile,
}


def main():
    if len(sys.argv) != 3:
        raise SystemExit("Usage: bench.py RESULTS_DIR PID_FILE (run it through bench/run.sh)")
    # SIGTERM (from run.sh's timeout) unwinds through the finally blocks, so
    # every server started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = Settings.from_env(Path(sys.argv[1]), Path(sys.argv[2]))
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    machine = machine_description(settings)
    versions = software_versions(settings)
    snapshot_binary(settings)
    print(f"bench: results in {settings.results_dir}; scenarios: {' '.join(settings.scenarios)}; "
          f"{settings.rounds} rounds of {settings.warmup:g} s warm-up + {settings.duration:g} s; "
          f"server on CPU {settings.server_cpu}, clients on CPU {settings.client_cpu}", flush=True)

    bench = Bench(settings)
    busy_before = busy_cpu_seconds()
    time.sleep(1)
    idle_load = 100 * (busy_cpu_seconds() - busy_before)
    machine["CPU busy in the second before the run"] = f"{idle_load:.0f}% of a core"
    if idle_load > 10:
        print(f"bench: warning: other processes used {idle_load:.0f}% of a core before the run; "
              "the results will be noisy", flush=True)
        bench.notes.append(f"Other processes used {idle_load:.0f}% of a core in the second "
                           "before the run, so the machine was not quiet.")
    stopped = None
    try:
        for name in settings.scenarios:
            print(f"bench: {name}", flush=True)
            try:
                SCENARIOS[name](bench)
            except SkipScenario as skip:
                print(f"  skipped: {skip}", flush=True)
                bench.skipped[name] = str(skip)
            except BenchError as error:
                print(f"  failed: {error}", flush=True)
                bench.failed[name] = str(error)
    except (KeyboardInterrupt, SystemExit) as stop:
        # A timeout or Ctrl-C still gets a report of the finished scenarios.
        stopped = stop
        print(f"bench: stopped during {name}; writing the report of what finished", flush=True)
        bench.notes.append(f"The run was stopped (timeout or interrupt) during {name}, so the "
                           "tables cover only the scenarios that finished before.")
    finally:
        bench.close()

    limit = settings.max_other_cpu
    every_run = [run for runs in bench.runs.values() for run in runs]
    every_run += [point[kind] for point in bench.curve for kind in ("nginx", "product")]
    disturbed = [run for run in every_run
                 if run.other_cpu_percent is not None and run.other_cpu_percent > limit]
    if bench.repeated_runs:
        bench.notes.append(
            f"{bench.repeated_runs} runs were measured again because other processes and the "
            f"kernel used more than {limit:g}% of a core beside the server and wrk.")
    if disturbed:
        bench.notes.append(
            f"{len(disturbed)} runs stayed above that limit after {settings.retries} "
            f"repeat{'' if settings.retries == 1 else 's'} "
            "(column \"other CPU %\" of every run), so the machine was shared during them. "
            "The medians leave such runs out wherever the variant has undisturbed runs.")
    finished = datetime.now(timezone.utc)
    write_report(bench, machine, versions, started, finished)
    print()
    print("\n".join(results_table(bench)))
    print()
    print("\n".join(targets_table(bench)))
    print(f"\nbench: report in {settings.results_dir / 'report.md'}")
    if stopped is not None:
        return 130 if isinstance(stopped, KeyboardInterrupt) else 143
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
