// Helpers for the access tests. They set up the registry through the
// administration commands, send produce and tombstone requests with an API
// key, and poll until a registry change reaches a running server. They also
// record every secret and every response, so that a test can check that no
// secret leaked.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { send } from './http.mjs';
import {
    UNREGISTERED_TYPES_ARG, assertNoSanitizerReport, makeDataDir, runCli, serverBinary, startServer,
} from './server.mjs';

export const KEY_HEADER = 'Ocp-Apim-Subscription-Key';
export const KEY_PATTERN = /^eik_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

// The promise of docs/access.md: a registry change reaches a running server
// "within a second". Polling goes on longer, so that a slow change is
// reported with its delay instead of as a timeout.
export const PROPAGATION_LIMIT_MS = 1000;
const POLL_DEADLINE_MS = 3000;
const POLL_INTERVAL_MS = 20;

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;

// Full keys, secret parts and SHA-256 hashes that this process has seen.
const secrets = new Set();
// [where, text] pairs that must contain none of the secrets.
const observed = [];

// Remembers a key and its parts. The leak check looks for each of them.
export function rememberKey({ key, secret, sha256 }) {
    for (const value of [key, secret, sha256]) {
        if (value) {
            secrets.add(value);
        }
    }
}

// Records text (a response, a log, an error message) for the leak check.
export function observe(where, text) {
    observed.push([where, text]);
}

export function sha256Hex(text) {
    return createHash('sha256').update(text).digest('hex');
}

// Makes a key without the tool, as docs/access.md shows: 8 random bytes of
// key id, 32 random bytes of secret, and the SHA-256 of the secret's text.
export function makeKeyOffline() {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const key = { key: `eik_${id}_${secret}`, id, secret, sha256: sha256Hex(secret) };
    rememberKey(key);
    return key;
}

