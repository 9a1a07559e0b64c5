// Crash safety of the embedded log. Producers send binary events and
// batches concurrently while the server is killed with SIGKILL at random
// moments, and the server restarts on the same data folder each time.
// After every restart the log must contain exactly once each event whose
// response said Persisted, no event twice, every batch whole or not at
// all, and offsets contiguous from 0 in every topic. SQLite's integrity
// check must pass too.
//
// SIGKILL ends the process but not the machine: what the kernel has
// accepted from write(2) survives, so this checks the log's transactions
// and recovery, not its syncs to disk (a power cut is not simulated).
//
// EI_CRASH_ROUNDS sets the number of kills (default 20).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { logRead } from './lib/eventlog.mjs';
import { uniqueId, uniqueType } from './lib/fixtures.mjs';
import { send } from './lib/http.mjs';
import { assertNoSanitizerReport, makeDataDir, removeDataDir, startServer } from './lib/server.mjs';

const ROUNDS = Number(process.env.EI_CRASH_ROUNDS ?? 20);
const PRODUCERS = 8;
const TENANT = 'crash-tenant';
const MAX_BATCH = 20;
// The load runs this long, chosen at random per round, before the kill.
const MIN_LOAD_MS = 200;
const MAX_LOAD_MS = 1200;

function randomInt(min, max) {
    return min + Math.floor(Math.random() * (max - min + 1));
}

// Everything sent, by event id: { topic, batch, persisted }. batch is the
// request's id, shared by the events of one batch.
class Ledger {
    constructor() {
        this.events = new Map();
        this.batches = new Map();
    }

    record(requestId, events) {
        this.batches.set(requestId, events.map((ev) => ev.id));
        for (const ev of events) {
            this.events.set(ev.id, { topic: ev.type, batch: requestId, persisted: false });
        }
    }

    persisted(ids) {
        for (const id of ids) {
            this.events.get(id).persisted = true;
        }
    }
}

function binaryRequest(types) {
    const type = types[randomInt(0, types.length - 1)];
    const event = { id: uniqueId('crash'), type };
    return {
        events: [event],
        options: {
            path: `/${TENANT}/produce`,
            headers: {
                'ce-specversion': '1.0', 'ce-id': event.id, 'ce-type': type, 'ce-source': '/crash',
                'Content-Type': 'application/json',
            },
            body: JSON.stringify({ id: event.id }),
        },
    };
}

function batchRequest(types) {
    const events = Array.from({ length: randomInt(1, MAX_BATCH) }, () => ({
        specversion: '1.0', id: uniqueId('crash'), type: types[randomInt(0, types.length - 1)],
        source: '/crash', data: { n: 1 },
    }));
    return {
        events,
        options: {
            path: `/${TENANT}/produce/batch`,
            headers: { 'Content-Type': 'application/cloudevents-batch+json' },
            body: JSON.stringify(events),
        },
    };
}

