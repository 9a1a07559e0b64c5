// Builds the seed corpus of every fuzz target in OUT/TARGET/ (OUT is the
// first argument, build/fuzz/corpus by default), one file per input named
// by its SHA-1. The seeds come from:
//
//   - string literals of the unit tests (tests/unit/test_json.c and
//     test_ce.c, with the ce- headers of test_ce.c's binary-mode tests);
//   - inputs written below, for the shapes the literals lack;
//   - the JSON parsing suite and the JSON Schema Test Suite, read from
//     EI_REFERENCE_DIR (default ../shared/reference) at run time. A
//     missing suite is named in the output and the rest is built;
//   - the saved inputs of fuzz/regressions/TARGET/.
//
// Usage: node fuzz/build-corpus.mjs [OUT]

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const referenceDir = process.env.EI_REFERENCE_DIR ?? path.join(repoRoot, '../shared/reference');
const outDir = path.resolve(process.argv[2] ?? path.join(repoRoot, 'build/fuzz/corpus'));

const TARGETS = ['ce_binary', 'ce_structured', 'ce_batch', 'json', 'problem', 'schema', 'server'];
const corpora = Object.fromEntries(TARGETS.map((target) => [target, new Map()]));

function add(target, input) {
    const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input, 'utf8');
    corpora[target].set(createHash('sha1').update(bytes).digest('hex'), bytes);
}

// ---- String literals of C sources ------------------------------------------

const SIMPLE_ESCAPES = { n: 10, t: 9, r: 13, '0': 0, '\\': 92, '"': 34, "'": 39, a: 7, b: 8, f: 12, v: 11, '?': 63 };

// Decodes the body of one C string literal (without its quotes) to bytes.
function decodeLiteral(body) {
    const bytes = [];
    for (let i = 0; i < body.length; i++) {
        const c = body[i];
        if (c !== '\\') {
            bytes.push(...Buffer.from(c, 'utf8'));
            continue;
        }
        const e = body[++i];
        if (e === 'x') {
            const hex = /^[0-9a-fA-F]+/.exec(body.slice(i + 1))[0];
            bytes.push(parseInt(hex, 16) & 0xff);
            i += hex.length;
        } else if (/[0-7]/.test(e)) {
            const octal = /^[0-7]{1,3}/.exec(body.slice(i))[0];
            bytes.push(parseInt(octal, 8) & 0xff);
            i += octal.length - 1;
        } else if (e === 'u' || e === 'U') {
            const digits = e === 'u' ? 4 : 8;
            bytes.push(...Buffer.from(String.fromCodePoint(parseInt(body.slice(i + 1, i + 1 + digits), 16)), 'utf8'));
            i += digits;
        } else {
            bytes.push(SIMPLE_ESCAPES[e] ?? e.charCodeAt(0));
        }
    }
    return Buffer.from(bytes);
}

// Returns the string literals of C source text, adjacent literals joined
// as the compiler joins them. Comments and character constants are skipped.
function cLiterals(source) {
    const literals = [];
    let current = null;
    let i = 0;
    while (i < source.length) {
        if (source.startsWith('//', i)) {
            i = source.indexOf('\n', i);
            if (i < 0) break;
            continue;
        }
        if (source.startsWith('/*', i)) {
            i = source.indexOf('*/', i) + 2;
            continue;
        }
        const c = source[i];
        if (c === "'") {
            i = source.indexOf("'", i + (source[i + 1] === '\\' ? 3 : 2)) + 1;
            continue;
        }
        if (c === '"') {
            let j = i + 1;
            while (source[j] !== '"') j += source[j] === '\\' ? 2 : 1;
            const bytes = decodeLiteral(source.slice(i + 1, j));
            current = current ? Buffer.concat([current, bytes]) : bytes;
            i = j + 1;
            continue;
        }
        if (!/\s/.test(c) && current) {
            literals.push(current);
            current = null;
        }
        i++;
    }
    if (current) literals.push(current);
    return literals;
}

// Returns the functions of C source text as [name, body] pairs, found by
// their "static TYPE NAME(...) {" line, which is how the unit tests write them.
function cFunctions(source) {
    const starts = [...source.matchAll(/^static \w+ \*?(\w+)\([^)]*\) \{$/gm)];
    return starts.map((m, k) => [m[1], source.slice(m.index, k + 1 < starts.length ? starts[k + 1].index : undefined)]);
}

const LITERAL = String.raw`"(?:[^"\\]|\\.)*"`;

