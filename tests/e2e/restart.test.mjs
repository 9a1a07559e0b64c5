// Durability across a restart: events written before SIGTERM are read back
// after the server starts again on the same data folder, and new events
// continue the offsets. SIGTERM lets a request in progress finish.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { assertStoredEvent, logRead, logTopics, readTopic } from './lib/eventlog.mjs';
import { assertBatchPersisted, assertPersisted } from './lib/expect.mjs';
import { openRaw, postBatch, postStructured, rawHead } from './lib/http.mjs';
import { structuredAttributes, structuredEvent, uniqueType } from './lib/fixtures.mjs';
import { makeDataDir, removeDataDir, startServer } from './lib/server.mjs';

const TENANT = 'restart-tenant';
// Time for the server to read what was sent or to act on a signal.
const SETTLE_MS = 300;

function connect(port) {
    return new Promise((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port });
        socket.once('connect', () => {
            socket.destroy();
            resolve();
        });
        socket.once('error', reject);
    });
}

test('events survive restart and offsets continue', async () => {
    const dataDir = await makeDataDir();
    try {
        const type = uniqueType('restart');
        const first = [structuredEvent({ type }), structuredEvent({ type }), structuredEvent({ type })];
        const second = [structuredEvent({ type }), structuredEvent({ type })];

        let server = await startServer({ dataDir });
        assertPersisted(await postStructured(server.url, `/${TENANT}/produce`, JSON.stringify(first[0])), first[0].id);
        assertBatchPersisted(await postBatch(server.url, `/${TENANT}/produce/batch`, JSON.stringify(first.slice(1))),
            first.slice(1).map((ev) => ev.id));
        await server.stop();

        assert.deepEqual(await logTopics(dataDir), new Map([[type, 3]]), 'the log after the first run');

        server = await startServer({ dataDir });
        try {
            const before = await readTopic(dataDir, type);
            assert.deepEqual(before.map((r) => r.record.event.id), first.map((ev) => ev.id));

            assertBatchPersisted(await postBatch(server.url, `/${TENANT}/produce/batch`, JSON.stringify(second)),
                second.map((ev) => ev.id));
        } finally {
            await server.stop();
        }

        const all = [...first, ...second];
        const records = await readTopic(dataDir, type);
        assert.equal(records.length, 5);
        records.forEach((stored, i) => {
            assertStoredEvent(stored, {
                tenant: TENANT,
                attributes: structuredAttributes(all[i]),
                dataText: JSON.stringify(all[i].data),
            });
        });

        const page = await logRead(dataDir, type, { from: 2, limit: 2 });
        assert.deepEqual(page.map((r) => r.record.offset), [2, 3], 'log read --from 2 --limit 2');
        assert.deepEqual(page.map((r) => r.record.event.id), [all[2].id, all[3].id]);
    } finally {
        await removeDataDir(dataDir);
    }
});

test('sigterm finishes in-flight request', async () => {
    const server = await startServer();
    try {
        const event = structuredEvent();
        const body = Buffer.from(JSON.stringify(event));
        const half = Math.floor(body.length / 2);
        const head = rawHead('POST', `/${TENANT}/produce`, [
            ['Content-Type', 'application/cloudevents+json'],
            ['Content-Length', String(body.length)],
        ]);

        const connection = openRaw(server.port);
        await connection.connected;
        connection.write(Buffer.concat([Buffer.from(head), body.subarray(0, half)]));
        await sleep(SETTLE_MS);
        server.terminate();
        await sleep(SETTLE_MS);

        await assert.rejects(connect(server.port), { code: 'ECONNREFUSED' },
            'the server still accepts connections after SIGTERM');
        connection.write(body.subarray(half));
        assertPersisted(await connection.response, event.id);
        await server.waitForExit();

        const records = await readTopic(server.dataDir, event.type);
        assert.equal(records.length, 1);
        assertStoredEvent(records[0], {
            tenant: TENANT,
            attributes: structuredAttributes(event),
            dataText: JSON.stringify(event.data),
        });
    } finally {
        await removeDataDir(server.dataDir);
    }
});
