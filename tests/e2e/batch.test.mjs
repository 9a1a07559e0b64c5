// Batch mode: results in request order, one topic per type, and
// all-or-nothing storage with every failing index reported.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertStoredEvent, expectNothingStored, readTopic } from './lib/eventlog.mjs';
import { assertBatchPersisted, assertProblem } from './lib/expect.mjs';
import { postBatch } from './lib/http.mjs';
import { structuredAttributes, structuredEvent, uniqueType } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

const TENANT = 'batch-tenant';
const PATH = `/${TENANT}/produce/batch`;

describe('batch mode', () => {
    let server;

    before(async () => {
        server = await startServer();
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('empty batch returns empty array', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await postBatch(server.url, PATH, '[]');

        assertBatchPersisted(res, []);
        assert.equal(res.text.replace(/\s/g, ''), '[]');
        await checkNothingStored();
    });

    test('mixed types go to their topics in order', async () => {
        const typeA = uniqueType('batch-a');
        const typeB = uniqueType('batch-b');
        const events = [typeA, typeB, typeA, typeB, typeA].map((type, n) => structuredEvent({ type, data: { n } }));

        const res = await postBatch(server.url, PATH, JSON.stringify(events));

        assertBatchPersisted(res, events.map((ev) => ev.id));
        const topicA = await readTopic(server.dataDir, typeA);
        const topicB = await readTopic(server.dataDir, typeB);
        assert.deepEqual(topicA.map((r) => r.record.event.id), [events[0].id, events[2].id, events[4].id]);
        assert.deepEqual(topicB.map((r) => r.record.event.id), [events[1].id, events[3].id]);
        for (const stored of [...topicA, ...topicB]) {
            const sent = events.find((ev) => ev.id === stored.record.event.id);
            assertStoredEvent(stored, { tenant: TENANT, attributes: structuredAttributes(sent), dataText: JSON.stringify(sent.data) });
        }
    });

    test('invalid events reported with every index', async () => {
        const type = uniqueType('batch-invalid');
        const events = [
            structuredEvent({ type }),
            structuredEvent({ type, id: undefined }),
            structuredEvent({ type }),
            structuredEvent({ type, time: 'not-a-time' }),
            structuredEvent({ type }),
        ];
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await postBatch(server.url, PATH, JSON.stringify(events));

        const problem = assertProblem(res, { status: 400, rule: 'required', attribute: 'id', index: 1 });
        assertProblem(res, { status: 400, rule: 'rfc3339', attribute: 'time', index: 3 });
        const indexes = [...new Set(problem.errors.map((e) => e.index))].sort();
        assert.deepEqual(indexes, [1, 3], `only the invalid events must be listed: ${res.text}`);
        await checkNothingStored();
    });

    test('400 and 415 violations together give 400', async () => {
        const type = uniqueType('batch-mixed-status');
        const events = [
            structuredEvent({ type, data: undefined, data_base64: 'AAEC' }),
            structuredEvent({ type, source: '' }),
        ];
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await postBatch(server.url, PATH, JSON.stringify(events));

        assertProblem(res, { status: 400, rule: 'data-base64', attribute: 'data_base64', index: 0 });
        assertProblem(res, { status: 400, rule: 'empty', attribute: 'source', index: 1 });
        await checkNothingStored();
    });

    test('element that is not an object', async () => {
        const events = [structuredEvent(), structuredEvent()];
        const body = `[${JSON.stringify(events[0])},${JSON.stringify(events[1])},42]`;
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await postBatch(server.url, PATH, body);

        assertProblem(res, { status: 400, rule: 'not-an-object', index: 2 });
        await checkNothingStored();
    });

    test('duplicate member in element', async () => {
        const good = structuredEvent();
        const bad = structuredEvent();
        const badText = `${JSON.stringify(bad).slice(0, -1)},"source":"/again"}`;
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await postBatch(server.url, PATH, `[${JSON.stringify(good)},${badText}]`);

        assertProblem(res, { status: 400, rule: 'duplicate', attribute: 'source', index: 1 });
        await checkNothingStored();
    });

    test('body that is not an array', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await postBatch(server.url, PATH, JSON.stringify(structuredEvent()));

        assertProblem(res, { status: 400, rule: 'not-an-array' });
        await checkNothingStored();
    });

    test('malformed batch body', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await postBatch(server.url, PATH, `[${JSON.stringify(structuredEvent())},`);

        assertProblem(res, { status: 400, rule: 'json-syntax' });
        await checkNothingStored();
    });
});