// Binary-mode inputs of test_ce.c: each test function's ce- headers, its
// content type and body, in the layout of fuzz/ce_binary.c.
function binaryCases(source) {
    const defaults = [...source.matchAll(new RegExp(`add_header\\(binary, (${LITERAL}), (${LITERAL})\\)`, 'g'))]
        .filter((m) => /start_binary/.test(source.slice(Math.max(0, m.index - 600), m.index)));
    const cases = [];
    for (const [, body] of cFunctions(source)) {
        const headers = [];
        if (/start_binary\(/.test(body) && !/^static void start_binary/.test(body)) {
            for (const m of defaults) headers.push([m[1], m[2]]);
        }
        for (const m of body.matchAll(new RegExp(`add_header\\(&?\\w+, (${LITERAL}), (${LITERAL})`, 'g'))) {
            headers.push([m[1], m[2]]);
        }
        if (headers.length === 0) continue;
        const finish = new RegExp(`finish_binary\\(fx, &binary, (NULL|${LITERAL}), (${LITERAL})\\)`).exec(body);
        const lines = headers.map(([name, value]) => Buffer.concat([
            cLiterals(name)[0], Buffer.from(': '), cLiterals(value)[0] ?? Buffer.alloc(0), Buffer.from('\n')]));
        if (finish && finish[1] !== 'NULL') {
            lines.push(Buffer.concat([Buffer.from('Content-Type: '), cLiterals(finish[1])[0], Buffer.from('\n')]));
        }
        lines.push(Buffer.from('\n'));
        if (finish) lines.push(cLiterals(finish[2])[0] ?? Buffer.alloc(0));
        cases.push(Buffer.concat(lines));
    }
    return cases;
}

function readSource(relative) {
    const file = path.join(repoRoot, relative);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

// ---- Inputs written here -----------------------------------------------------

const MINIMAL = '{"specversion":"1.0","id":"1","source":"/s","type":"t"}';
const FULL = JSON.stringify({
    specversion: '1.0', id: 'A234-1234-1234', source: 'https://example.com/stations/oslo-s',
    type: 'cloud.open.train-arrived.v1', subject: 'R20', time: '2018-04-05T17:31:00.123456789+02:00',
    datacontenttype: 'application/json; charset=utf-8', dataschema: 'https://example.com/schema.json',
    partitionkey: 'R20', count: 42, urgent: true, data: { train: 'R20', platform: 4, delay: 1.5e3, tags: ['a', null] },
});
const STRUCTURED = [
    MINIMAL,
    FULL,
    '{"specversion":"1.0","id":"1","source":"/s","type":"t","data":"text"}',
    '{"specversion":"1.0","id":"1","source":"/s","type":"t","data":12345678901234567890}',
    '{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":null,"data":null}',
    '{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"AAEC"}',
    '{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/plain","data":"x"}',
    '{"specversion":"1.0","id":"1","source":"/s","type":"t","n":-2147483648,"b":false}',
    '{"specversion":"1.1","id":"","source":"::","type":"t","time":"2018-02-30T00:00:00Z"}',
    '{"specversion":"1.0","id":"\\u0000","source":"/s","type":"t\\u0007\\ud800"}',
];
const BATCHES = [
    '[]',
    `[${MINIMAL}]`,
    `[${MINIMAL},${FULL}]`,
    `[${MINIMAL},{"specversion":"1.0"},7,[]]`,
];
const BINARY_HEADERS = [
    'ce-specversion: 1.0', 'ce-id: 1234-1234-1234', 'ce-source: /mycontext/subcontext',
    'ce-type: com.example.someevent',
];
const BINARY = [
    `${BINARY_HEADERS.join('\n')}\n\n`,
    `${BINARY_HEADERS.join('\n')}\nContent-Type: application/json\nce-time: 2018-04-05T17:31:00Z\n\n{"a":[1,2,{"b":null}]}`,
    `${BINARY_HEADERS.join('\n')}\nce-subject: "quoted \\" value"\nce-partitionkey: a%20b%E2%82%AC\n\n`,
    `${BINARY_HEADERS.join('\n')}\nce-subject: %ZZ%0\nce-ID: 2\nce-datacontenttype: application/json\n\n`,
    `${BINARY_HEADERS.join('\n')}\nContent-Type: text/plain\n\nplain text`,
];
const PROBLEM_STRINGS = [
    '', 'plain', 'a "quoted" \\ value', '\u0000\u0001\u001f\u007f\u0080\u009f', '\ud7ff\ue000\uffff',
    `eik_0123456789abcdef_${'S'.repeat(43)}`, `eik_0123456789abcdef_${'S'.repeat(43)}/produce`,
    'x'.repeat(200), '€'.repeat(70),
];
const PROBLEM_BYTES = [
    Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80]),
    Buffer.from([0xe2, 0x82]), Buffer.from([0x61, 0xc3]),
];

