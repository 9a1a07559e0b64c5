// Events produced over HTTP to the Kafka backbone arrive as Kafka records in
// the CloudEvents Kafka binding's binary mode. Read back with kcat and with
// kafkajs, and decoded with the CloudEvents SDK, they equal what was sent,
// and the data bytes are unchanged. Tombstones arrive as keyed null records.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertBatchPersisted, assertPersisted, assertProblem } from './lib/expect.mjs';
import { postBatch, postStructured, send } from './lib/http.mjs';
import { uniqueId, uniqueType } from './lib/fixtures.mjs';
import {
    kafkaBackboneMissing, kcatHeaders, readWithKafkajs, readWithKcat, recordsWithId,
    startKafkaServer, startMockKafka, toCloudEvent,
} from './lib/kafka.mjs';

const TENANT = 'kafka-mapping';
const PREFIX = 'e2e.';

// Data texts that a parse-and-reserialize round trip would change.
const TRICKY_DATA = '{\n\t"big":12345678901234567890, "name":"Caf\\u00e9", "raw":"Café 🚀",\r\n "z":[ 1 , 2 ] }';

// Builds structured JSON text with dataText spliced in as the data member.
const TRACEPARENT_FORMAT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

// Splits [name, value] header pairs into the event's headers and the
// request's trace context headers (traceparent, tracestate).
function splitTraceHeaders(headers) {
    const isTrace = ([name]) => name === 'traceparent' || name === 'tracestate';
    return [headers.filter((h) => !isTrace(h)), headers.filter(isTrace)];
}

function structuredText(attributes, dataText) {
    if (dataText === undefined) {
        return JSON.stringify(attributes);
    }
    return `${JSON.stringify(attributes).slice(0, -1)},"data":${dataText}}`;
}

// Returns the only record of topic, read with kcat.
async function onlyRecord(cluster, topic) {
    const records = await readWithKcat(cluster.bootstrap, topic);
    assert.equal(records.length, 1, `expected one record in ${topic}: ${JSON.stringify(records)}`);
    return records[0];
}

