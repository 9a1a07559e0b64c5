// Validation benchmark of ajv, the counterpart of bench/validate_bench.c;
// bench/validation_bench.py runs both and compares them.
//
// Usage: node bench/validate_ajv.mjs SCHEMA DOCUMENTS WARMUP_SECONDS SECONDS
//
// Compiles the schema once with ajv's 2020-12 class and ajv-formats (formats
// asserted), both from tests/e2e/node_modules, and reads DOCUMENTS, one JSON
// document per line. It validates every document once and records its
// verdict, then runs both modes for WARMUP_SECONDS without counting, so that
// V8 has optimised the code ajv generated before anything is measured. Then
// it measures each mode for SECONDS in whole passes over all documents:
//
//   validate        the documents were parsed once beforehand with JSON.parse
//   parse_validate  the document's UTF-8 bytes decoded into a string and
//                   given to JSON.parse, then validation
//
// ajv keeps its default allErrors: false, so it stops at the first error
// and reports it. Prints the same JSON object as validate_bench.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(new URL("../tests/e2e/package.json", import.meta.url));
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;

function seconds(start) {
    return Number(process.hrtime.bigint() - start) / 1e9;
}

function cpuSeconds() {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1e6;
}

// Returns VmHWM of /proc/self/status in kB, as validate_bench does. Not
// process.resourceUsage().maxRSS, which also counts what the process held
// before exec, such as its parent's memory.
function peakRssKb() {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return match ? Number(match[1]) : 0;
}

// Splits the file into the byte ranges of its non-empty lines.
function loadDocuments(path) {
    const bytes = readFileSync(path);
    const documents = [];
    let start = 0;
    while (start < bytes.length) {
        let end = bytes.indexOf(0x0a, start);
        if (end < 0) end = bytes.length;
        if (end > start) documents.push(bytes.subarray(start, end));
        start = end + 1;
    }
    if (documents.length === 0) throw new Error(`${path} has no documents`);
    return { bytes, documents };
}

function validatePass(validate, parsed) {
    let valid = 0;
    for (let i = 0; i < parsed.length; i++) if (validate(parsed[i])) valid++;
    return valid;
}

function parseValidatePass(validate, documents) {
    let valid = 0;
    for (let i = 0; i < documents.length; i++)
        if (validate(JSON.parse(documents[i].toString("utf8")))) valid++;
    return valid;
}

// Runs whole passes until limit seconds have gone by, at least one pass.
function measure(pass, count, limit) {
    const cpuStart = cpuSeconds();
    const start = process.hrtime.bigint();
    const result = { passes: 0, validations: 0, valid: 0, seconds: 0, cpu_seconds: 0 };
    do {
        result.valid += pass();
        result.passes++;
        result.seconds = seconds(start);
    } while (result.seconds < limit);
    result.cpu_seconds = cpuSeconds() - cpuStart;
    result.validations = result.passes * count;
    return result;
}

function main() {
    const [schemaPath, documentsPath, warmupText, secondsText] = process.argv.slice(2);
    const warmup = Number(warmupText);
    const limit = Number(secondsText);
    if (process.argv.length !== 6 || !(warmup >= 0) || !(limit > 0)) {
        console.error("Usage: node validate_ajv.mjs SCHEMA DOCUMENTS WARMUP_SECONDS SECONDS");
        process.exit(2);
    }

    const compileStart = process.hrtime.bigint();
    const ajv = new Ajv2020({ allowUnionTypes: true });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")));
    const compileMs = 1000 * seconds(compileStart);

    const { bytes, documents } = loadDocuments(documentsPath);
    const parsed = documents.map((document) => JSON.parse(document.toString("utf8")));
    const verdicts = parsed.map((value) => (validate(value) ? "1" : "0")).join("");

    const validateOnce = () => validatePass(validate, parsed);
    const parseValidateOnce = () => parseValidatePass(validate, documents);
    const warmupStart = process.hrtime.bigint();
    while (seconds(warmupStart) < warmup) {
        validateOnce();
        parseValidateOnce();
    }

    const modes = {
        validate: measure(validateOnce, documents.length, limit),
        parse_validate: measure(parseValidateOnce, documents.length, limit),
    };
    process.stdout.write(JSON.stringify({
        documents: documents.length, bytes: bytes.length, compile_ms: compileMs, verdicts, modes,
        peak_rss_kb: peakRssKb(),
    }) + "\n");
}

main();
