// Size limits: a body over --max-event-bytes or --max-batch-bytes, or a batch
// over --max-batch-events, gets 413. When the Content-Length header shows the
// body is too large, the 413 response comes before the body is sent.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { expectNothingStored, readTopic } from './lib/eventlog.mjs';
import { assertBatchPersisted, assertPersisted, assertProblem } from './lib/expect.mjs';
import { postBatch, postStructured, rawHead, send, sendRaw } from './lib/http.mjs';
import { binaryHeaders, structuredEvent, uniqueType } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

const MAX_EVENT_BYTES = 1024;
const MAX_BATCH_BYTES = 4096;
const MAX_BATCH_EVENTS = 3;
const PRODUCE = '/limits-tenant/produce';
const BATCH = '/limits-tenant/produce/batch';
// A server that waits for a body it will reject never responds in these tests.
const EARLY_ANSWER_MS = 5000;

// Returns structured JSON text of exactly size bytes (ASCII only).
function structuredOfSize(size, overrides = {}) {
    const event = structuredEvent({ ...overrides, data: { pad: '' } });
    const base = JSON.stringify(event).length;
    assert.ok(size >= base, `cannot build an event of ${size} bytes`);
    event.data.pad = 'x'.repeat(size - base);
    const text = JSON.stringify(event);
    assert.equal(Buffer.byteLength(text), size);
    return { event, text };
}

describe('size limits', () => {
    let server;

    before(async () => {
        server = await startServer({
            args: [
                '--max-event-bytes', String(MAX_EVENT_BYTES),
                '--max-batch-bytes', String(MAX_BATCH_BYTES),
                '--max-batch-events', String(MAX_BATCH_EVENTS),
            ],
        });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('413 before the body is sent', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const head = rawHead('POST', PRODUCE, [
            ['Content-Type', 'application/cloudevents+json'],
            ['Content-Length', '10000000'],
        ]);

        // Only the head is sent, so the server must respond without the body.
        const res = await sendRaw(server.port, head, undefined, { timeoutMs: EARLY_ANSWER_MS });

        assertProblem(res, { status: 413, rule: 'too-large' });
        await checkNothingStored();
    });

    test('413 instead of 100 Continue', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const head = rawHead('POST', BATCH, [
            ['Content-Type', 'application/cloudevents-batch+json'],
            ['Content-Length', String(MAX_BATCH_BYTES + 1)],
            ['Expect', '100-continue'],
        ]);

        const res = await sendRaw(server.port, head, undefined, { untilFirstResponse: true, timeoutMs: EARLY_ANSWER_MS });

        assertProblem(res, { status: 413, rule: 'too-large' });
        await checkNothingStored();
    });

    test('binary head with large length gets 413', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const pairs = Object.entries(binaryHeaders());
        pairs.push(['Content-Length', String(MAX_EVENT_BYTES + 1)]);

        const res = await sendRaw(server.port, rawHead('POST', PRODUCE, pairs), undefined, { timeoutMs: EARLY_ANSWER_MS });

        assertProblem(res, { status: 413, rule: 'too-large' });
        await checkNothingStored();
    });

    test('event of exactly the limit is accepted', async () => {
        const { event, text } = structuredOfSize(MAX_EVENT_BYTES);

        const res = await postStructured(server.url, PRODUCE, text);

        assertPersisted(res, event.id);
        assert.equal((await readTopic(server.dataDir, event.type)).length, 1);
    });

    test('event one byte over the limit gets 413', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const { text } = structuredOfSize(MAX_EVENT_BYTES + 1);

        const res = await postStructured(server.url, PRODUCE, text);

        assertProblem(res, { status: 413, rule: 'too-large' });
        await checkNothingStored();
    });

    test('chunked body over the limit gets 413', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const { text } = structuredOfSize(MAX_EVENT_BYTES + 200);

        const res = await send(server.url, {
            path: PRODUCE,
            headers: { 'Content-Type': 'application/cloudevents+json' },
            body: text,
            chunked: true,
        });

        assertProblem(res, { status: 413, rule: 'too-large' });
        await checkNothingStored();
    });

    test('batch at the event count limit is accepted', async () => {
        const type = uniqueType('limit-batch');
        const events = Array.from({ length: MAX_BATCH_EVENTS }, () => structuredEvent({ type }));

        const res = await postBatch(server.url, BATCH, JSON.stringify(events));

        assertBatchPersisted(res, events.map((ev) => ev.id));
        assert.equal((await readTopic(server.dataDir, type)).length, MAX_BATCH_EVENTS);
    });

    test('batch over the event count limit gets 413', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const events = Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => structuredEvent());

        const res = await postBatch(server.url, BATCH, JSON.stringify(events));

        assertProblem(res, { status: 413, rule: 'too-many-events' });
        await checkNothingStored();
    });

    test('batch element over the event limit gets 413', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const small = structuredEvent();
        const { text } = structuredOfSize(MAX_EVENT_BYTES + 1);

        const res = await postBatch(server.url, BATCH, `[${JSON.stringify(small)},${text}]`);

        assertProblem(res, { status: 413, rule: 'too-large', index: 1 });
        await checkNothingStored();
    });
});

