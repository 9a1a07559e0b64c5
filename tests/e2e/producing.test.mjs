// The three requests of the Producing guide (binary, structured, batch), sent
// as that guide writes them, under the /event-issuer/v1 base path.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertStoredBytes, assertStoredEvent, readTopic } from './lib/eventlog.mjs';
import { assertBatchPersisted, assertPersisted } from './lib/expect.mjs';
import { send } from './lib/http.mjs';
import { startServer } from './lib/server.mjs';

const BASE = '/event-issuer/v1';
const TENANT = 'tenant-guide';

describe('producing guide requests', () => {
    let server;

    before(async () => {
        server = await startServer({ args: ['--base-path', BASE] });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('binary event with charset is persisted', async () => {
        const type = 'cloud.domain.sub-domain.event.v1';
        const headers = {
            'ce-specversion': '1.0',
            'ce-type': type,
            'ce-time': '2018-04-05T03:56:24Z',
            'ce-id': '1234-1234-1234',
            'ce-source': '/mycontext/subcontext',
            'Content-Type': 'application/json; charset=utf-8',
        };
        const body = '{\n    "train": "R10",\n    "delayMinutes": 4,\n    "cancelled": false\n}';

        const res = await send(server.url, { path: `${BASE}/${TENANT}/produce`, headers, body });

        assertPersisted(res, '1234-1234-1234');
        const records = await readTopic(server.dataDir, type);
        assertStoredEvent(records.at(-1), {
            tenant: TENANT,
            attributes: {
                specversion: '1.0',
                type,
                time: '2018-04-05T03:56:24Z',
                id: '1234-1234-1234',
                source: '/mycontext/subcontext',
                datacontenttype: 'application/json; charset=utf-8',
            },
            dataText: body,
        });
        await assertStoredBytes(server.dataDir, type, records.length - 1, body);
    });

    test('structured event with charset is persisted', async () => {
        const type = 'cloud.domain.sub-domain.event.v1';
        const dataText = '{\n        "train": "L1",\n        "platform": "3"\n    }';
        const body = `{
    "specversion" : "1.0",
    "type" : "${type}",
    "source" : "/mycontext/subcontext",
    "id" : "structured-guide-1",
    "time" : "2018-04-05T03:56:24Z",
    "data" : ${dataText}
}`;

        const res = await send(server.url, {
            path: `${BASE}/${TENANT}/produce`,
            headers: { 'Content-Type': 'application/cloudevents+json; charset=utf-8' },
            body,
        });

        assertPersisted(res, 'structured-guide-1');
        const records = await readTopic(server.dataDir, type);
        assertStoredEvent(records.at(-1), {
            tenant: TENANT,
            attributes: {
                specversion: '1.0',
                type,
                source: '/mycontext/subcontext',
                id: 'structured-guide-1',
                time: '2018-04-05T03:56:24Z',
            },
            dataText,
        });
        await assertStoredBytes(server.dataDir, type, records.length - 1, dataText);
    });

    test('batch of two types is persisted in order', async () => {
        const first = {
            specversion: '1.0',
            type: 'cloud.domain.sub-domain.event.v1',
            source: '/mycontext/subcontext',
            id: 'batch-guide-1',
            time: '2018-04-05T03:56:24Z',
        };
        const second = { ...first, type: 'cloud.domain.sub-domain.event.v2', id: 'batch-guide-2' };
        const firstData = '{ "seat": 12 }';
        const secondData = '{ "seat": 14 }';
        const body = `[
    ${JSON.stringify(first).slice(0, -1)}, "data" : ${firstData} },
    ${JSON.stringify(second).slice(0, -1)}, "data" : ${secondData} }
]`;
        const before = (await readTopic(server.dataDir, first.type)).length;

        const res = await send(server.url, {
            path: `${BASE}/${TENANT}/produce/batch`,
            headers: { 'Content-Type': 'application/cloudevents-batch+json; charset=utf-8' },
            body,
        });

        assertBatchPersisted(res, ['batch-guide-1', 'batch-guide-2']);
        const v1 = await readTopic(server.dataDir, first.type);
        const v2 = await readTopic(server.dataDir, second.type);
        assert.equal(v1.length, before + 1, 'the v1 topic did not grow by one record');
        assert.equal(v2.length, 1, 'the v2 topic does not have exactly one record');
        assertStoredEvent(v1[before], { tenant: TENANT, attributes: first, dataText: firstData });
        assertStoredEvent(v2.at(-1), { tenant: TENANT, attributes: second, dataText: secondData });
    });
});
