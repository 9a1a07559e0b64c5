// Schema validation in the server's other modes: without authentication
// (the registry still contains the schemas), with a lower
// --max-schema-violations, with --demo (whose tenant accepts unregistered
// types), and on the Kafka backbone.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';

import { admin, expectStatusSoon } from './lib/access.mjs';
import { assertPersisted, assertProblem } from './lib/expect.mjs';
import { postStructured } from './lib/http.mjs';
import { uniqueId } from './lib/fixtures.mjs';
import { kafkaBackboneMissing, readWithKcat, startKafkaServer, startMockKafka } from './lib/kafka.mjs';
import { makeDataDir, startServer } from './lib/server.mjs';

const STRICT = {
    type: 'object',
    properties: Object.fromEntries(['a', 'b', 'c', 'd', 'e'].map((name) => [name, { type: 'integer' }])),
};
const ALL_WRONG = { a: 'x', b: 'x', c: 'x', d: 'x', e: 'x' };

async function addSchema(dataDir, type, schema) {
    const file = path.join(dataDir, `${type}.json`);
    await writeFile(file, JSON.stringify(schema));
    await admin(dataDir, 'schema', 'add', type, file);
}

function event(type, data) {
    return { specversion: '1.0', type, source: '/e2e/schema-modes', id: uniqueId('modes'), data };
}

function produce(server, tenant, body) {
    return postStructured(server.url, `/${tenant}/produce`, JSON.stringify(body));
}

test('insecure mode validates against registered schemas', async () => {
    const dataDir = await makeDataDir();
    const type = 'cloud.modes.insecure.v1';
    await addSchema(dataDir, type, STRICT);
    const server = await startServer({ dataDir, registeredTypes: true });
    try {
        assert.match(server.stderr, /AUTHENTICATION IS OFF/);
        const invalid = await produce(server, 'any-tenant', event(type, { a: 'x' }));
        assertProblem(invalid, { status: 400, rule: 'schema', attribute: 'data' });
        const valid = event(type, { a: 1 });
        assertPersisted(await produce(server, 'any-tenant', valid), valid.id);
        assertProblem(await produce(server, 'any-tenant', event('cloud.modes.other.v1', {})),
            { status: 400, rule: 'unregistered-type', attribute: 'type' });
    } finally {
        await server.stopAndRemoveData();
    }
});

test('violations per event limited by option', async () => {
    const dataDir = await makeDataDir();
    const type = 'cloud.modes.limit.v1';
    await addSchema(dataDir, type, STRICT);
    const server = await startServer({ dataDir, registeredTypes: true, args: ['--max-schema-violations', '2'] });
    try {
        const single = await produce(server, 'acme', event(type, ALL_WRONG));
        assertProblem(single, { status: 400, rule: 'schema' });
        assert.deepEqual(single.json.errors.map((e) => e.instancePath), ['/a', '/b']);
        assert.match(single.json.detail, /first violations of each event are listed/);

        const batch = await postStructured(server.url, '/acme/produce/batch',
            JSON.stringify([event(type, ALL_WRONG), event(type, { a: 1 }), event(type, ALL_WRONG)]),
            'application/cloudevents-batch+json');
        assertProblem(batch, { status: 400, rule: 'schema' });
        assert.deepEqual(batch.json.errors.map((e) => `${e.index} ${e.instancePath}`), ['0 /a', '0 /b', '2 /a', '2 /b']);
    } finally {
        await server.stopAndRemoveData();
    }
});

test('violations per event default to ten', async () => {
    const dataDir = await makeDataDir();
    const type = 'cloud.modes.default-limit.v1';
    const names = Array.from({ length: 12 }, (_, i) => `p${i}`);
    await addSchema(dataDir, type, { required: names });
    const server = await startServer({ dataDir, registeredTypes: true });
    try {
        const res = await produce(server, 'acme', event(type, {}));
        assertProblem(res, { status: 400, rule: 'schema' });
        assert.equal(res.json.errors.length, 10);
    } finally {
        await server.stopAndRemoveData();
    }
});

test('demo tenant accepts unregistered types', async () => {
    const dataDir = await makeDataDir();
    const server = await startServer({ dataDir, auth: true, registeredTypes: true, args: ['--demo'] });
    try {
        const tenants = await admin(dataDir, 'tenant', 'list');
        assert.match(tenants, /^demo\s+yes\s+\S+\s+no$/m, tenants);
    } finally {
        await server.stopAndRemoveData();
    }
});

test('Kafka backbone stores only valid events', async (t) => {
    const cluster = await startMockKafka();
    const prefix = 'e2e.schema.';
    const type = 'cloud.modes.kafka.v1';
    let server;
    try {
        server = await startKafkaServer(cluster, { prefix, args: ['--require-registered-types=true'] });
        const skipReason = kafkaBackboneMissing(server);
        if (skipReason) {
            t.skip(skipReason);
            return;
        }
        await addSchema(server.dataDir, type, STRICT);
        const valid = event(type, { a: 1 });
        const res = await expectStatusSoon(() => produce(server, 'acme', { ...valid, id: uniqueId('kafka') }), 200,
            'an event of a type registered while the Kafka server runs');
        const storedId = res.json.id;
        assertProblem(await produce(server, 'acme', event(type, { a: 'x' })), { status: 400, rule: 'schema' });

        const records = await readWithKcat(cluster.bootstrap, prefix + type);
        assert.equal(records.length, 1, JSON.stringify(records));
        assert.ok(records[0].headers.includes(storedId), JSON.stringify(records[0].headers));
    } finally {
        await server?.stopAndRemoveData();
        await cluster.stop();
    }
});