// Builds a server input (fuzz/server.c's layout).
function serverInput(requestLine, headers, body = '') {
    return `${requestLine}\n${headers.map((h) => `${h}\n`).join('')}\n${body}`;
}

function serverInputs() {
    const inputs = [];
    for (const body of STRUCTURED) {
        inputs.push(serverInput('POST /acme/produce', ['Content-Type: application/cloudevents+json; charset=utf-8'], body));
    }
    inputs.push(serverInput('POST /acme/produce', ['Content-Type: application/cloudevents'], MINIMAL));
    for (const body of BATCHES) {
        inputs.push(serverInput('POST /acme/produce/batch', ['Content-Type: application/cloudevents-batch+json'], body));
    }
    inputs.push(serverInput('POST /acme/produce/batch chunked', ['Content-Type: application/cloudevents-batch+json'], BATCHES[2]));
    inputs.push(serverInput('POST /acme/produce chunked', [...BINARY_HEADERS, 'Content-Type: application/json'], '{"a":1}'));
    inputs.push(serverInput('POST /acme/produce', [...BINARY_HEADERS, 'Content-Type: application/json', 'Expect: 100-continue'], '{"a":1}'));
    inputs.push(serverInput('POST /acme/produce', BINARY_HEADERS));
    inputs.push(serverInput('POST /acme/produce', [...BINARY_HEADERS, 'Content-Type: application/xml'], '<a/>'));
    inputs.push(serverInput('POST /acme/produce', ['Content-Type: application/cloudevents-batch+json'], '[]'));
    inputs.push(serverInput('DELETE /acme/produce', ['Content-Type: application/json'], '{"topic":"t","key":"k"}'));
    inputs.push(serverInput('DELETE /acme/produce', ['Content-Type: application/json'], '{"topic":"t","key":"k","id":"x"}'));
    inputs.push(serverInput('GET /healthz', []));
    inputs.push(serverInput('HEAD /healthz', []));
    inputs.push(serverInput('GET /acme/produce', []));
    inputs.push(serverInput('PUT /acme/produce/batch', []));
    inputs.push(serverInput('POST /a%2Fb/produce', []));
    inputs.push(serverInput(`POST /${'t'.repeat(129)}/produce`, []));
    inputs.push(serverInput('POST /eik_0123456789abcdef_secret/produce', []));
    inputs.push(serverInput('POST /acme/produce?x=1', ['Content-Type: application/cloudevents+json'], MINIMAL));
    inputs.push(serverInput('POST /acme/produce', ['Content-Type: application/cloudevents+json'], 'x'.repeat(5000)));
    inputs.push(serverInput('POST /acme/produce', ['traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', ...BINARY_HEADERS]));

    // Events of the type that fuzz/server.c registers a schema for.
    const schemaEvent = (data) => JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: 'fuzz.schema.v1', data });
    for (const data of [{ n: 3, s: 'abc', t: '2018-04-05T17:31:00Z' }, { n: 11, s: 'ABC', t: 'yesterday', x: 1 }, [], 'n']) {
        inputs.push(serverInput('POST /acme/produce', ['Content-Type: application/cloudevents+json'], schemaEvent(data)));
        inputs.push(serverInput('POST /acme/produce/batch', ['Content-Type: application/cloudevents-batch+json'],
            `[${schemaEvent(data)},${MINIMAL}]`));
    }
    inputs.push(serverInput('POST /acme/produce', ['ce-specversion: 1.0', 'ce-id: 1', 'ce-source: /s',
        'ce-type: fuzz.schema.v1', 'ce-dataschema: /schemas/fuzz.schema.v1/versions/1', 'Content-Type: application/json'], '{"n":1}'));
    for (const path of ['/acme/schemas', '/acme/schemas/fuzz.schema.v1', '/acme/schemas/fuzz.schema.v1/versions/1',
        '/acme/schemas/fuzz.schema.v1/versions/2', '/acme/schemas/nope']) {
        inputs.push(serverInput(`GET ${path}`, []));
    }
    return inputs;
}

// ---- Reference suites ----------------------------------------------------------

