// W3C Trace Context: a request's traceparent names the trace in the access
// log and in problem documents. Without one, or with an invalid one, the
// server starts a new trace instead of rejecting the request. The embedded
// log stores the trace context passed on with the events.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { logRead } from './lib/eventlog.mjs';
import { send } from './lib/http.mjs';
import { structuredEvent, uniqueType } from './lib/fixtures.mjs';
import { makeDataDir, startServer } from './lib/server.mjs';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const TRACE_ID_PATTERN = /^[0-9a-f]{32}$/;
// The access line is written when libmicrohttpd reports the request
// complete, which may be just after the client has the response.
const LOG_WAIT_MS = 3000;

describe('trace context', () => {
    let server;

    before(async () => {
        server = await startServer();
    });

    after(async () => {
        await server?.stopAndRemoveData();
    });

    function produce(event, headers = {}) {
        return send(server.url, {
            path: '/trace-tenant/produce',
            headers: { 'Content-Type': 'application/cloudevents+json', ...headers },
            body: JSON.stringify(event),
        });
    }

    // Waits for the access line that names traceId and returns it, or
    // undefined after LOG_WAIT_MS.
    async function accessLineWithTrace(traceId) {
        const deadline = Date.now() + LOG_WAIT_MS;
        for (;;) {
            const line = server.stderr.split('\n').find((l) => l.includes(` trace_id=${traceId}`));
            if (line || Date.now() > deadline) {
                return line;
            }
            await sleep(20);
        }
    }

    test('sent trace id reaches the log and the problem', async () => {
        const res = await produce(structuredEvent({ id: undefined }), { traceparent: TRACEPARENT });
        assert.equal(res.status, 400, res.text);
        assert.equal(res.json.traceId, TRACE_ID);

        const line = await accessLineWithTrace(TRACE_ID);
        assert.ok(line, `no access line with trace_id=${TRACE_ID}:\n${server.stderr}`);
        assert.match(line, /POST \/trace-tenant\/produce .*status=400 /);
    });

    test('persisted event logs the sent trace id', async () => {
        const traceId = 'aaaabbbbccccddddeeeeffff00001111';
        const res = await produce(structuredEvent(), {
            traceparent: `00-${traceId}-1111222233334444-00`,
            tracestate: 'congo=t61rcWkgMzE',
        });
        assert.equal(res.status, 200, res.text);
        const line = await accessLineWithTrace(traceId);
        assert.ok(line, `no access line with trace_id=${traceId}:\n${server.stderr}`);
        assert.match(line, /status=200 /);
    });

    test('request without traceparent gets a new trace', async () => {
        const first = await produce(structuredEvent({ id: undefined }));
        const second = await produce(structuredEvent({ id: undefined }));
        assert.equal(first.status, 400);
        assert.match(first.json.traceId, TRACE_ID_PATTERN);
        assert.notEqual(first.json.traceId, '0'.repeat(32));
        assert.notEqual(first.json.traceId, second.json.traceId);

        const line = await accessLineWithTrace(first.json.traceId);
        assert.ok(line, `no access line with trace_id=${first.json.traceId}:\n${server.stderr}`);
    });

    test('invalid traceparent is ignored, not rejected', async () => {
        const invalid = [
            `00-${TRACE_ID.toUpperCase()}-00f067aa0ba902b7-01`,
            `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
            `00-${TRACE_ID}-0000000000000000-01`,
            `ff-${TRACE_ID}-00f067aa0ba902b7-01`,
            `00-${TRACE_ID}-00f067aa0ba902b7-01-extra`,
            'garbage',
        ];
        for (const traceparent of invalid) {
            const ok = await produce(structuredEvent(), { traceparent });
            assert.equal(ok.status, 200, `${traceparent}: ${ok.text}`);

            const problem = await produce(structuredEvent({ id: undefined }), { traceparent });
            assert.equal(problem.status, 400, problem.text);
            assert.match(problem.json.traceId, TRACE_ID_PATTERN);
            assert.notEqual(problem.json.traceId, TRACE_ID, `${traceparent} was accepted`);
            assert.notEqual(problem.json.traceId, '0'.repeat(32));
        }
    });

    test('problems of every kind carry the trace id', async () => {
        const headers = { traceparent: TRACEPARENT };
        const notFound = await send(server.url, { method: 'GET', path: '/no/such/route', headers });
        const notAllowed = await send(server.url, { method: 'PUT', path: '/trace-tenant/produce', headers, body: '' });
        const unsupported = await send(server.url, {
            path: '/trace-tenant/produce',
            headers: { ...headers, 'Content-Type': 'application/cloudevents-batch+json' },
            body: '[]',
        });
        for (const [status, res] of [[404, notFound], [405, notAllowed], [415, unsupported]]) {
            assert.equal(res.status, status, res.text);
            assert.equal(res.json.traceId, TRACE_ID, res.text);
        }
    });
});

// The traceparent the server passes on: the caller's trace id (or a new
// one), the server's own span id and the sampled flag.
const PASSED_ON = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

describe('trace context in the embedded log', () => {
    let server;

    before(async () => {
        server = await startServer();
    });

    after(async () => {
        await server?.stopAndRemoveData();
    });

    test('records store the passed-on trace context', async () => {
        const type = uniqueType('traced');
        const res = await send(server.url, {
            path: '/trace-tenant/produce/batch',
            headers: {
                'Content-Type': 'application/cloudevents-batch+json',
                traceparent: TRACEPARENT,
                tracestate: 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE',
            },
            body: JSON.stringify([structuredEvent({ type }), structuredEvent({ type })]),
        });
        assert.equal(res.status, 200, res.text);

        const records = (await logRead(server.dataDir, type)).map((r) => r.record);
        assert.equal(records.length, 2);
        for (const record of records) {
            const match = PASSED_ON.exec(record.traceparent);
            assert.ok(match, `not a traceparent: ${record.traceparent}`);
            assert.equal(match[1], TRACE_ID);
            assert.notEqual(match[2], '00f067aa0ba902b7', 'the caller\'s span was passed on as the parent');
            assert.equal(record.traceparent, records[0].traceparent);
            assert.equal(record.tracestate, 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE');
        }
    });

    test('invalid tracestate is not stored', async () => {
        const type = uniqueType('traced');
        const res = await send(server.url, {
            path: '/trace-tenant/produce',
            headers: { 'Content-Type': 'application/cloudevents+json', traceparent: TRACEPARENT, tracestate: 'Invalid Key=1' },
            body: JSON.stringify(structuredEvent({ type })),
        });
        assert.equal(res.status, 200, res.text);
        const [{ record }] = await logRead(server.dataDir, type);
        assert.equal(PASSED_ON.exec(record.traceparent)?.[1], TRACE_ID);
        assert.ok(!('tracestate' in record), JSON.stringify(record));
    });

    test('request without traceparent stores its new trace', async () => {
        const type = uniqueType('traced');
        const res = await send(server.url, {
            path: '/trace-tenant/produce',
            headers: { 'Content-Type': 'application/cloudevents+json' },
            body: JSON.stringify(structuredEvent({ type })),
        });
        assert.equal(res.status, 200, res.text);
        const [{ record }] = await logRead(server.dataDir, type);
        const match = PASSED_ON.exec(record.traceparent);
        assert.ok(match, `not a traceparent: ${record.traceparent}`);
        assert.ok(!('tracestate' in record), JSON.stringify(record));
        // The access line of the request names the same trace.
        const deadline = Date.now() + LOG_WAIT_MS;
        while (!server.stderr.includes(`trace_id=${match[1]}`) && Date.now() < deadline) {
            await sleep(20);
        }
        assert.ok(server.stderr.includes(`trace_id=${match[1]}`), server.stderr);
    });
});

describe('event log schema migration', () => {
    // The layout of schema version 1, before the trace columns.
    const VERSION_1 = `
        CREATE TABLE meta (key TEXT NOT NULL PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE records (topic TEXT NOT NULL, "offset" INTEGER NOT NULL,
            append_time INTEGER NOT NULL, tenant TEXT NOT NULL, principal TEXT,
            partition_key TEXT, event_id TEXT, attributes TEXT, data BLOB,
            PRIMARY KEY (topic, "offset"));
        INSERT INTO meta VALUES ('schema_version', 1);
        INSERT INTO records VALUES ('old.type.v1', 0, 1700000000000000, 'acme', NULL, NULL, 'old-1',
            '{"specversion":"1.0","id":"old-1","source":"/old","type":"old.type.v1"}', NULL);`;

    test('version 1 log is read, then migrated', async () => {
        const dataDir = await makeDataDir();
        await promisify(execFile)('sqlite3', [path.join(dataDir, 'events.db'), VERSION_1]);

        // log read understands the old layout without changing it.
        const [{ record: old }] = await logRead(dataDir, 'old.type.v1');
        assert.equal(old.event.id, 'old-1');
        assert.ok(!('traceparent' in old), JSON.stringify(old));

        const server = await startServer({ dataDir });
        try {
            assert.match(server.stderr, /migrated .*events\.db from schema version 1 to 2/);
            const res = await send(server.url, {
                path: '/acme/produce',
                headers: { 'Content-Type': 'application/cloudevents+json', traceparent: TRACEPARENT },
                body: JSON.stringify(structuredEvent({ type: 'old.type.v1' })),
            });
            assert.equal(res.status, 200, res.text);

            const records = (await logRead(dataDir, 'old.type.v1')).map((r) => r.record);
            assert.deepEqual(records.map((r) => r.offset), [0, 1]);
            assert.ok(!('traceparent' in records[0]), JSON.stringify(records[0]));
            assert.equal(PASSED_ON.exec(records[1].traceparent)?.[1], TRACE_ID);
        } finally {
            await server.stopAndRemoveData();
        }
    });
});
