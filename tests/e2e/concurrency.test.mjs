// Many concurrent requests over keep-alive connections: every event is
// persisted once and the topic's offsets have no gaps or duplicates.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { readTopic } from './lib/eventlog.mjs';
import { assertPersisted } from './lib/expect.mjs';
import { send } from './lib/http.mjs';
import { structuredEvent, uniqueType } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

const REQUESTS = 200;
const SOCKETS = 16;

describe('concurrent producers', () => {
    let server;

    before(async () => {
        server = await startServer();
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('200 keep-alive requests all persisted', async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: SOCKETS });
        const type = uniqueType('concurrent');
        const events = Array.from({ length: REQUESTS }, (_, n) => structuredEvent({ type, data: { n } }));
        const sockets = new Set();
        agent.on('free', (socket) => sockets.add(socket));

        let responses;
        try {
            responses = await Promise.all(events.map((event) => send(server.url, {
                path: '/concurrent-tenant/produce',
                headers: { 'Content-Type': 'application/cloudevents+json' },
                body: JSON.stringify(event),
                agent,
            })));
        } finally {
            agent.destroy();
        }

        responses.forEach((res, i) => assertPersisted(res, events[i].id));
        assert.ok(sockets.size <= SOCKETS, `more than ${SOCKETS} connections were used`);
        assert.ok(sockets.size < REQUESTS, 'connections were not reused');

        const records = await readTopic(server.dataDir, type);
        assert.equal(records.length, REQUESTS);
        const storedIds = records.map((r) => r.record.event.id).sort();
        assert.deepEqual(storedIds, events.map((ev) => ev.id).sort(), 'each event stored exactly once');
        for (const stored of records) {
            const n = JSON.parse(stored.dataText).n;
            assert.equal(stored.record.event.id, events[n].id, `record at offset ${stored.record.offset} has the data of another event`);
        }
    });
});
