// Binary content mode details: percent-decoded header values, header names
// in any case, JSON-family content types, and extensions from headers.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertStoredEvent, readTopic } from './lib/eventlog.mjs';
import { assertPersisted } from './lib/expect.mjs';
import { send } from './lib/http.mjs';
import { binaryAttributes, binaryHeaders, structuredAttributes, structuredEvent } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

const TENANT = 'binary-tenant';
const PATH = `/${TENANT}/produce`;

describe('binary mode', () => {
    let server;

    before(async () => {
        server = await startServer();
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    async function produceAndRead(headers, body) {
        const res = await send(server.url, { path: PATH, headers, body });
        const id = Object.entries(headers).find(([name]) => name.toLowerCase() === 'ce-id')[1];
        assertPersisted(res, id);
        const type = Object.entries(headers).find(([name]) => name.toLowerCase() === 'ce-type')[1];
        const records = await readTopic(server.dataDir, type);
        assert.equal(records.length, 1);
        return records[0];
    }

    test('percent-encoded header values are decoded', async () => {
        const headers = binaryHeaders({
            'ce-subject': 'Caf%C3%A9%20au%20lait',
            'ce-note': '100%25%20sure',
        });
        const body = '{"ok":true}';

        const stored = await produceAndRead(headers, body);

        assertStoredEvent(stored, {
            tenant: TENANT,
            attributes: { ...binaryAttributes(headers), subject: 'Café au lait', note: '100% sure' },
            dataText: body,
        });
    });

    test('header names match in any case', async () => {
        const headers = {
            'CE-SpecVersion': '1.0',
            'Ce-Type': structuredEvent().type,
            'CE-SOURCE': '/e2e/upper',
            'ce-Id': 'mixed-case-1',
            'Ce-Subject': 'Mixed',
            'content-type': 'application/json',
        };
        const body = '[1,2,3]';

        const stored = await produceAndRead(headers, body);

        assertStoredEvent(stored, {
            tenant: TENANT,
            attributes: {
                specversion: '1.0',
                type: headers['Ce-Type'],
                source: '/e2e/upper',
                id: 'mixed-case-1',
                subject: 'Mixed',
                datacontenttype: 'application/json',
            },
            dataText: body,
        });
    });

    test('json suffix content type is accepted', async () => {
        const headers = binaryHeaders({ 'Content-Type': 'application/vnd.e2e.train+json; version=2' });
        const body = '{"train":"F6"}';

        const stored = await produceAndRead(headers, body);

        assertStoredEvent(stored, { tenant: TENANT, attributes: binaryAttributes(headers), dataText: body });
    });

    test('content type compared case-insensitively', async () => {
        const headers = binaryHeaders({ 'Content-Type': 'Application/JSON; Charset=UTF-8' });
        const body = '{"case":"upper"}';

        const stored = await produceAndRead(headers, body);

        assertStoredEvent(stored, { tenant: TENANT, attributes: binaryAttributes(headers), dataText: body });
    });

    test('extension headers are stored as strings', async () => {
        const headers = binaryHeaders({ 'ce-count': '42', 'ce-flag': 'true', 'ce-partitionkey': 'key-7' });
        const body = '{}';

        const stored = await produceAndRead(headers, body);

        assert.equal(stored.record.event.count, '42');
        assert.equal(stored.record.event.flag, 'true');
        assertStoredEvent(stored, { tenant: TENANT, attributes: binaryAttributes(headers), dataText: body });
    });

    test('headers without ce- prefix are not attributes', async () => {
        const headers = binaryHeaders({ 'X-Request-Id': 'abc', 'cex-other': 'no', 'Ocp-Apim-Subscription-Key': 'k' });
        const body = '{"plain":1}';

        const stored = await produceAndRead(headers, body);

        assertStoredEvent(stored, { tenant: TENANT, attributes: binaryAttributes(headers), dataText: body });
    });

    test('structured content type in any case selects structured mode', async () => {
        const event = structuredEvent();
        const res = await send(server.url, {
            path: PATH,
            headers: { 'Content-Type': 'Application/CloudEvents+JSON; Charset=UTF-8' },
            body: JSON.stringify(event),
        });

        assertPersisted(res, event.id);
        const records = await readTopic(server.dataDir, event.type);
        assertStoredEvent(records[0], {
            tenant: TENANT,
            attributes: structuredAttributes(event),
            dataText: JSON.stringify(event.data),
        });
    });
});