// The request line and headers share the connection's memory
// (--connection-memory, 8 KiB by default) with its buffers.
describe('header size limit', () => {
    let defaults;
    let raised;

    before(async () => {
        defaults = await startServer();
        raised = await startServer({ args: ['--connection-memory', '64K'] });
    });

    after(async () => {
        await defaults.stopAndRemoveData();
        await raised.stopAndRemoveData();
    });

    function withExtension(bytes) {
        return binaryHeaders({ 'ce-padding': 'x'.repeat(bytes) });
    }

    test('5000 bytes of headers are accepted by default', async () => {
        const headers = withExtension(5000);
        const res = await send(defaults.url, { path: '/header-tenant/produce', headers, body: '{"a":1}' });
        assertPersisted(res, headers['ce-id']);
    });

    test('headers that leave no room for the response get a 431 problem', async () => {
        const checkNothingStored = await expectNothingStored(defaults.dataDir);
        const res = await send(defaults.url, {
            path: '/header-tenant/produce', headers: withExtension(6500), body: '{"a":1}',
        });
        const problem = assertProblem(res, { status: 431 });
        assert.equal(problem.type, 'urn:event-issuer:problem:header-too-large');
        assert.match(problem.detail, /--connection-memory 8192/);
        await checkNothingStored();
    });

    // Each size of header either gets 200 with the event stored, or is
    // rejected (431, or a closed connection when not even a 431 fits) with
    // nothing stored: no event is stored without its response.
    test('no header size stores an event without answering', async () => {
        const type = uniqueType('header-scan');
        const answers = new Map();
        for (let bytes = 4000; bytes <= 8600; bytes += 24) {
            const headers = { ...binaryHeaders({ 'ce-type': type, 'ce-id': `scan-${bytes}` }), 'X-Pad': 'a'.repeat(bytes) };
            const head = rawHead('POST', '/header-tenant/produce', [...Object.entries(headers), ['Content-Length', '2']]);
            const res = await sendRaw(defaults.port, head, '{}').catch(() => null);
            answers.set(`scan-${bytes}`, res);
        }
        const stored = new Set((await readTopic(defaults.dataDir, type)).map(({ record }) => record.event.id));
        const statuses = new Set();
        for (const [id, res] of answers) {
            statuses.add(res?.status ?? 'closed');
            if (res?.status === 200) {
                assert.ok(stored.has(id), `${id} was answered 200 but not stored`);
            } else {
                assert.ok(!stored.has(id), `${id} was stored, but answered ${res?.status ?? 'nothing'}`);
            }
            if (res && res.status !== 200) {
                assert.equal(res.status, 431, `${id}: ${res.status}`);
            }
        }
        // The scan reaches every outcome: accepted, and rejected by the server.
        assert.ok(statuses.has(200), [...statuses].join(', '));
        assert.ok(statuses.has(431), [...statuses].join(', '));
    });

    test('headers past the connection memory get 431 and store nothing', async () => {
        const checkNothingStored = await expectNothingStored(defaults.dataDir);
        const res = await send(defaults.url, {
            path: '/header-tenant/produce', headers: withExtension(9000), body: '{"a":1}',
        });
        assert.equal(res.status, 431);
        await checkNothingStored();
    });

    test('a larger --connection-memory admits larger headers', async () => {
        const headers = withExtension(40000);
        const res = await send(raised.url, { path: '/header-tenant/produce', headers, body: '{"a":1}' });
        assertPersisted(res, headers['ce-id']);
    });
});
