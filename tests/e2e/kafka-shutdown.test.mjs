// SIGTERM while producers keep the Kafka backbone busy: requests under way
// still get their responses, the server exits 0, and every event reported
// Persisted is in its topic.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { postBatch } from './lib/http.mjs';
import { uniqueId, uniqueType } from './lib/fixtures.mjs';
import {
    answeredEvents, kafkaBackboneMissing, readWithKcat, recordsWithId, startKafkaServer, startMockKafka,
} from './lib/kafka.mjs';
import { removeDataDir } from './lib/server.mjs';

const TENANT = 'kafka-shutdown';
const PREFIX = 'shutdown.';
const WORKERS = 16;
const BATCH = 10;
const LOAD_BEFORE_SIGNAL_MS = 1500;
const BROKER_RTT_MS = 100;

describe('Kafka shutdown under load', () => {
    let cluster;
    let server;
    let skipReason = null;

    before(async () => {
        cluster = await startMockKafka();
        server = await startKafkaServer(cluster, { prefix: PREFIX, args: ['--delivery-timeout-ms', '10000'] });
        skipReason = kafkaBackboneMissing(server);
    });

    after(async () => {
        if (server?.child.exitCode === null) {
            await server.stop();
        }
        if (server) {
            await removeDataDir(server.dataDir);
        }
        await cluster?.stop();
    });

    test('SIGTERM loses no Persisted event', async (t) => {
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        const type = uniqueType('load');
        // Slow brokers keep requests under way when the signal arrives.
        for (const id of [1, 2, 3]) {
            await cluster.command(`rtt ${id} ${BROKER_RTT_MS}`);
        }

        const answered = [];
        let signalled = false;
        let answeredAfterSignal = 0;
        let refused = 0;

        async function worker() {
            for (;;) {
                const events = Array.from({ length: BATCH }, (_, i) => ({
                    specversion: '1.0', type, source: '/e2e/shutdown', id: uniqueId('load'), data: { i },
                }));
                let res;
                try {
                    res = await postBatch(server.url, `/${TENANT}/produce/batch`, JSON.stringify(events));
                } catch {
                    // The server stopped accepting connections.
                    refused += 1;
                    return;
                }
                if (signalled) {
                    answeredAfterSignal += 1;
                }
                if (res.status === 200 || res.status === 503) {
                    answered.push(...answeredEvents(res));
                } else {
                    assert.fail(`unexpected answer during shutdown: HTTP ${res.status} ${res.text}`);
                }
                if (signalled && res.status === 503) {
                    return;
                }
            }
        }

        const workers = Array.from({ length: WORKERS }, () => worker());
        await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_SIGNAL_MS));
        signalled = true;
        await server.stop();
        await Promise.all(workers);

        const persisted = answered.filter((event) => event.persistenceStatus === 'Persisted');
        assert.ok(persisted.length > 0, 'no event was persisted before the signal');
        assert.ok(answeredAfterSignal > 0, 'no request was under way when the signal arrived');

        const records = await readWithKcat(cluster.bootstrap, PREFIX + type);
        const missing = persisted.filter((event) => recordsWithId(records, event.id).length !== 1);
        assert.deepEqual(missing.map((event) => event.id), [],
            `${missing.length} of ${persisted.length} Persisted events are not stored exactly once`);
        t.diagnostic(`${persisted.length} events Persisted, ${answeredAfterSignal} requests answered `
            + `after SIGTERM, ${refused} refused, ${records.length} records stored`);
    });
});
