// The official CloudEvents JavaScript SDK as a producer: binary and
// structured mode through its emitter and HTTP transport, and a batch
// through the same transport. Stored events are read back with the SDK.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { CONSTANTS, CloudEvent, HTTP, Mode, emitterFor, httpTransport } from 'cloudevents';

import { readTopic } from './lib/eventlog.mjs';
import { uniqueType } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

const TENANT = 'sdk-tenant';

// The SDK's transport resolves with the body and headers only.
function assertSdkPersisted(response, id) {
    assert.match(response.headers['content-type'] ?? '', /^application\/json\b/i, response.body);
    const result = JSON.parse(response.body);
    assert.equal(result.id, id, response.body);
    assert.equal(result.persistenceStatus, 'Persisted', response.body);
    return result;
}

// Turns a stored record back into an SDK CloudEvent, as a consumer would.
function toSdkEvent(stored) {
    return HTTP.toEvent({
        headers: { 'content-type': CONSTANTS.DEFAULT_CE_CONTENT_TYPE },
        body: JSON.stringify(stored.record.event),
    });
}

function assertSameEvent(received, sent) {
    for (const name of ['specversion', 'id', 'type', 'source', 'subject', 'partitionkey', 'sequence']) {
        assert.equal(received[name], sent[name], `attribute ${name} differs`);
    }
    assert.equal(new Date(received.time).getTime(), new Date(sent.time).getTime(), 'time differs');
    assert.deepEqual(received.data, sent.data, 'data differs');
}

function makeEvent(type, n) {
    return new CloudEvent({
        type,
        source: 'urn:e2e:sdk-producer',
        subject: `train-${n}`,
        partitionkey: `key-${n}`,
        sequence: String(n),
        data: { train: `R${n}`, delayMinutes: n, stations: ['Oslo S', 'Lillestrøm'] },
    });
}

describe('CloudEvents SDK producer', () => {
    let server;
    let produceUrl;

    before(async () => {
        server = await startServer();
        produceUrl = `${server.url}/${TENANT}/produce`;
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('sdk binary mode event is persisted', async () => {
        const emit = emitterFor(httpTransport(produceUrl), { mode: Mode.BINARY });
        const event = makeEvent(uniqueType('sdk-binary'), 1);

        const response = await emit(event);

        assertSdkPersisted(response, event.id);
        const records = await readTopic(server.dataDir, event.type);
        assert.equal(records.length, 1);
        assert.equal(records[0].record.tenant, TENANT);
        assert.equal(records[0].dataText, JSON.stringify(event.data), 'binary body not stored exactly');
        assertSameEvent(toSdkEvent(records[0]), event);
    });

    test('sdk structured mode event is persisted', async () => {
        const emit = emitterFor(httpTransport(produceUrl), { mode: Mode.STRUCTURED });
        const event = makeEvent(uniqueType('sdk-structured'), 2);

        const response = await emit(event);

        assertSdkPersisted(response, event.id);
        const records = await readTopic(server.dataDir, event.type);
        assert.equal(records.length, 1);
        assert.equal(records[0].dataText, JSON.stringify(event.data), 'data member not stored exactly');
        assertSameEvent(toSdkEvent(records[0]), event);
    });

    test('sdk batch is persisted in order', async () => {
        const transport = httpTransport(`${produceUrl}/batch`);
        const type = uniqueType('sdk-batch');
        const events = [3, 4, 5].map((n) => makeEvent(type, n));

        const response = await transport({
            headers: { 'content-type': CONSTANTS.MIME_CE_BATCH },
            body: JSON.stringify(events),
        });

        assert.match(response.headers['content-type'] ?? '', /^application\/json\b/i, response.body);
        const results = JSON.parse(response.body);
        assert.deepEqual(results.map((r) => r.id), events.map((ev) => ev.id));
        assert.ok(results.every((r) => r.persistenceStatus === 'Persisted'), response.body);

        const records = await readTopic(server.dataDir, type);
        const received = HTTP.toEvent({
            headers: { 'content-type': CONSTANTS.MIME_CE_BATCH },
            body: JSON.stringify(records.map((r) => r.record.event)),
        });
        assert.equal(received.length, 3);
        received.forEach((ev, i) => assertSameEvent(ev, events[i]));
    });
});
