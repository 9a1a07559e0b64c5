// Scrapes GET /metrics and parses the exposition with a real parser: the
// Prometheus client library for Python (Debian's python3-prometheus-client,
// installed by scripts/install-deps.sh), so the test does not trust a parser
// of its own.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

import { send } from './http.mjs';

// Debian's interpreter, which has the Debian package; a python3 earlier in
// PATH (a pyenv or a virtual environment) may not. EI_PYTHON overrides it.
const PYTHON = process.env.EI_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

const PARSER = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({
        "name": family.name,
        "type": family.type,
        "help": family.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
    })
json.dump(families, sys.stdout)
`;

// Parses exposition text into [{ name, type, help, samples: [{ name, labels,
// value }] }]. The parser names a counter family without its _total suffix;
// its samples keep it.
export function parseExposition(text) {
    return new Promise((resolve, reject) => {
        const child = execFile(PYTHON, ['-c', PARSER], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
            if (err) {
                reject(new Error(`the Prometheus parser (${PYTHON}, python3-prometheus-client) `
                    + `rejected the exposition or is missing: ${err.message}\n${stderr}\n--- exposition:\n${text}`));
                return;
            }
            resolve(JSON.parse(stdout));
        });
        child.stdin.end(text);
    });
}

// GETs path (default /metrics) from baseUrl, checks the media type and
// returns { res, families }.
export async function scrape(baseUrl, path = '/metrics') {
    const res = await send(baseUrl, { method: 'GET', path });
    assert.equal(res.status, 200, `GET ${path}: HTTP ${res.status}\n${res.text}`);
    assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    return { res, families: await parseExposition(res.text) };
}

function labelsMatch(actual, expected) {
    const keys = Object.keys(expected);
    return keys.length === Object.keys(actual).length && keys.every((key) => actual[key] === expected[key]);
}

// Returns the value of the sample named name with exactly these labels, or
// 0 when it does not exist (a counter that has not counted yet).
export function sampleValue(families, name, labels = {}) {
    for (const family of families) {
        for (const sample of family.samples) {
            if (sample.name === name && labelsMatch(sample.labels, labels)) {
                return sample.value;
            }
        }
    }
    return 0;
}

// Returns every sample named name.
export function samples(families, name) {
    return families.flatMap((family) => family.samples.filter((sample) => sample.name === name));
}

// Checks every histogram: bucket bounds increase, counts are cumulative,
// the +Inf bucket equals _count, and _sum is not negative.
export function assertHistogramInvariants(families) {
    const histograms = families.filter((family) => family.type === 'histogram');
    assert.ok(histograms.length > 0, 'the exposition has no histogram');
    for (const family of histograms) {
        const buckets = family.samples.filter((s) => s.name === `${family.name}_bucket`);
        const count = family.samples.find((s) => s.name === `${family.name}_count`);
        const sum = family.samples.find((s) => s.name === `${family.name}_sum`);
        assert.ok(buckets.length >= 2, `${family.name} has ${buckets.length} buckets`);
        assert.ok(count, `${family.name} has no _count`);
        assert.ok(sum, `${family.name} has no _sum`);

        const bounds = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
        assert.equal(bounds[bounds.length - 1], Infinity, `${family.name}: the last bucket is not +Inf`);
        for (let i = 1; i < buckets.length; i++) {
            assert.ok(bounds[i] > bounds[i - 1], `${family.name}: bucket bounds do not increase at ${bounds[i]}`);
            assert.ok(buckets[i].value >= buckets[i - 1].value,
                `${family.name}: bucket le=${buckets[i].labels.le} holds less than le=${buckets[i - 1].labels.le}`);
        }
        assert.equal(buckets[buckets.length - 1].value, count.value, `${family.name}: +Inf bucket differs from _count`);
        assert.ok(sum.value >= 0, `${family.name}: negative _sum`);
    }
}
