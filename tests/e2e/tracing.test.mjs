// W3C Trace Context: a request's traceparent names the trace in the access
// log and in problem documents. Without one, or with an invalid one, the
// server starts a new trace instead of rejecting the request.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';

import { send } from './lib/http.mjs';
import { structuredEvent } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

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
