// Data is stored as the exact text that was sent: numbers beyond double
// precision, member order, escapes and whitespace survive in both modes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertStoredBytes, assertStoredEvent, readTopic, storedDataBytes } from './lib/eventlog.mjs';
import { assertBatchPersisted, assertPersisted } from './lib/expect.mjs';
import { postBatch, postStructured, send } from './lib/http.mjs';
import { binaryAttributes, binaryHeaders, structuredAttributes, structuredEvent } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

const TENANT = 'fidelity';

// Data texts that a parse-and-reserialize round trip would change.
const TRICKY_DATA = {
    big_numbers: '{"big":12345678901234567890,"precise":0.10000000000000000001,"exp":1E+400,"neg":-0.0}',
    member_order: '{"zeta":1,"alpha":2,"mid":{"z":[3,2,1],"a":null}}',
    escapes: '{"name":"Caf\\u00e9","raw":"Café","quote":"\\"q\\"","slash":"\\/","tab":"\\t"}',
    whitespace: '{\n\t"spaced" :  [ 1 , 2 ] ,\r\n  "x":{ }\n}',
    json_string: '"I\'m just a string"',
    number: '12345678901234567890',
    array: '[true,false,null,"\\ud83d\\ude80"]',
};

// Builds structured JSON text with dataText spliced in as the data member.
function structuredText(event, dataText) {
    const attributes = { ...event };
    delete attributes.data;
    return `${JSON.stringify(attributes).slice(0, -1)},"data":${dataText}}`;
}

describe('data fidelity', () => {
    let server;

    before(async () => {
        server = await startServer();
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    for (const [name, dataText] of Object.entries(TRICKY_DATA)) {
        test(`structured data kept exactly: ${name}`, async () => {
            const event = structuredEvent();

            const res = await postStructured(server.url, `/${TENANT}/produce`, structuredText(event, dataText));

            assertPersisted(res, event.id);
            const records = await readTopic(server.dataDir, event.type);
            assert.equal(records.length, 1);
            assertStoredEvent(records[0], { tenant: TENANT, attributes: structuredAttributes(event), dataText });
            await assertStoredBytes(server.dataDir, event.type, 0, dataText);
        });

        test(`binary body kept exactly: ${name}`, async () => {
            const headers = binaryHeaders();

            const res = await send(server.url, { path: `/${TENANT}/produce`, headers, body: Buffer.from(dataText, 'utf8') });

            assertPersisted(res, headers['ce-id']);
            const records = await readTopic(server.dataDir, headers['ce-type']);
            assert.equal(records.length, 1);
            assertStoredEvent(records[0], { tenant: TENANT, attributes: binaryAttributes(headers), dataText });
            await assertStoredBytes(server.dataDir, headers['ce-type'], 0, dataText);
        });
    }

    test('batch data kept exactly per event', async () => {
        const texts = Object.values(TRICKY_DATA);
        const type = structuredEvent().type;
        const events = texts.map(() => structuredEvent({ type }));
        const body = `[${events.map((ev, i) => structuredText(ev, texts[i])).join(',')}]`;

        const res = await postBatch(server.url, `/${TENANT}/produce/batch`, body);

        assertBatchPersisted(res, events.map((ev) => ev.id));
        const records = await readTopic(server.dataDir, type);
        assert.equal(records.length, texts.length);
        for (const [i, ev] of events.entries()) {
            assertStoredEvent(records[i], { tenant: TENANT, attributes: structuredAttributes(ev), dataText: texts[i] });
            await assertStoredBytes(server.dataDir, type, i, texts[i]);
        }
    });

    test('structured event without data stores no data', async () => {
        const event = structuredEvent({ data: undefined });

        const res = await postStructured(server.url, `/${TENANT}/produce`, JSON.stringify(event));

        assertPersisted(res, event.id);
        const records = await readTopic(server.dataDir, event.type);
        assertStoredEvent(records[0], { tenant: TENANT, attributes: structuredAttributes(event), dataText: undefined });
        assert.equal(await storedDataBytes(server.dataDir, event.type, 0), null);
    });

    test('binary empty body stores no data', async () => {
        const headers = binaryHeaders({ 'Content-Type': undefined });

        const res = await send(server.url, { path: `/${TENANT}/produce`, headers, body: '' });

        assertPersisted(res, headers['ce-id']);
        const records = await readTopic(server.dataDir, headers['ce-type']);
        assertStoredEvent(records[0], { tenant: TENANT, attributes: binaryAttributes(headers), dataText: undefined });
        assert.equal(await storedDataBytes(server.dataDir, headers['ce-type'], 0), null);
    });

    test('structured extension types are kept', async () => {
        const event = structuredEvent({
            count: 42,
            negative: -2147483648,
            largest: 2147483647,
            flag: true,
            label: 'text',
            dataschema: 'https://schemas.example/train/v1.json',
            datacontenttype: 'application/json',
            subject: 'Café ✓',
        });

        const res = await postStructured(server.url, `/${TENANT}/produce`, JSON.stringify(event));

        assertPersisted(res, event.id);
        const records = await readTopic(server.dataDir, event.type);
        assertStoredEvent(records[0], {
            tenant: TENANT,
            attributes: structuredAttributes(event),
            dataText: JSON.stringify(event.data),
        });
    });

    test('time with nanoseconds and offset kept', async () => {
        const event = structuredEvent({ time: '2024-02-29T23:59:59.123456789+01:00' });

        const res = await postStructured(server.url, `/${TENANT}/produce`, JSON.stringify(event));

        assertPersisted(res, event.id);
        const records = await readTopic(server.dataDir, event.type);
        assert.equal(records[0].record.event.time, event.time);
    });
});