// Runs an administration command on dataDir and checks that it exits 0.
// Returns its standard output.
export async function admin(dataDir, ...args) {
    const result = await runCli([...args, '--data', dataDir]);
    observe(`stderr of event-issuer ${args.join(' ')}`, result.stderr);
    assert.equal(result.code, 0, `event-issuer ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
    return result.stdout;
}

// Runs an administration command that must fail, and returns { code,
// stdout, stderr }.
export async function adminFailing(dataDir, ...args) {
    const result = await runCli([...args, '--data', dataDir]);
    observe(`stderr of event-issuer ${args.join(' ')}`, result.stderr);
    assert.notEqual(result.code, 0, `event-issuer ${args.join(' ')} succeeded but must fail:\n${result.stdout}`);
    return result;
}

// Creates a key with `key create` and checks its output: the key id, the
// SHA-256 of the secret, and the key alone on the last line.
export async function createKey(dataDir, tenant, principal) {
    const stdout = await admin(dataDir, 'key', 'create', tenant, principal);
    const lines = stdout.trimEnd().split('\n');
    const key = lines[lines.length - 1];
    const match = KEY_PATTERN.exec(key);
    assert.ok(match, `the last line of key create is not a key: ${JSON.stringify(key)}`);
    const [, id, secret] = match;
    const sha256 = /^sha256: ([0-9a-f]{64})$/m.exec(stdout)?.[1];
    assert.equal(/^key id: ([0-9a-f]{16})$/m.exec(stdout)?.[1], id, `key create printed another key id:\n${stdout}`);
    assert.equal(sha256, sha256Hex(secret), `key create printed a hash that is not the SHA-256 of the secret:\n${stdout}`);
    const created = { key, id, secret, sha256 };
    rememberKey(created);
    return created;
}

// Creates a principal in an existing tenant with the grants given as
// [action, pattern] pairs, and returns a new key of it.
export async function createPrincipal(dataDir, tenant, principal, grants) {
    await admin(dataDir, 'principal', 'create', tenant, principal);
    for (const [action, pattern] of grants) {
        await admin(dataDir, 'policy', 'grant', tenant, principal, action, pattern);
    }
    return createKey(dataDir, tenant, principal);
}

// Starts a server with authentication on, and checks that it is on: the
// servers of the other tests turn it off.
export async function startAuthServer(options = {}) {
    const server = await startServer({ ...options, auth: true });
    if (/AUTHENTICATION IS OFF/.test(server.stderr)) {
        await server.stopAndRemoveData();
        assert.fail(`the server started without authentication:\n${server.stderr}`);
    }
    return server;
}

// Sends a request with http.mjs and records its status line, headers and
// body for the leak check.
export async function request(baseUrl, options) {
    const res = await send(baseUrl, options);
    observe(`response to ${options.method ?? 'POST'} ${options.path}`,
        `${res.status}\n${JSON.stringify(res.headers)}\n${res.text}`);
    return res;
}

let sequence = 0;

// Returns an event id that no other request of this process uses.
export function nextId(name) {
    sequence += 1;
    return `${name}-${process.pid}-${sequence}`;
}

function eventObject(type, id) {
    return { specversion: '1.0', type, source: '/e2e/access', id, data: { id } };
}

// Produces one event of type for tenant in mode "binary", "structured" or
// "batch" (a batch of that one event). Without key the request has no key
// header. keyHeader names the header that carries the key.
export function produce(baseUrl, { tenant, key, keyHeader = KEY_HEADER, type, id = nextId('event'), mode = 'binary', headers = {} }) {
    const all = { ...headers };
    if (key !== undefined) {
        all[keyHeader] = key;
    }
    if (mode === 'binary') {
        Object.assign(all, {
            'ce-specversion': '1.0',
            'ce-type': type,
            'ce-source': '/e2e/access',
            'ce-id': id,
            'Content-Type': 'application/json',
        });
        return request(baseUrl, { path: `/${tenant}/produce`, headers: all, body: JSON.stringify({ id }) });
    }
    if (mode === 'structured') {
        all['Content-Type'] = 'application/cloudevents+json';
        return request(baseUrl, { path: `/${tenant}/produce`, headers: all, body: JSON.stringify(eventObject(type, id)) });
    }
    assert.equal(mode, 'batch', `unknown mode ${mode}`);
    all['Content-Type'] = 'application/cloudevents-batch+json';
    return request(baseUrl, { path: `/${tenant}/produce/batch`, headers: all, body: JSON.stringify([eventObject(type, id)]) });
}

// Produces a batch of events with the given types. Returns the response and
// the ids in request order.
export async function produceBatch(baseUrl, { tenant, key, types }) {
    const ids = types.map(() => nextId('batch'));
    const body = JSON.stringify(types.map((type, i) => eventObject(type, ids[i])));
    const res = await request(baseUrl, {
        path: `/${tenant}/produce/batch`,
        headers: { [KEY_HEADER]: key, 'Content-Type': 'application/cloudevents-batch+json' },
        body,
    });
    return { res, ids };
}

// Sends DELETE /{tenant}/produce: a tombstone for partitionKey in topic.
export function tombstone(baseUrl, { tenant, key, topic, partitionKey }) {
    return request(baseUrl, {
        method: 'DELETE',
        path: `/${tenant}/produce`,
        headers: { [KEY_HEADER]: key, 'Content-Type': 'application/json' },
        body: JSON.stringify({ topic, key: partitionKey }),
    });
}

function describeResponse(res) {
    return `HTTP ${res.status}\n${res.text}`;
}

// Checks a 403 problem without the per-event checks, as sent for a key
// used for another tenant or of a disabled tenant or principal.
export function assertForbidden(res) {
    assert.equal(res.status, 403, describeResponse(res));
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json\b/i, describeResponse(res));
    assert.equal(res.json?.type, 'urn:event-issuer:problem:forbidden', describeResponse(res));
    assert.equal(res.json.status, 403, describeResponse(res));
    assert.equal(typeof res.json.detail, 'string', describeResponse(res));
    return res.json;
}

// Checks a 403 whose errors name exactly the events at indexes (null for
// the single event of a binary, structured or tombstone request) with rule
// not-granted on attribute type.
export function assertNotGranted(res, indexes = [null]) {
    const problem = assertForbidden(res);
    assert.ok(Array.isArray(problem.errors), `a 403 for an event type has no errors list: ${res.text}`);
    assert.deepEqual(problem.errors.map((e) => e.index ?? null), indexes,
        `the errors must name exactly the forbidden events: ${res.text}`);
    for (const error of problem.errors) {
        assert.equal(error.rule, 'not-granted', res.text);
        assert.equal(error.attribute, 'type', res.text);
        assert.equal(typeof error.detail, 'string', res.text);
    }
    return problem;
}

// Checks a 401 problem and its WWW-Authenticate header, which must name
// keyHeader.
export function assertUnauthorized(res, keyHeader = KEY_HEADER) {
    assert.equal(res.status, 401, describeResponse(res));
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json\b/i, describeResponse(res));
    assert.equal(res.json?.type, 'urn:event-issuer:problem:unauthorized', describeResponse(res));
    assert.equal(res.json.status, 401, describeResponse(res));
    const challenge = res.headers['www-authenticate'];
    assert.ok(challenge, `a 401 without WWW-Authenticate: ${JSON.stringify(res.headers)}`);
    assert.ok(challenge.includes(`"${keyHeader}"`), `WWW-Authenticate does not name ${keyHeader}: ${challenge}`);
    return res.json;
}

// Sends attempt() until accept(res) returns true or the deadline passes.
// Resolves with the accepted response and the milliseconds from the call to
// the request that got it. Fails with the last response otherwise.
export async function pollUntil(attempt, accept, what) {
    const started = performance.now();
    let last;
    for (;;) {
        const sent = performance.now();
        last = await attempt();
        if (accept(last)) {
            return { res: last, elapsedMs: sent - started };
        }
        if (performance.now() - started > POLL_DEADLINE_MS) {
            assert.fail(`${what}: still not the case after ${POLL_DEADLINE_MS} ms; last response:\n${describeResponse(last)}`);
        }
        await sleep(POLL_INTERVAL_MS);
    }
}

// Polls until attempt() gets a response with status, and checks that it
// got it within PROPAGATION_LIMIT_MS of the call.
export async function expectStatusSoon(attempt, status, what) {
    const { res, elapsedMs } = await pollUntil(attempt, (r) => r.status === status, what);
    assert.ok(elapsedMs <= PROPAGATION_LIMIT_MS,
        `${what}: took ${Math.round(elapsedMs)} ms, more than ${PROPAGATION_LIMIT_MS} ms`);
    return res;
}

// The ways a secret could show in text: the secrets themselves, hashes also
// in upper case and base64, and every 16-character piece of a secret part,
// so that a truncated key in a log is found too.
function leakNeedles() {
    const needles = new Map();
    for (const value of secrets) {
        needles.set(value, value);
        if (/^[0-9a-f]{64}$/.test(value)) {
            const bytes = Buffer.from(value, 'hex');
            needles.set(value.toUpperCase(), `${value} in upper case`);
            needles.set(bytes.toString('base64').replace(/=+$/, ''), `${value} in base64`);
            needles.set(bytes.toString('base64url'), `${value} in base64url`);
        } else if (/^[A-Za-z0-9_-]{43}$/.test(value)) {
            for (let i = 0; i + 16 <= value.length; i++) {
                needles.set(value.slice(i, i + 16), `part of secret ${value}`);
            }
        }
    }
    return needles;
}

// Checks every observed text, and the extra [where, text] pairs, for the
// remembered secrets. Returns how many texts and secrets it checked.
export function assertNoSecretLeaked(extra = []) {
    const texts = [...observed, ...extra];
    const needles = leakNeedles();
    for (const [where, text] of texts) {
        for (const [needle, description] of needles) {
            assert.ok(!text.includes(needle), `${where} contains ${description}:\n${text}`);
        }
    }
    return { texts: texts.length, secrets: secrets.size };
}

// A server started like lib/server.mjs does, but with its standard output
// kept: `serve --demo` prints the demo key there.
class CapturingServer {
    constructor(child, dataDir) {
        this.child = child;
        this.dataDir = dataDir;
        this.stdout = '';
        this.stderr = '';
        this.exit = new Promise((resolve) => {
            child.once('exit', (code, signal) => resolve({ code, signal }));
        });
    }

    async stop() {
        assert.equal(this.child.exitCode, null, `the server exited before it was stopped:\n${this.stderr}`);
        this.child.kill('SIGTERM');
        let timer;
        const timeout = new Promise((resolve) => {
            timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
        });
        const exit = await Promise.race([this.exit, timeout]);
        clearTimeout(timer);
        if (exit === null) {
            this.child.kill('SIGKILL');
            assert.fail(`the server did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM`);
        }
        assert.deepEqual(exit, { code: 0, signal: null }, `the server exited abnormally after SIGTERM:\n${this.stderr}`);
        assertNoSanitizerReport(this.stderr, 'the server');
    }

    // Resolves with the first match of pattern in the standard output. The
    // two output streams arrive through separate pipes, so text printed
    // before the address was logged may still be on its way.
    async waitForStdout(pattern) {
        const started = performance.now();
        for (;;) {
            const match = pattern.exec(this.stdout);
            if (match) {
                return match;
            }
            if (performance.now() - started > POLL_DEADLINE_MS) {
                assert.fail(`the server printed nothing matching ${pattern} on standard output:\n${this.stdout}`);
            }
            await sleep(POLL_INTERVAL_MS);
        }
    }
}

// Starts `event-issuer serve` on 127.0.0.1 with a free port and keeps both
// output streams. Resolves once the server logs its address. Event types
// without a registered schema are accepted, as with startServer.
export async function startServerCapturingStdout({ dataDir, args = [] } = {}) {
    const dir = dataDir ?? (await makeDataDir());
    const child = spawn(serverBinary(),
        ['serve', '--listen', '127.0.0.1:0', '--data', dir, UNREGISTERED_TYPES_ARG, ...args],
        { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new CapturingServer(child, dir);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
        server.stdout += chunk;
    });

    server.port = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`the server did not log its address within ${START_TIMEOUT_MS} ms:\n${server.stderr}`));
        }, START_TIMEOUT_MS);
        child.stderr.on('data', (chunk) => {
            server.stderr += chunk;
            const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(server.stderr);
            if (match) {
                clearTimeout(timer);
                resolve(Number(match[1]));
            }
        });
        child.once('error', (err) => {
            clearTimeout(timer);
            reject(new Error(`cannot start ${serverBinary()}: ${err.message}`));
        });
        server.exit.then(({ code, signal }) => {
            clearTimeout(timer);
            reject(new Error(`the server exited during start-up (code ${code}, signal ${signal}):\n${server.stderr}`));
        });
    });
    server.url = `http://127.0.0.1:${server.port}`;
    return server;
}
