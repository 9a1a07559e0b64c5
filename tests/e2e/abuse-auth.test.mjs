// Authentication abuse: a client trying thousands of wrong keys is
// answered 401 quickly, is logged in aggregate rather than once per
// attempt, does not slow a valid client beside it, and cannot tell from
// response times whether a key id or a tenant exists.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { NormalClient, assertUnharmed, median, percentile } from './lib/abuse.mjs';
import { KEY_HEADER, admin, createPrincipal, rememberKey, startAuthServer } from './lib/access.mjs';
import { send } from './lib/http.mjs';
import { makeDataDir } from './lib/server.mjs';

const TENANT = 'abuse-tenant';
const WRONG_KEYS = 2000;
const CONCURRENCY = 20;

function randomKey(keyId = randomBytes(8).toString('hex')) {
    const key = `eik_${keyId}_${randomBytes(32).toString('base64url')}`;
    rememberKey({ key });
    return key;
}

// Sends a produce request with key and returns { res, ms }.
async function tryKey(url, tenant, key, agent) {
    const started = performance.now();
    const res = await send(url, {
        path: `/${tenant}/produce`,
        headers: {
            [KEY_HEADER]: key, 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 'e2e.abuse.v1',
            'ce-source': '/abuse', 'Content-Type': 'application/json',
        },
        body: '{}',
        agent,
    });
    return { res, ms: performance.now() - started };
}

async function setUp() {
    const dataDir = await makeDataDir();
    await admin(dataDir, 'tenant', 'create', TENANT);
    const key = await createPrincipal(dataDir, TENANT, 'writer', [['produce', '*']]);
    const server = await startAuthServer({ dataDir });
    return { server, key };
}

test('2000 wrong keys answered 401, logged in aggregate', async () => {
    const { server, key } = await setUp();
    let stopped = false;
    try {
        const client = new NormalClient(server.url, { tenant: TENANT, headers: { [KEY_HEADER]: key.key } });
        await client.start();

        const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
        const latencies = [];
        const statuses = new Map();
        let next = 0;
        const started = performance.now();
        await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
            while (next < WRONG_KEYS) {
                next += 1;
                const { res, ms } = await tryKey(server.url, TENANT, randomKey(), agent);
                latencies.push(ms);
                statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            }
        }));
        const elapsedMs = performance.now() - started;
        agent.destroy();
        assertUnharmed(await client.stop(), { minRequests: 10 });

        assert.deepEqual([...statuses], [[401, WRONG_KEYS]], 'every wrong key is answered 401');
        const p99 = percentile(latencies, 0.99);
        assert.ok(p99 < 1000, `the 99th percentile of the 401 responses took ${p99.toFixed(1)} ms`);

        await server.stop();
        stopped = true;
        const lines = server.stderr.split('\n');
        const immediate = lines.filter((line) => / auth: failed authentication from 127\.0\.0\.1 /.test(line));
        const summaries = lines.map((line) => / auth: (\d+) more failed authentications in the last \d+ s \(0 without a key, (\d+) with an invalid, unknown or revoked key, 0 with a key of another tenant\) from 127\.0\.0\.1 \((\d+)\)/.exec(line))
            .filter(Boolean);
        // One line opens each window of 10 s and one summarizes it.
        const windows = Math.ceil(elapsedMs / 10_000) + 1;
        assert.ok(immediate.length >= 1, 'no failed authentication was logged');
        assert.ok(immediate.length <= windows,
            `${immediate.length} failed-authentication lines in ${elapsedMs.toFixed(0)} ms:\n${immediate.join('\n')}`);
        assert.ok(summaries.length <= windows, `${summaries.length} summary lines`);
        const summarized = summaries.reduce((sum, m) => sum + Number(m[1]), 0);
        assert.equal(immediate.length + summarized, WRONG_KEYS, 'the log lines do not count every failure');
        for (const m of summaries) {
            assert.equal(m[1], m[2], 'a summary counts invalid keys apart from its total');
            assert.equal(m[1], m[3], 'a summary counts the client address apart from its total');
        }
        assert.ok(!lines.some((line) => / INFO .*status=401/.test(line)),
            'the access log writes 401 responses at info level');
    } finally {
        if (!stopped) await server.stopAndRemoveData();
    }
});

describe('authentication timing', () => {
    const ROUNDS = 400;
    let server;
    let key;

    before(async () => {
        ({ server, key } = await setUp());
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('401 timing hides keys and tenants', async (t) => {
        const cases = {
            'unknown key id': () => [TENANT, randomKey()],
            'known key id, wrong secret': () => [TENANT, randomKey(key.id)],
            'unknown tenant, known key id': () => ['no-such-tenant', randomKey(key.id)],
            'unknown tenant, unknown key id': () => ['no-such-tenant', randomKey()],
        };
        const names = Object.keys(cases);
        const times = Object.fromEntries(names.map((name) => [name, []]));
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
            // Requests alternate between the cases over one connection, so
            // that drift in the machine's load affects them alike.
            for (let round = -20; round < ROUNDS; round++) {
                const order = round % 2 === 0 ? names : [...names].reverse();
                for (const name of order) {
                    const [tenant, wrongKey] = cases[name]();
                    const { res, ms } = await tryKey(server.url, tenant, wrongKey, agent);
                    assert.equal(res.status, 401, `${name}: ${res.text}`);
                    assert.equal(res.json.detail, 'the API key is invalid, unknown or revoked', `${name}: ${res.text}`);
                    if (round >= 0) times[name].push(ms);
                }
            }
        } finally {
            agent.destroy();
        }

        const medians = names.map((name) => median(times[name]));
        names.forEach((name, i) => t.diagnostic(`${name}: median ${medians[i].toFixed(3)} ms, p90 ${percentile(times[name], 0.9).toFixed(3)} ms`));
        const fastest = Math.min(...medians);
        const slowest = Math.max(...medians);
        // The work that depends on the key (a hash lookup and a constant-time
        // comparison) takes microseconds. A larger gap would be visible.
        const tolerance = Math.max(0.25, 0.2 * fastest);
        assert.ok(slowest - fastest < tolerance,
            `medians differ by ${(slowest - fastest).toFixed(3)} ms (tolerance ${tolerance.toFixed(3)} ms): ${medians.map((m) => m.toFixed(3)).join(', ')}`);
    });
});