function referenceFolder(relative) {
    const folder = path.join(referenceDir, relative);
    if (existsSync(folder)) return folder;
    console.log(`build-corpus: ${folder} is missing; skipping its seeds (set EI_REFERENCE_DIR)`);
    return null;
}

function filesUnder(folder, extension) {
    const found = [];
    for (const name of readdirSync(folder).sort()) {
        const file = path.join(folder, name);
        if (statSync(file).isDirectory()) found.push(...filesUnder(file, extension));
        else if (name.endsWith(extension)) found.push(file);
    }
    return found;
}

const DRAFT7_URI = 'http://json-schema.org/draft-07/schema#';

function addSchemaSuite() {
    const tests = referenceFolder('json-schema-test-suite/tests');
    if (!tests) return;
    for (const [draft, dialect] of [['draft2020-12', null], ['draft7', DRAFT7_URI]]) {
        if (!existsSync(path.join(tests, draft))) continue;
        for (const file of filesUnder(path.join(tests, draft), '.json')) {
            for (const group of JSON.parse(readFileSync(file, 'utf8'))) {
                let schema = group.schema;
                if (dialect && schema && typeof schema === 'object' && !Array.isArray(schema) && !('$schema' in schema)) {
                    schema = { $schema: dialect, ...schema };
                }
                const schemaText = JSON.stringify(schema);
                add('schema', schemaText);
                for (const test of group.tests) {
                    add('schema', `${schemaText}\u0000${JSON.stringify(test.data)}`);
                }
            }
        }
    }
}

function addParsingSuite() {
    const folder = referenceFolder('json-parsing-suite/test_parsing');
    if (!folder) return;
    for (const file of filesUnder(folder, '.json')) {
        const bytes = readFileSync(file);
        add('json', bytes);
        if (bytes.length < 4096) add('problem', bytes);
        if (bytes[0] === 0x5b) add('ce_batch', bytes);
        if (bytes[0] === 0x7b) add('ce_structured', bytes);
    }
}

// ---- Putting it together -------------------------------------------------------

for (const literal of cLiterals(readSource('tests/unit/test_json.c'))) {
    add('json', literal);
    add('problem', literal);
}
const ceSource = readSource('tests/unit/test_ce.c');
for (const literal of cLiterals(ceSource)) {
    const first = literal.toString('latin1').trimStart()[0];
    if (first === '{') add('ce_structured', literal);
    if (first === '[') add('ce_batch', literal);
    if (first === '{' || first === '[') add('json', literal);
    // Members that the tests append to a minimal event (parse_event_with).
    if (first === '"' && literal.includes(':')) {
        add('ce_structured', Buffer.concat([Buffer.from(`${MINIMAL.slice(0, -1)},`), literal, Buffer.from('}')]));
    }
    add('problem', literal);
}
for (const input of binaryCases(ceSource)) add('ce_binary', input);

for (const body of STRUCTURED) {
    add('ce_structured', body);
    add('ce_batch', `[${body}]`);
    add('json', body);
}
for (const body of BATCHES) add('ce_batch', body);
for (const input of BINARY) add('ce_binary', input);
for (const text of PROBLEM_STRINGS) add('problem', text);
for (const bytes of PROBLEM_BYTES) add('problem', bytes);
for (const input of serverInputs()) add('server', input);
add('schema', '{"type":"object","required":["a"],"properties":{"a":{"type":"string","pattern":"^[a-z]+$"}}}\u0000{"a":"x"}');

addParsingSuite();
addSchemaSuite();

// Every codec seed as a request too.
for (const body of corpora.ce_structured.values()) {
    add('server', Buffer.concat([Buffer.from('POST /acme/produce\nContent-Type: application/cloudevents+json\n\n'), body]));
}
for (const body of corpora.ce_batch.values()) {
    add('server', Buffer.concat([Buffer.from('POST /acme/produce/batch\nContent-Type: application/cloudevents-batch+json\n\n'), body]));
}
for (const input of corpora.ce_binary.values()) {
    add('server', Buffer.concat([Buffer.from('POST /acme/produce\n'), input]));
}

for (const target of TARGETS) {
    const regressions = path.join(repoRoot, 'fuzz/regressions', target);
    if (existsSync(regressions)) {
        for (const file of filesUnder(regressions, '')) add(target, readFileSync(file));
    }
    const folder = path.join(outDir, target);
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    for (const [name, bytes] of corpora[target]) writeFileSync(path.join(folder, name), bytes);
    console.log(`build-corpus: ${target}: ${corpora[target].size} seeds in ${path.relative(repoRoot, folder)}`);
}
