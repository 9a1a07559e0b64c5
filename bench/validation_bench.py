"""The validation scenario of bench/bench.py: event-issuer's JSON Schema
validator (src/schema) against ajv on the same schema and documents.

Two programs do the same work: bench/validate_bench.c, linked with the
release objects of src/, and bench/validate_ajv.mjs, which runs ajv with
its 2020-12 class and ajv-formats in Node.js. Each compiles
bench/validation_schema.json once (draft 2020-12, formats asserted) and
validates every document of a generated file, first once to record the
verdicts, then for a warm-up, then in two measured modes:

  validate        documents parsed once beforehand, validation only
  parse_validate  parsing from the document's bytes, then validation

Both stop at the first violation and report it (ajv's default,
allErrors: false). The programs run one after the other on the server CPU,
fresh each round and in alternating order. The scenario fails when the
verdicts of the two differ from each other or from what the generator made.
"""

import json
import random
import shutil
import subprocess
import tempfile
import uuid

from common import HELPERS, ROOT, BenchError, Run, SkipScenario, busy_cpu_seconds

SCHEMA = ROOT / "bench" / "validation_schema.json"
AJV_SCRIPT = ROOT / "bench" / "validate_ajv.mjs"
NODE_MODULES = ROOT / "tests" / "e2e" / "node_modules"

DOCUMENTS = 1000
INVALID_EVERY = 10  # every tenth document has one defect
SEED = 20261205
MODES = {"validate": "validation only", "parse_validate": "parse + validation"}
OURS = "event-issuer"

CARRIERS = ["dhl", "ups", "fedex", "postnl", "dpd", "gls"]
STATUSES = ["received", "sorted", "loaded", "in_transit", "out_for_delivery", "delivered",
            "returned"]
FACILITIES = [("AMS01", "NL", "Amsterdam Schiphol Sorting Centre", 52.3105, 4.7683),
              ("FRA02", "DE", "Frankfurt Cargo City South Hub", 50.0264, 8.5431),
              ("LYS01", "FR", "Lyon Saint-Exupery Parcel Hub", 45.7256, 5.0811),
              ("MAD03", "ES", "Madrid Coslada Logistics Park", 40.4237, -3.5614),
              ("WAW01", "PL", "Warsaw Okecie Distribution Centre", 52.1657, 20.9671)]
TAGS = ["fragile-handling", "oversize", "signature-required", "cold-chain", "weekend",
        "customs-cleared", "return-label", "insured", "dangerous-goods-lq", "eco"]
WORDS = ["parcel", "left", "at", "dock", "door", "scanned", "twice", "label", "damaged",
         "reprinted", "customer", "requested", "hold", "until", "monday", "pallet", "moved",
         "to", "lane", "after", "the", "sorter", "jam"]


# ---- Documents ------------------------------------------------------------------

def random_uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def random_timestamp(rng):
    offset = rng.choice(["Z", "Z", "+01:00", "+02:00", "-05:00"])
    return (f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}{offset}")


def random_parcel(rng):
    return {"parcelId": f"P{rng.randint(0, 9999999999):010d}",
            "weightGrams": rng.randint(100, 12000),
            "fragile": rng.random() < 0.2,
            "dimensionsCm": [rng.randint(5, 120), rng.randint(5, 80), rng.randint(2, 60)]}


def valid_document(rng):
    """Returns an event of about 1 KB that the schema accepts."""
    code, country, name, latitude, longitude = rng.choice(FACILITIES)
    parcels = [random_parcel(rng) for _ in range(rng.randint(3, 5))]
    note = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))) \
        if rng.random() < 0.8 else None
    return {
        "eventId": random_uuid(rng),
        "occurredAt": random_timestamp(rng),
        "shipmentId": "SHP-2025-" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
                                            for _ in range(8)),
        "carrier": rng.choice(CARRIERS),
        "status": rng.choice(STATUSES),
        "scanCount": rng.randint(1, 40),
        "weightGrams": sum(parcel["weightGrams"] for parcel in parcels),
        "declaredValue": round(rng.uniform(5, 5000), 2),
        "currency": rng.choice(["EUR", "EUR", "PLN", "GBP"]),
        "priority": rng.random() < 0.1,
        "facility": {"code": code, "country": country, "name": name,
                     "latitude": latitude, "longitude": longitude},
        "parcels": parcels,
        "tags": rng.sample(TAGS, rng.randint(1, 4)),
        "operator": f"operator-{rng.randint(1, 400):03d}@{code.lower()}",
        "deviceId": random_uuid(rng),
        "note": note,
    }


def drop_member(name):
    return lambda doc: doc.pop(name)


def set_member(name, value):
    return lambda doc: doc.__setitem__(name, value)


