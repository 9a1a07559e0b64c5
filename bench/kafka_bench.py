"""The kafka scenario of the benchmark, which bench/bench.py runs.

event-issuer (`serve --backbone kafka`, with an API key) writes events into
librdkafka's mock cluster, and `kcat -P` writes records of the same size,
with the same headers, into the same kind of cluster. kcat gets the producer
properties that src/backbone/kafka.c sets (PRODUCER_PROPERTIES), so both
producers wait for acks=all from an idempotent producer. Every run gets a
fresh cluster: build/bench/mock-kafka, built by bench/run.sh from
tests/kafka/mock_cluster.c, with 3 brokers on 127.0.0.1.

The producer under test (event-issuer or kcat) runs on the server CPU. The
mock cluster runs on the client CPU, beside wrk, because both need only a
part of that core, and the producer should have its core to itself. The
mock cluster's CPU time is reported apart and is not counted as a
disturbance of the run.

kcat is measured by its wall time for a fixed number of records
(BENCH_KAFKA_RECORDS), read from a file that is written once into the work
folder. event-issuer is measured with wrk like the other scenarios. Both
are checked against the cluster's end offsets, read with `kcat -Q`.
"""

import json
import re
import subprocess
import time
from dataclasses import dataclass

from common import (HELPERS, BenchError, Product, Run, SkipScenario, busy_cpu_seconds,
                    cpu_seconds, env_number, median, status_kb)

MOCK_KAFKA = HELPERS / "mock-kafka"
TOPIC_PREFIX = "events."
PARTITIONS = 4
REPLICATION = 3
BROKERS = 3
KCAT_VARIANT = "kcat -P"
PRODUCT_VARIANT = "event-issuer (API key)"

# The properties src/backbone/kafka.c sets on its producer with the default
# --delivery-timeout-ms of 30000, as docs/kafka.md lists them. client.id is
# left out, because it changes nothing but the name in the broker's logs.
PRODUCER_PROPERTIES = {
    "enable.idempotence": "true",
    "acks": "all",
    "linger.ms": "5",
    "enable.sparse.connections": "false",
    "message.timeout.ms": "30000",
    "topic.metadata.propagation.max.ms": "15000",
}

# The event data of bench/wrk/produce.lua, which is the record value.
SMALL_DATA = ('{"train":"R20","line":"Oslo S - Drammen - Kongsberg",'
              '"station":{"id":"oslo-s","name":"Oslo S","platform":4,"track":"4a"},'
              '"scheduled":"2024-05-01T08:15:00Z","actual":"2024-05-01T08:16:30Z",'
              '"delay_seconds":90,"cars":[{"number":1,"class":"standard"},'
              '{"number":2,"class":"comfort"}],"status":"arrived","remarks":"none"}')
LARGE_DATA_HEAD = '{"train":"R20","station":"oslo-s","payload":"'
LARGE_DATA = LARGE_DATA_HEAD + "x" * (1024 - len(LARGE_DATA_HEAD) - 2) + '"}'

# A W3C traceparent of the length event-issuer writes; kcat sends this one
# with every record.
TRACEPARENT = "00-" + "0" * 31 + "1-" + "0" * 15 + "1-01"


@dataclass
class KafkaMode:
    """One way of producing: what wrk sends and what kcat writes for it."""
    scenario: str            # the name in the report's tables
    wrk_mode: str            # BENCH_MODE of bench/wrk/produce.lua
    event_type: str
    data: str                # the event data, which is the record value
    content_type: str        # the record's content-type header
    event_id: str            # an event id of produce.lua's length
    events_per_request: int

    @property
    def topic(self):
        return TOPIC_PREFIX + self.event_type

    def headers(self):
        """Returns the headers that event-issuer writes for this mode's
        events (docs/kafka.md), with one fixed id and trace context."""
        return [("traceparent", TRACEPARENT), ("ce_specversion", "1.0"),
                ("ce_type", self.event_type), ("ce_source", "/bench/wrk"),
                ("ce_id", self.event_id), ("ce_time", "2024-05-01T08:16:30Z"),
                ("content-type", self.content_type)]


