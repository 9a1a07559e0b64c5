// Under broker faults injected into mock-kafka (request errors, brokers
// down), every persistenceStatus in the server's responses is truthful. An
// event reported Persisted is in its topic, and no event is reported
// Persisted while Kafka rejects it. /healthz follows the brokers.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertPersisted, assertProblem } from './lib/expect.mjs';
import { postBatch, postStructured, send } from './lib/http.mjs';
import { uniqueId, uniqueType } from './lib/fixtures.mjs';
import {
    answeredEvents, kafkaBackboneMissing, readWithKcat, recordsWithId, startKafkaServer, startMockKafka,
} from './lib/kafka.mjs';

const TENANT = 'kafka-faults';
const PREFIX = 'faults.';
const DELIVERY_TIMEOUT_MS = 2000;
const HEALTH_TIMEOUT_MS = 30_000;
const PARTITIONS = 4;

function makeEvents(type, count, { keyed = false } = {}) {
    return Array.from({ length: count }, (_, i) => ({
        specversion: '1.0',
        type,
        source: '/e2e/faults',
        id: uniqueId('fault'),
        ...(keyed ? { partitionkey: `key-${i}` } : {}),
        data: { n: i },
    }));
}

// Creates topic PREFIX + type with PARTITIONS partitions, partition p led
// by broker p % 3 + 1, so every broker leads at least one.
async function createTopic(cluster, type) {
    const topic = PREFIX + type;
    await cluster.command(`topic-create ${topic} ${PARTITIONS} 3`);
    for (let p = 0; p < PARTITIONS; p++) {
        await cluster.command(`partition-leader ${topic} ${p} ${(p % 3) + 1}`);
    }
}

async function health(server) {
    const res = await send(server.url, { method: 'GET', path: '/healthz' });
    return { status: res.status, health: res.json?.status };
}

// Polls /healthz until it reports expected ("ok", "warn" or "fail").
async function waitForHealth(server, expected) {
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    let last;
    while (Date.now() < deadline) {
        last = await health(server);
        if (last.health === expected) {
            return last;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail(`/healthz did not report ${expected} within ${HEALTH_TIMEOUT_MS} ms (last: ${JSON.stringify(last)})`);
}

// Checks that every event reported Persisted is stored exactly once in the
// topic. Returns how many events were reported Persisted.
async function assertPersistedAreStored(cluster, type, answered) {
    const records = await readWithKcat(cluster.bootstrap, PREFIX + type);
    let persisted = 0;
    for (const event of answered) {
        if (event.persistenceStatus !== 'Persisted') {
            continue;
        }
        persisted += 1;
        assert.equal(recordsWithId(records, event.id).length, 1,
            `event ${event.id} was reported Persisted but is stored ${recordsWithId(records, event.id).length} times`);
    }
    return persisted;
}

describe('Kafka faults', () => {
    let cluster;
    let server;
    let skipReason = null;

    before(async () => {
        cluster = await startMockKafka();
        server = await startKafkaServer(cluster, {
            prefix: PREFIX,
            args: ['--delivery-timeout-ms', String(DELIVERY_TIMEOUT_MS)],
        });
        skipReason = kafkaBackboneMissing(server);
    });

    after(async () => {
        await server?.stopAndRemoveData();
        await cluster?.stop();
    });

    test('healthy cluster reports ok', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const result = await waitForHealth(server, 'ok');
        assert.equal(result.status, 200);
    });

    test('rejected produce requests are never Persisted', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('refused');
        await createTopic(cluster, type);
        const events = makeEvents(type, 10);

        // More errors than retries fit in the delivery timeout.
        await cluster.command('push-errors Produce NOT_ENOUGH_REPLICAS 100000');
        let res;
        try {
            res = await postBatch(server.url, `/${TENANT}/produce/batch`, JSON.stringify(events));
        } finally {
            await cluster.command('clear-errors Produce');
        }

        assertProblem(res, { status: 503 });
        const answered = answeredEvents(res);
        assert.equal(answered.length, events.length, res.text);
        for (const event of answered) {
            assert.notEqual(event.persistenceStatus, 'Persisted', res.text);
            assert.ok(['NotPersisted', 'PossiblyPersisted'].includes(event.persistenceStatus), res.text);
            assert.match(event.error, /NOT_ENOUGH_REPLICAS|_MSG_TIMED_OUT/, res.text);
        }
        const records = await readWithKcat(cluster.bootstrap, PREFIX + type);
        assert.equal(records.length, 0, 'a rejected record was stored');
    });

    test('a few rejected requests are retried to Persisted', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('retried');
        await createTopic(cluster, type);
        const events = makeEvents(type, 10);

        await cluster.command('push-errors Produce NOT_ENOUGH_REPLICAS 3');
        const res = await postBatch(server.url, `/${TENANT}/produce/batch`, JSON.stringify(events));

        assert.equal(res.status, 200, res.text);
        const persisted = await assertPersistedAreStored(cluster, type, answeredEvents(res));
        assert.equal(persisted, events.length);
        const records = await readWithKcat(cluster.bootstrap, PREFIX + type);
        assert.equal(records.length, events.length, 'a retry stored a duplicate');
    });

    test('one broker down warns and fails only its partitions', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('partial');
        await createTopic(cluster, type);
        const warmup = makeEvents(type, 8, { keyed: true });
        const first = await postBatch(server.url, `/${TENANT}/produce/batch`, JSON.stringify(warmup));
        assert.equal(first.status, 200, first.text);

        await cluster.command('broker-down 2');
        let answered;
        try {
            const events = makeEvents(type, 40, { keyed: true });
            const res = await postBatch(server.url, `/${TENANT}/produce/batch`, JSON.stringify(events));
            assertProblem(res, { status: 503 });
            answered = answeredEvents(res);
            assert.equal(answered.length, events.length, res.text);
            await waitForHealth(server, 'warn');
        } finally {
            await cluster.command('broker-up 2');
        }
        await waitForHealth(server, 'ok');

        const failed = answered.filter((event) => event.persistenceStatus !== 'Persisted');
        assert.ok(failed.length > 0, 'broker 2 leads a partition, so some keys must fail');
        assert.ok(failed.length < answered.length, 'brokers 1 and 3 are up, so some keys must succeed');
        await assertPersistedAreStored(cluster, type, answered);
    });

    test('all brokers down fails health and events', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('outage');
        await createTopic(cluster, type);
        const before = makeEvents(type, 1)[0];
        assertPersisted(await postStructured(server.url, `/${TENANT}/produce`, JSON.stringify(before)), before.id);

        const answered = [];
        for (const id of [1, 2, 3]) {
            await cluster.command(`broker-down ${id}`);
        }
        try {
            const result = await waitForHealth(server, 'fail');
            assert.equal(result.status, 503);
            const during = makeEvents(type, 5);
            const res = await postBatch(server.url, `/${TENANT}/produce/batch`, JSON.stringify(during));
            assertProblem(res, { status: 503 });
            for (const event of answeredEvents(res)) {
                assert.notEqual(event.persistenceStatus, 'Persisted', res.text);
                answered.push(event);
            }
        } finally {
            for (const id of [1, 2, 3]) {
                await cluster.command(`broker-up ${id}`);
            }
        }
        await waitForHealth(server, 'ok');

        const after = makeEvents(type, 1)[0];
        assertPersisted(await postStructured(server.url, `/${TENANT}/produce`, JSON.stringify(after)), after.id);
        await assertPersistedAreStored(cluster, type, [
            { id: before.id, persistenceStatus: 'Persisted' },
            ...answered,
            { id: after.id, persistenceStatus: 'Persisted' },
        ]);
    });
});