def break_uuid(doc):
    doc["eventId"] = doc["eventId"][:-1] + "g"


def drop_facility_country(doc):
    del doc["facility"]["country"]


def drop_parcel_id(doc):
    del doc["parcels"][-1]["parcelId"]


def repeat_tag(doc):
    doc["tags"].append(doc["tags"][0])


def add_dimension(doc):
    doc["parcels"][0]["dimensionsCm"].append(10)


# Each invalid document has one of these defects, in turn. The defects sit
# at different depths, so that a validator stops early for some and late
# for others.
DEFECTS = [
    ("required occurredAt missing", drop_member("occurredAt")),
    ("an additional property", set_member("colour", "red")),
    ("carrier not in the enum", set_member("carrier", "royalmail")),
    ("weightGrams above the maximum", set_member("weightGrams", 70001)),
    ("shipmentId not matching the pattern", set_member("shipmentId", "SHP-25-AB12CD34")),
    ("occurredAt not a date-time (February 30)", set_member("occurredAt",
                                                             "2025-02-30T10:00:00Z")),
    ("eventId not a UUID", break_uuid),
    ("scanCount a string", set_member("scanCount", "3")),
    ("facility without the required country", drop_facility_country),
    ("a parcel without the required parcelId", drop_parcel_id),
    ("tags not unique", repeat_tag),
    ("dimensionsCm with 4 items", add_dimension),
]