describe('Kafka record mapping', () => {
    let cluster;
    let server;
    let skipReason = null;

    before(async () => {
        cluster = await startMockKafka();
        server = await startKafkaServer(cluster, { prefix: PREFIX });
        skipReason = kafkaBackboneMissing(server);
    });

    after(async () => {
        await server?.stopAndRemoveData();
        await cluster?.stop();
    });

    test('binary event maps to headers, key and value', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('binary');
        const id = uniqueId('binary');
        const headers = {
            'ce-specversion': '1.0',
            'ce-type': type,
            'ce-source': '/e2e/kafka',
            'ce-id': id,
            'ce-time': '2026-12-04T19:55:20.123Z',
            'ce-subject': 'order/1',
            'ce-dataschema': 'https://example.com/order.json',
            'ce-partitionkey': 'customer-42',
            'ce-region': 'eu-west',
            'Content-Type': 'application/json; charset=utf-8',
        };
        const body = Buffer.from(TRICKY_DATA, 'utf8');

        const res = await send(server.url, { path: `/${TENANT}/produce`, headers, body });

        assertPersisted(res, id);
        const record = await onlyRecord(cluster, PREFIX + type);
        assert.equal(record.key, 'customer-42');
        assert.equal(record.payload, TRICKY_DATA);
        const [eventHeaders, traceHeaders] = splitTraceHeaders(kcatHeaders(record));
        assert.equal(traceHeaders.length, 1, 'one traceparent header, no tracestate');
        assert.match(traceHeaders[0][1], TRACEPARENT_FORMAT);
        assert.deepEqual(eventHeaders.sort(), [
            ['ce_dataschema', 'https://example.com/order.json'],
            ['ce_id', id],
            ['ce_partitionkey', 'customer-42'],
            ['ce_region', 'eu-west'],
            ['ce_source', '/e2e/kafka'],
            ['ce_specversion', '1.0'],
            ['ce_subject', 'order/1'],
            ['ce_time', '2026-12-04T19:55:20.123Z'],
            ['ce_type', type],
            ['content-type', 'application/json; charset=utf-8'],
        ]);

        const [message] = await readWithKafkajs(cluster.bootstrap, PREFIX + type, 1);
        assert.ok(message.value.equals(body), 'the record value differs from the request body');
        const event = toCloudEvent(message);
        assert.equal(event.specversion, '1.0');
        assert.equal(event.id, id);
        assert.equal(event.type, type);
        assert.equal(event.source, '/e2e/kafka');
        assert.equal(event.time, '2026-12-04T19:55:20.123Z');
        assert.equal(event.subject, 'order/1');
        assert.equal(event.dataschema, 'https://example.com/order.json');
        assert.equal(event.datacontenttype, 'application/json; charset=utf-8');
        assert.equal(event.partitionkey, 'customer-42');
        assert.equal(event.region, 'eu-west');
        assert.deepEqual(event.data, JSON.parse(TRICKY_DATA));
    });

    test('structured event keeps data bytes and typed extensions', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('structured');
        const id = uniqueId('structured');
        const attributes = {
            specversion: '1.0',
            type,
            source: '/e2e/kafka',
            id,
            time: '2018-04-05T17:31:00.250Z',
            priority: 7,
            urgent: true,
            traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        };

        const res = await postStructured(server.url, `/${TENANT}/produce`, structuredText(attributes, TRICKY_DATA));

        assertPersisted(res, id);
        const record = await onlyRecord(cluster, PREFIX + type);
        assert.equal(record.key, null);
        assert.equal(record.payload, TRICKY_DATA);
        const headers = Object.fromEntries(kcatHeaders(record));
        assert.equal(headers.ce_priority, '7');
        assert.equal(headers.ce_urgent, 'true');
        assert.equal(headers['content-type'], 'application/json');
        assert.equal(headers.ce_datacontenttype, undefined);

        const [message] = await readWithKafkajs(cluster.bootstrap, PREFIX + type, 1);
        assert.ok(message.value.equals(Buffer.from(TRICKY_DATA, 'utf8')),
            'the record value differs from the data text');
        const event = toCloudEvent(message);
        assert.equal(event.id, id);
        assert.equal(event.time, attributes.time);
        assert.equal(event.traceparent, attributes.traceparent);
        // Kafka headers are strings, so typed extensions read back as their
        // canonical string form.
        assert.equal(event.priority, '7');
        assert.equal(event.urgent, 'true');
        // An event without datacontenttype has JSON data, so the record
        // declares application/json.
        assert.equal(event.datacontenttype, 'application/json');
        assert.equal(event.partitionkey, undefined);
    });

    test('request trace context becomes record headers', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('traced');
        const id = uniqueId('traced');
        const requestTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
        const eventTraceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
        const body = structuredText({ specversion: '1.0', type, source: '/e2e/kafka', id,
            traceparent: eventTraceparent }, '{"a":1}');

        const res = await send(server.url, {
            path: `/${TENANT}/produce`,
            headers: {
                'Content-Type': 'application/cloudevents+json',
                traceparent: `00-${requestTrace}-00f067aa0ba902b7-01`,
                tracestate: 'vendor=value',
            },
            body,
        });

        assertPersisted(res, id);
        const headers = Object.fromEntries(kcatHeaders(await onlyRecord(cluster, PREFIX + type)));
        // The record carries the request's trace with the server's own span.
        assert.match(headers.traceparent, new RegExp(`^00-${requestTrace}-[0-9a-f]{16}-01$`));
        assert.notEqual(headers.traceparent, `00-${requestTrace}-00f067aa0ba902b7-01`);
        assert.equal(headers.tracestate, 'vendor=value');
        // The event's own traceparent extension is an attribute, unchanged.
        assert.equal(headers.ce_traceparent, eventTraceparent);
    });

    test('batch events each become one record', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('batch');
        const events = Array.from({ length: 20 }, (_, i) => ({
            specversion: '1.0',
            type,
            source: '/e2e/kafka',
            id: uniqueId('batch'),
            partitionkey: `key-${i % 4}`,
            data: { n: i },
        }));

        const res = await postBatch(server.url, `/${TENANT}/produce/batch`, JSON.stringify(events));

        assertBatchPersisted(res, events.map((event) => event.id));
        const records = await readWithKcat(cluster.bootstrap, PREFIX + type);
        assert.equal(records.length, events.length);
        for (const event of events) {
            const found = recordsWithId(records, event.id);
            assert.equal(found.length, 1, `event ${event.id} is stored ${found.length} times`);
            assert.equal(found[0].key, event.partitionkey);
            assert.equal(found[0].payload, JSON.stringify(event.data));
        }
        // One key, one partition.
        for (let k = 0; k < 4; k++) {
            const partitions = new Set(records.filter((r) => r.key === `key-${k}`).map((r) => r.partition));
            assert.equal(partitions.size, 1, `key-${k} is spread over partitions ${[...partitions]}`);
        }

        const messages = await readWithKafkajs(cluster.bootstrap, PREFIX + type, events.length);
        const decoded = new Map(messages.map((message) => {
            const event = toCloudEvent(message);
            return [event.id, event];
        }));
        for (const event of events) {
            assert.deepEqual(decoded.get(event.id)?.data, event.data);
            assert.equal(decoded.get(event.id)?.partitionkey, event.partitionkey);
        }
    });

    test('event without data has a null value', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('nodata');
        const id = uniqueId('nodata');
        const text = JSON.stringify({ specversion: '1.0', type, source: '/e2e/kafka', id, partitionkey: 'k1' });

        const res = await postStructured(server.url, `/${TENANT}/produce`, text);

        assertPersisted(res, id);
        const record = await onlyRecord(cluster, PREFIX + type);
        assert.equal(record.payload, null);
        assert.equal(record.key, 'k1');
        const headers = Object.fromEntries(kcatHeaders(record));
        assert.equal(headers.ce_id, id);
        assert.equal(headers['content-type'], undefined, 'no data, so no content-type');

        const [message] = await readWithKafkajs(cluster.bootstrap, PREFIX + type, 1);
        assert.equal(message.value, null);
    });

    test('binary event without body has a null value', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('emptybody');
        const id = uniqueId('emptybody');
        const headers = {
            'ce-specversion': '1.0',
            'ce-type': type,
            'ce-source': '/e2e/kafka',
            'ce-id': id,
        };

        const res = await send(server.url, { path: `/${TENANT}/produce`, headers, body: '' });

        assertPersisted(res, id);
        const record = await onlyRecord(cluster, PREFIX + type);
        assert.equal(record.payload, null);
        assert.equal(record.key, null);
    });

    for (const [topicMember, keyMember] of [['topic', 'partitionkey'], ['topicName', 'key']]) {
        test(`tombstone with ${topicMember} and ${keyMember} is a keyed null record`, async (t) => {
            if (skipReason) {
                t.skip(skipReason);
                return;
            }
            const type = uniqueType('tombstone');
            const body = JSON.stringify({ id: uniqueId('tombstone'), [topicMember]: type, [keyMember]: 'customer-7' });

            const res = await send(server.url, {
                method: 'DELETE',
                path: `/${TENANT}/produce`,
                headers: { 'Content-Type': 'application/json' },
                body,
            });

            assert.equal(res.status, 204, res.text);
            const record = await onlyRecord(cluster, PREFIX + type);
            assert.equal(record.key, 'customer-7');
            assert.equal(record.payload, null);
            const [eventHeaders, traceHeaders] = splitTraceHeaders(kcatHeaders(record));
            assert.deepEqual(eventHeaders, [], 'a tombstone has no ce_ or content-type headers');
            assert.deepEqual(traceHeaders.map(([name]) => name), ['traceparent']);
        });
    }

    test('event type that cannot name a topic is rejected', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const id = uniqueId('badtopic');
        const text = JSON.stringify({
            specversion: '1.0', type: 'com.example/order created', source: '/e2e/kafka', id, data: 1,
        });

        const res = await postStructured(server.url, `/${TENANT}/produce`, text);

        assertProblem(res, { status: 400 });
        assert.equal(res.json.events?.[0]?.persistenceStatus, 'NotPersisted', res.text);
    });
});