// Sends binary events and batches from PRODUCERS loops until stop() is
// called, recording each in the ledger. A request that fails because the
// server died may or may not have been stored. Any response other than 200
// with every event Persisted is an error.
function startLoad(url, types, ledger) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: PRODUCERS });
    const unexpected = [];
    let stopped = false;
    let requestCount = 0;

    async function producer() {
        while (!stopped) {
            const request = Math.random() < 0.5 ? binaryRequest(types) : batchRequest(types);
            const requestId = ++requestCount;
            ledger.record(requestId, request.events);
            let res;
            try {
                res = await send(url, { ...request.options, agent });
            } catch {
                // The server is gone; the outcome of this request is unknown.
                await sleep(5);
                continue;
            }
            const results = Array.isArray(res.json) ? res.json : [res.json];
            const persisted = res.status === 200 && results.length === request.events.length &&
                results.every((r, i) => r?.id === request.events[i].id && r?.persistenceStatus === 'Persisted');
            if (persisted) {
                ledger.persisted(request.events.map((ev) => ev.id));
            } else {
                unexpected.push(`${request.options.path}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
            }
        }
    }

    const producers = Array.from({ length: PRODUCERS }, producer);
    return {
        unexpected,
        async stop() {
            stopped = true;
            await Promise.all(producers);
            agent.destroy();
        },
    };
}

function integrityCheck(dataDir) {
    return new Promise((resolve, reject) => {
        execFile('sqlite3', [path.join(dataDir, 'events.db'), 'PRAGMA integrity_check'],
            { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
                if (err) {
                    reject(new Error(`sqlite3 integrity_check failed: ${err.message}\n${stderr}`));
                } else {
                    resolve(stdout.trim());
                }
            });
    });
}

// Reads every topic and checks the log against the ledger.
async function verifyLog(dataDir, types, ledger, round) {
    const seen = new Map();
    for (const type of types) {
        const records = await logRead(dataDir, type);
        records.forEach((stored, i) => {
            assert.equal(stored.record.offset, i, `round ${round}: offsets of ${type} are not contiguous from 0 (record ${i} has offset ${stored.record.offset})`);
            const id = stored.record.event.id;
            assert.ok(ledger.events.has(id), `round ${round}: the log holds event ${id}, which was never sent`);
            assert.equal(ledger.events.get(id).topic, type, `round ${round}: event ${id} is in the wrong topic`);
            assert.ok(!seen.has(id), `round ${round}: event ${id} is stored twice`);
            seen.set(id, stored.record.offset);
        });
    }

    for (const [id, sent] of ledger.events) {
        if (sent.persisted) {
            assert.ok(seen.has(id), `round ${round}: event ${id} was answered Persisted but is not in the log`);
        }
    }
    for (const [requestId, ids] of ledger.batches) {
        const stored = ids.filter((id) => seen.has(id)).length;
        assert.ok(stored === 0 || stored === ids.length,
            `round ${round}: request ${requestId} stored ${stored} of its ${ids.length} events`);
    }
    assert.equal(await integrityCheck(dataDir), 'ok', `round ${round}: PRAGMA integrity_check`);
    return seen.size;
}

async function kill(server) {
    server.child.kill('SIGKILL');
    const exit = await server.exit;
    assert.equal(exit.signal, 'SIGKILL', `the server exited on its own before the kill: ${JSON.stringify(exit)}\n${server.stderr}`);
    assertNoSanitizerReport(server.stderr, 'the killed server');
}

test(`sigkill under load loses no persisted event (${ROUNDS} rounds)`, { timeout: 180_000 }, async (t) => {
    const dataDir = await makeDataDir();
    const types = [uniqueType('crash'), uniqueType('crash'), uniqueType('crash')];
    const ledger = new Ledger();
    let server = await startServer({ dataDir });
    try {
        let persistedBefore = 0;
        let stored = 0;
        let roundsWithPersisted = 0;
        for (let round = 1; round <= ROUNDS; round++) {
            const load = startLoad(server.url, types, ledger);
            await sleep(randomInt(MIN_LOAD_MS, MAX_LOAD_MS));
            await kill(server);
            await load.stop();
            assert.deepEqual(load.unexpected, [], `round ${round}: responses other than 200 Persisted`);

            server = await startServer({ dataDir });
            stored = await verifyLog(dataDir, types, ledger, round);
            const persisted = [...ledger.events.values()].filter((ev) => ev.persisted).length;
            if (persisted > persistedBefore) roundsWithPersisted += 1;
            persistedBefore = persisted;
            assert.ok(stored >= persisted, `round ${round}: ${stored} events stored, ${persisted} answered Persisted`);
        }
        // A slow start under load may leave a round without a response
        // before its kill, but most rounds must have some to check.
        assert.ok(roundsWithPersisted >= ROUNDS / 2,
            `only ${roundsWithPersisted} of ${ROUNDS} rounds had requests answered Persisted before the kill`);
        await server.stop();
        t.diagnostic(`${ledger.events.size} events sent, ${persistedBefore} answered Persisted, ${stored} stored`);
    } finally {
        if (server.child.exitCode === null && server.child.signalCode === null) {
            server.child.kill('SIGKILL');
        }
        await removeDataDir(dataDir);
    }
});