def write_documents(path):
    """Writes DOCUMENTS events, one per line, from a fixed seed, and returns
    (the expected verdicts as a string of '1' valid and '0' invalid, the
    defect of each invalid document by index)."""
    rng = random.Random(SEED)
    verdicts = []
    defects = {}
    with open(path, "w") as out:
        for index in range(DOCUMENTS):
            doc = valid_document(rng)
            if index % INVALID_EVERY == INVALID_EVERY - 1:
                name, apply = DEFECTS[(index // INVALID_EVERY) % len(DEFECTS)]
                apply(doc)
                defects[index] = name
            verdicts.append("0" if index in defects else "1")
            out.write(json.dumps(doc, separators=(",", ":")) + "\n")
    return "".join(verdicts), defects


# ---- Programs -------------------------------------------------------------------

def package_version(name):
    return json.loads((NODE_MODULES / name / "package.json").read_text())["version"]


def run_program(bench, label, cmd):
    """Runs one program on the server CPU and returns its JSON output and the
    CPU that other processes used meanwhile, as % of a core."""
    bench.wait_for_quiet()
    with tempfile.TemporaryFile() as errors:
        busy_before = busy_cpu_seconds()
        finished = bench.procs.run(["taskset", "-c", bench.settings.server_cpu, *cmd], errors)
        busy = busy_cpu_seconds() - busy_before
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if finished.returncode != 0:
        raise BenchError(f"{label} exited with status {finished.returncode}: {message[-500:]}")
    try:
        result = json.loads(finished.output)
    except ValueError:
        raise BenchError(f"{label} printed no JSON result: {finished.output[-300:]!r} "
                         f"{message[-300:]}")
    return result, max(0.0, 100 * (busy - finished.cpu_seconds) / finished.seconds)


def check_verdicts(label, result, expected, defects):
    """Raises a description when the program's verdicts differ from the
    expected ones, or its timed passes counted other valid results."""
    verdicts = result["verdicts"]
    if len(verdicts) != len(expected):
        return f"{label} validated {len(verdicts)} documents, not {len(expected)}"
    wrong = [index for index in range(len(expected)) if verdicts[index] != expected[index]]
    if wrong:
        listed = "; ".join(f"document {index + 1} ({defects.get(index, 'no defect')}): "
                           f"{'valid' if verdicts[index] == '1' else 'invalid'}"
                           for index in wrong[:5])
        return f"{label} judged {len(wrong)} documents otherwise than generated: {listed}"
    valid = expected.count("1")
    for mode, measured in result["modes"].items():
        if measured["valid"] != measured["passes"] * valid:
            return (f"{label} counted {measured['valid']} valid results in {measured['passes']} "
                    f"passes of {mode}, not {valid} per pass")
    return None


def program_runs(label, output, other_cpu):
    """Returns a Run for each mode of one program's output."""
    runs = []
    for mode, mode_label in MODES.items():
        measured = output["modes"][mode]
        per_second = measured["validations"] / measured["seconds"]
        runs.append(Run(
            variant=f"{label}, {mode_label}",
            requests_per_s=None,
            events_per_s=per_second,
            cpu_percent=100 * measured["cpu_seconds"] / measured["seconds"],
            cpu_ms_per_1k=1000 * measured["cpu_seconds"] / (measured["validations"] / 1000),
            peak_rss_mb=output["peak_rss_kb"] / 1024,
            other_cpu_percent=other_cpu,
            extra={"ns_per_validation": 1e9 / per_second, "passes": measured["passes"],
                   "compile_ms": output["compile_ms"]},
        ))
    return runs


# ---- Scenario -------------------------------------------------------------------

def scenario_validation(bench):
    """Measures event-issuer's validator and ajv on the same schema and
    documents."""
    settings = bench.settings
    helper = HELPERS / "validate_bench"
    node = shutil.which("node")
    if not helper.exists():
        raise SkipScenario(f"{helper.relative_to(ROOT)} is not built (bench/run.sh builds it)")
    if node is None:
        raise SkipScenario("node is not installed")
    for package in ("ajv", "ajv-formats"):
        if not (NODE_MODULES / package).is_dir():
            raise SkipScenario(f"{package} is missing from tests/e2e/node_modules; "
                               "run npm ci in tests/e2e")

    folder = settings.work_dir / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    documents = folder / "documents.jsonl"
    expected, defects = write_documents(documents)
    average_bytes = documents.stat().st_size / DOCUMENTS - 1
    ajv = f"ajv {package_version('ajv')}"
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                  timeout=10).stdout.strip()

    # Each mode is measured for half of BENCH_DURATION, so that a program
    # runs about as long as one wrk run of the other scenarios.
    timing = [f"{settings.warmup:g}", f"{settings.duration / 2:g}"]
    programs = [(OURS, [helper, SCHEMA, documents, *timing]),
                (ajv, [node, AJV_SCRIPT, SCHEMA, documents, *timing])]

    def measure(label, cmd):
        output, other_cpu = run_program(bench, label, cmd)
        problem = check_verdicts(label, output, expected, defects)
        if problem:
            raise BenchError(problem)
        return program_runs(label, output, other_cpu)

    runs = {}
    for round_index in range(settings.rounds):
        shift = round_index % len(programs)
        for label, cmd in programs[shift:] + programs[:shift]:
            measured = bench.repeat_if_disturbed(lambda: measure(label, cmd), lambda pair: pair)
            for run in measured:
                runs.setdefault(run.variant, []).append(run)
            print(f"  validation round {round_index + 1}: {label}: " + ", ".join(
                f"{run.variant.split(', ', 1)[1]} {run.events_per_s:,.0f} documents/s "
                f"({run.extra['ns_per_validation']:.0f} ns)" for run in measured)
                + f", peak RSS {measured[0].peak_rss_mb:.1f} MB, "
                  f"other CPU {measured[0].other_cpu_percent:.0f}%", flush=True)
    bench.runs["validation"] = [run for group in runs.values() for run in group]

    medians = {}
    for mode_label in MODES.values():
        baseline = bench.median_run(f"{ajv}, {mode_label}", runs[f"{ajv}, {mode_label}"])
        ours = bench.median_run(f"{OURS}, {mode_label}", runs[f"{OURS}, {mode_label}"])
        medians[mode_label] = (ours, baseline)
        bench.add_row("validation", baseline)
        ratio = bench.add_row("validation", ours, baseline)
        bench.add_target("validation", f"event-issuer ≥ 1 × ajv documents/s, {mode_label} "
                         "(own bar, no target set)", f"{ratio:.2f} ×", ratio >= 1,
                         [ours, baseline])

    invalid = len(defects)
    timings = "; ".join(
        f"{mode_label}: event-issuer {1e9 / ours.events_per_s:,.0f} ns, "
        f"ajv {1e9 / baseline.events_per_s:,.0f} ns"
        for mode_label, (ours, baseline) in medians.items())
    bench.notes.append(
        f"validation: {DOCUMENTS} documents of {average_bytes:,.0f} bytes on average, "
        f"{invalid} of them invalid with one defect each ({len(DEFECTS)} kinds in turn), "
        f"validated against bench/validation_schema.json (draft 2020-12) with formats "
        f"asserted by both. Median time per validation: {timings}. The documents/s are in "
        "the events/s column, the CPU ms column is per 1000 documents, and the peak RSS is "
        "that of the whole program, so the same for both of its modes.")
    bench.notes.append(
        f"validation: {ajv} with ajv-formats {package_version('ajv-formats')} on Node.js "
        f"{node_version}, its 2020-12 class, allErrors false; the parse + validation mode "
        "decodes the UTF-8 bytes into a string and calls JSON.parse. event-issuer stops at "
        "the first violation as well (a result with max_violations 1). Each program had "
        f"{settings.warmup:g} s of warm-up in both modes first, which V8 needs to optimise "
        "the code ajv generates, and ran pinned to the server CPU, so Node.js's garbage "
        "collector and compiler threads share that CPU.")


if __name__ == "__main__":
    raise SystemExit("validation_bench.py is part of bench/bench.py; run `make bench`")