def kafka_modes(settings):
    return [
        KafkaMode("batch, Kafka", "batch", "bench.batch.v1", LARGE_DATA, "application/json",
                  "010000000001-001", settings.batch_events),
        KafkaMode("single, Kafka", "binary", "bench.single.v1", SMALL_DATA,
                  "application/json; charset=utf-8", "010000000001", 1),
    ]


# ---- The mock cluster ----------------------------------------------------------

class MockCluster:
    """build/bench/mock-kafka on the client CPU, driven over its stdin."""

    def __init__(self, bench):
        self.bench = bench
        self.topics = []
        self.log_path = bench.log_dir / f"mock-kafka-{time.monotonic_ns()}.log"
        cmd = ["taskset", "-c", bench.settings.client_cpu, MOCK_KAFKA, "--brokers", BROKERS]
        with open(self.log_path, "wb") as log:
            self.proc = bench.procs.spawn(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=log, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("bootstrap="):
            self.stop()
            raise BenchError(f"mock-kafka printed {line!r} instead of its bootstrap servers: "
                             f"{self._log_tail()}")
        self.bootstrap = line[len("bootstrap="):]
        if any(not server.startswith("127.0.0.1:") for server in self.bootstrap.split(",")):
            self.stop()
            raise BenchError(f"mock-kafka listens on {self.bootstrap}, not only on 127.0.0.1")

    def _log_tail(self):
        return self.log_path.read_text(errors="replace").strip()[-300:] or "(empty log)"

    def command(self, line):
        """Sends one command and raises BenchError unless mock-kafka replies ok."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if reply != "ok":
            raise BenchError(f"mock-kafka rejected {line!r}: {reply or self._log_tail()}")

    def create_topic(self, topic):
        """Creates topic with partition p led by broker p % BROKERS + 1, so
        every run spreads the partitions over the brokers the same way."""
        self.command(f"topic-create {topic} {PARTITIONS} {REPLICATION}")
        for partition in range(PARTITIONS):
            self.command(f"partition-leader {topic} {partition} {partition % BROKERS + 1}")
        self.topics.append(topic)

    def partition_end_offsets(self, topic):
        """Returns {partition: end offset} of topic by `kcat -Q`, or None
        when kcat fails. The end offset (high watermark) counts every record
        written, also those that the mock cluster has dropped to keep about
        5 MB per partition."""
        cmd = ["kcat", "-Q", "-b", self.bootstrap]
        for partition in range(PARTITIONS):
            cmd += ["-t", f"{topic}:{partition}:-1"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        offsets = {int(partition): int(offset) for partition, offset in
                   re.findall(r"\[(\d+)\] offset (\d+)", result.stdout)}
        if result.returncode != 0 or len(offsets) != PARTITIONS:
            return None
        return offsets

    def end_offsets(self, topic):
        """Sum of the end offsets of topic's partitions, or None when kcat
        fails."""
        offsets = self.partition_end_offsets(topic)
        return None if offsets is None else sum(offsets.values())

    def stored_records(self):
        """Records written to every topic of this cluster, or None when one
        count fails."""
        counts = [self.end_offsets(topic) for topic in self.topics]
        return None if None in counts else sum(counts)

    def last_record(self, topic):
        """Returns kcat's JSON envelope of the last record in topic's fullest
        partition, or None when there is none or kcat fails."""
        offsets = self.partition_end_offsets(topic)
        if not offsets or max(offsets.values()) == 0:
            return None
        partition = max(offsets, key=offsets.get)
        result = subprocess.run(["kcat", "-C", "-b", self.bootstrap, "-t", topic, "-p",
                                 str(partition), "-o", "-1", "-c", "1", "-e", "-J", "-q"],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0 or not result.stdout.strip():
            return None
        return json.loads(result.stdout.splitlines()[0])

    def cpu_seconds(self):
        return cpu_seconds(self.proc.pid)

    def peak_rss_mb(self):
        return status_kb(self.proc.pid, "VmHWM") / 1024

    def stop(self):
        """Closes stdin, on which mock-kafka exits, and waits for it."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.bench.procs.stop(self.proc)
        self.proc.stdout.close()


def describe_record(envelope, data):
    """Summarises a kcat JSON envelope: its header names in sorted order (the
    order of event-issuer's headers follows the request's), the bytes of
    their names and values, its key and whether its value is data."""
    if envelope is None:
        return None
    headers = envelope.get("headers") or []
    value = envelope.get("payload")
    return {
        "header_names": sorted(headers[0::2]),
        "header_bytes": sum(len(text.encode()) for text in headers),
        "key": envelope.get("key"),
        "value_bytes": None if value is None else len(value.encode()),
        "value_is_data": value == data,
    }


# ---- event-issuer on the cluster --------------------------------------------------

class KafkaProduct(Product):
    """event-issuer with an API key, writing to cluster. Its data folder
    holds only the registry with the key."""

    def __init__(self, bench, cluster):
        self.cluster = cluster
        super().__init__(bench, True, ["--backbone", "kafka", "--kafka-brokers",
                                       cluster.bootstrap, "--kafka-topic-prefix", TOPIC_PREFIX])

    def stored_events(self):
        """Records in the cluster's topics by their end offsets."""
        return self.cluster.stored_records()


def product_run(bench, mode):
    """Measures event-issuer on a fresh cluster: a warm-up and a measured
    wrk run on the same server, as Bench.load does them. The warm-up runs
    here, so that the mock cluster's CPU time can be read for the measured
    run alone."""
    settings = bench.settings
    cluster = MockCluster(bench)
    try:
        cluster.create_topic(mode.topic)
        server = KafkaProduct(bench, cluster)
        run = None
        try:
            warm_acknowledged = 0
            if settings.warmup > 0:
                warm = bench.wrk(server.port, mode.wrk_mode, server.key, settings.connections,
                                 settings.warmup, check=True)
                if warm["first_bad_response"]:
                    raise BenchError(f"{server.label} on Kafka responded "
                                     f"{warm['first_bad_response'][:300]}")
                warm_acknowledged = (warm["requests"] - warm["errors_status"]) \
                    * mode.events_per_request

            mock_before = cluster.cpu_seconds()
            run = bench.load(server, mode.wrk_mode, settings.connections, settings.duration, 0,
                             mode.events_per_request)
            # The mock cluster idles while Bench.load waits for a quiet
            # machine, so nearly all of this CPU time falls in wrk's run.
            seconds = run.extra["wrk"]["duration_us"] / 1e6
            mock_percent = 100 * (cluster.cpu_seconds() - mock_before) / seconds
            run.other_cpu_percent = max(0.0, run.other_cpu_percent - mock_percent)
            run.extra["acknowledged_events"] += warm_acknowledged
            run.extra["mock_cpu_percent"] = mock_percent
            run.extra["mock_peak_rss_mb"] = cluster.peak_rss_mb()
        finally:
            bench.finish(server, run)
        if run is not None:
            run.extra["record"] = describe_record(cluster.last_record(mode.topic), mode.data)
    finally:
        cluster.stop()
    return run


# ---- kcat -P on the cluster ---------------------------------------------------------

def write_records(path, data, count):
    """Writes count lines of data, one record each for kcat -P -l."""
    line = (data + "\n").encode()
    chunk = line * 10000
    with open(path, "wb") as out:
        for _ in range(count // 10000):
            out.write(chunk)
        out.write(line * (count % 10000))


def kcat_command(bench, cluster, mode, records_path, limit=None):
    cmd = ["taskset", "-c", bench.settings.server_cpu, "kcat", "-P", "-b",
           cluster.bootstrap, "-t", mode.topic]
    for name, value in PRODUCER_PROPERTIES.items():
        cmd += ["-X", f"{name}={value}"]
    for name, value in mode.headers():
        cmd += ["-H", f"{name}={value}"]
    if limit is not None:
        cmd += ["-c", limit]
    return cmd + ["-l", records_path]


def run_kcat(bench, cmd, timeout):
    """Runs kcat to its end and returns its Finished. kcat is killed after
    timeout seconds."""
    log_path = bench.log_dir / f"kcat-{time.monotonic_ns()}.log"
    try:
        with open(log_path, "wb") as log:
            finished = bench.procs.run(cmd, log, timeout=timeout)
        errors = log_path.read_text(errors="replace").strip()
    finally:
        log_path.unlink(missing_ok=True)
    if finished.returncode != 0:
        raise BenchError(f"kcat -P failed with status {finished.returncode}: {errors[-500:]}")
    return finished


def kcat_run(bench, mode, records_path, count):
    """Measures kcat -P on a fresh cluster: a warm-up of a tenth of the
    records, then all of them, timed from exec to exit. kcat exits once
    librdkafka has received the acknowledgement of every record."""
    cluster = MockCluster(bench)
    try:
        cluster.create_topic(mode.topic)
        timeout = 120 + count / 1000
        run_kcat(bench, kcat_command(bench, cluster, mode, records_path, max(1, count // 10)),
                 timeout)
        stored_before = cluster.end_offsets(mode.topic)

        bench.wait_for_quiet()
        mock_before = cluster.cpu_seconds()
        busy_before = busy_cpu_seconds()
        finished = run_kcat(bench, kcat_command(bench, cluster, mode, records_path), timeout)
        busy = busy_cpu_seconds() - busy_before
        mock_used = cluster.cpu_seconds() - mock_before
        elapsed = finished.seconds
        own = finished.cpu_seconds

        stored_after = cluster.end_offsets(mode.topic)
        stored = None if None in (stored_before, stored_after) else stored_after - stored_before
        records_per_s = count / elapsed
        # In batch mode, BENCH_BATCH_EVENTS records count as one request, as
        # the SQLite baseline counts one transaction of that many rows.
        per_request = mode.events_per_request
        run = Run(
            variant=KCAT_VARIANT,
            requests_per_s=records_per_s / per_request,
            events_per_s=records_per_s,
            cpu_percent=100 * own / elapsed,
            cpu_ms_per_1k=1000 * own / (count / per_request / 1000),
            peak_rss_mb=finished.usage.ru_maxrss / 1024,
            other_cpu_percent=max(0.0, 100 * (busy - own - mock_used) / elapsed),
            extra={"acknowledged_events": count, "stored_events": stored,
                   "mock_cpu_percent": 100 * mock_used / elapsed,
                   "mock_peak_rss_mb": cluster.peak_rss_mb(), "seconds": elapsed,
                   "record": describe_record(cluster.last_record(mode.topic), mode.data)},
        )
        if stored != count:
            bench.notes.append(f"{mode.scenario}: kcat -P wrote {count} records, but the "
                               f"topic's end offsets grew by {stored}")
        return run
    finally:
        cluster.stop()


# ---- The scenario ------------------------------------------------------------

def compare_records(bench, mode, runs):
    """Notes whether the last records that event-issuer and kcat wrote have
    the event data as value, no key and the same headers."""
    product = next((run.extra.get("record") for run in runs.get(PRODUCT_VARIANT, [])
                    if run.extra.get("record")), None)
    baseline = next((run.extra.get("record") for run in runs.get(KCAT_VARIANT, [])
                     if run.extra.get("record")), None)
    if product is None or baseline is None:
        bench.notes.append(f"{mode.scenario}: no record could be read back to compare "
                           "event-issuer's records with kcat's.")
        return
    alike = product["header_names"] == baseline["header_names"] and \
        product["key"] is None and baseline["key"] is None and \
        product["value_is_data"] and baseline["value_is_data"]
    if alike:
        bench.notes.append(
            f"{mode.scenario}: the records of event-issuer and kcat have the event data as "
            f"value ({product['value_bytes']} bytes), no key and the same headers "
            f"({product['header_bytes']} and {baseline['header_bytes']} bytes of names and "
            "values).")
    else:
        bench.notes.append(
            f"{mode.scenario}: the records of event-issuer and kcat differ: headers "
            f"{', '.join(product['header_names'])} against "
            f"{', '.join(baseline['header_names'])}; keys {product['key']!r} and "
            f"{baseline['key']!r}; value {product['value_bytes']} and "
            f"{baseline['value_bytes']} bytes, the event data: {product['value_is_data']} and "
            f"{baseline['value_is_data']}.")


def mock_cpu_note(bench, mode, runs):
    parts = []
    for variant in (KCAT_VARIANT, PRODUCT_VARIANT):
        values = [run.extra.get("mock_cpu_percent") for run in runs.get(variant, [])]
        if median(values) is not None:
            parts.append(f"{median(values):.0f}% of a core during {variant}")
    if parts:
        bench.notes.append(f"{mode.scenario}: the mock cluster, on CPU "
                           f"{bench.settings.client_cpu}, used a median of "
                           f"{' and '.join(parts)}.")


def measure_mode(bench, mode, count):
    records_path = bench.settings.work_dir / f"kafka-{mode.wrk_mode}.records"
    write_records(records_path, mode.data, count)
    try:
        runs = bench.measure_variants(mode.scenario, [
            lambda: kcat_run(bench, mode, records_path, count),
            lambda: product_run(bench, mode),
        ], mode.wrk_mode, mode.events_per_request)
    finally:
        records_path.unlink(missing_ok=True)

    baseline = bench.median_run(KCAT_VARIANT, runs[KCAT_VARIANT])
    product = bench.median_run(PRODUCT_VARIANT, runs[PRODUCT_VARIANT])
    bench.add_row(mode.scenario, baseline)
    ratio = bench.add_row(mode.scenario, product, baseline)
    compare_records(bench, mode, runs)
    mock_cpu_note(bench, mode, runs)
    return baseline, product, ratio


def scenario_kafka(bench):
    """Measures batches and single events into the mock cluster through
    event-issuer, against kcat -P writing as many records of the same size."""
    settings = bench.settings
    if not MOCK_KAFKA.exists():
        raise SkipScenario(f"{MOCK_KAFKA} is missing; bench/run.sh builds it")
    serve_help = subprocess.run([settings.binary, "serve", "--help"], capture_output=True,
                                text=True, timeout=10).stdout
    if "--kafka-brokers" not in serve_help:
        raise SkipScenario("`event-issuer serve` has no --kafka-brokers option")
    count = env_number("BENCH_KAFKA_RECORDS", 1000000, int)
    if count < 10:
        raise SkipScenario(f"BENCH_KAFKA_RECORDS={count} is too few records to time")

    for mode in kafka_modes(settings):
        baseline, product, ratio = measure_mode(bench, mode, count)
        if mode.wrk_mode == "batch":
            bench.add_target(mode.scenario, "event-issuer (API key) ≥ 0.5 × kcat -P records/s",
                             f"{ratio:.2f} ×", ratio >= 0.5, [baseline, product])
    bench.notes.append(
        f"Kafka: kcat -P wrote {count:,} records per run, with -X "
        + " -X ".join(f"{name}={value}" for name, value in PRODUCER_PROPERTIES.items())
        + f"; in the batch rows {settings.batch_events} of its records count as one request.")


if __name__ == "__main__":
    raise SystemExit("kafka_bench.py is part of bench/bench.py; run `make bench`")
