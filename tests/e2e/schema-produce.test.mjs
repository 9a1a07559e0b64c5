// Event data validated against registered JSON Schemas on the produce
// routes: valid events are stored, invalid data is rejected with 400 that
// lists each violation, and nothing is stored, unregistered types are rejected unless
// the tenant allows them, dataschema picks a version, and a schema added
// while the server runs takes effect within a second.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    KEY_HEADER, PROPAGATION_LIMIT_MS, admin, adminFailing, createPrincipal, expectStatusSoon, pollUntil, request,
    startAuthServer,
} from './lib/access.mjs';
import { logRead, logTopics } from './lib/eventlog.mjs';
import { assertBatchPersisted, assertPersisted, assertProblem } from './lib/expect.mjs';
import { uniqueId } from './lib/fixtures.mjs';
import { makeDataDir } from './lib/server.mjs';

const TENANT = 'schema-acme';
const OPEN_TENANT = 'schema-open';
const ORDER = 'cloud.schema.order.v1';
const ORDER_V1_ID = 'https://schemas.example.com/e2e/order/1';

const ORDER_V1 = {
    $id: ORDER_V1_ID,
    type: 'object',
    properties: {
        id: { type: 'string' },
        qty: { type: 'integer', minimum: 1 },
        lines: { type: 'array', items: { type: 'object', required: ['sku'] } },
    },
    required: ['id'],
};

// Compatible with version 1: an optional property more.
const ORDER_V2 = {
    ...ORDER_V1,
    $id: 'https://schemas.example.com/e2e/order/2',
    properties: { ...ORDER_V1.properties, note: { type: 'string' } },
};

let fileCount = 0;

// Registers schema as the next version of type with `schema add`; returns
// the version number it printed.
async function addSchema(dataDir, type, schema, ...options) {
    fileCount += 1;
    const file = path.join(dataDir, `schema-${fileCount}.json`);
    await writeFile(file, JSON.stringify(schema, null, 2));
    const stdout = await admin(dataDir, 'schema', 'add', type, file, ...options);
    assert.match(stdout, /^\d+\n$/, `schema add printed more than a version number:\n${stdout}`);
    return Number(stdout);
}

function structured(type, data, extra = {}) {
    const event = { specversion: '1.0', type, source: '/e2e/schema', id: uniqueId('schema'), ...extra };
    if (data !== undefined) {
        event.data = data;
    }
    return event;
}

function produceStructured(server, { tenant = TENANT, key, event }) {
    const headers = { 'Content-Type': 'application/cloudevents+json' };
    if (key) {
        headers[KEY_HEADER] = key;
    }
    return request(server.url, { path: `/${tenant}/produce`, headers, body: JSON.stringify(event) });
}

function produceBinary(server, { tenant = TENANT, key, type, id, body }) {
    const headers = {
        [KEY_HEADER]: key,
        'ce-specversion': '1.0',
        'ce-type': type,
        'ce-source': '/e2e/schema',
        'ce-id': id,
    };
    if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
    }
    return request(server.url, { path: `/${tenant}/produce`, headers, body });
}

function produceBatch(server, { key, events }) {
    return request(server.url, {
        path: `/${TENANT}/produce/batch`,
        headers: { [KEY_HEADER]: key, 'Content-Type': 'application/cloudevents-batch+json' },
        body: JSON.stringify(events),
    });
}

async function storedCount(dataDir, type) {
    return (await logTopics(dataDir)).get(type) ?? 0;
}

// Returns the schema violations of a 400 response as "index pointer
// keyword" strings, sorted.
function violations(res) {
    const problem = assertProblem(res, { status: 400, rule: 'schema', attribute: 'data' });
    return problem.errors
        .filter((e) => e.rule === 'schema')
        .map((e) => `${e.index ?? '-'} ${e.instancePath} ${e.keyword}`)
        .sort();
}

describe('schema validation on produce', () => {
    let dataDir;
    let server;
    let key;
    let openKey;

    before(async () => {
        dataDir = await makeDataDir();
        await admin(dataDir, 'tenant', 'create', TENANT);
        ({ key } = await createPrincipal(dataDir, TENANT, 'producer', [['produce', 'cloud.schema.*']]));
        await admin(dataDir, 'tenant', 'create', OPEN_TENANT);
        await admin(dataDir, 'tenant', 'set', OPEN_TENANT, 'require-registered-types', 'false');
        ({ key: openKey } = await createPrincipal(dataDir, OPEN_TENANT, 'producer', [['produce', '*']]));
        assert.equal(await addSchema(dataDir, ORDER, ORDER_V1), 1);
        server = await startAuthServer({ dataDir, registeredTypes: true });
    });

    after(async () => {
        await server?.stopAndRemoveData();
    });

    test('valid event is stored', async () => {
        const event = structured(ORDER, { id: 'o-1', qty: 2, lines: [{ sku: 'a' }] });
        const before = await storedCount(dataDir, ORDER);

        const res = await produceStructured(server, { key, event });

        assertPersisted(res, event.id);
        assert.equal(await storedCount(dataDir, ORDER), before + 1);
        const records = await logRead(dataDir, ORDER);
        assert.equal(records.at(-1).record.event.id, event.id);
    });

    test('valid binary event is stored', async () => {
        const id = uniqueId('binary');
        const res = await produceBinary(server, { key, type: ORDER, id, body: '{"id":"o-2"}' });
        assertPersisted(res, id);
    });

    test('invalid data rejected with violations', async () => {
        const event = structured(ORDER, { id: 7, qty: 0, lines: [{ sku: 'a' }, {}] });
        const before = await storedCount(dataDir, ORDER);

        const res = await produceStructured(server, { key, event });

        assert.deepEqual(violations(res), [
            '- /id type',
            '- /lines/1 required',
            '- /qty minimum',
        ]);
        const qty = res.json.errors.find((e) => e.instancePath === '/qty');
        assert.equal(qty.schemaVersion, 1);
        assert.match(qty.detail, /\/qty.*version 1.*cloud\.schema\.order\.v1/);
        assert.equal(res.json.type, 'urn:event-issuer:problem:invalid-event');
        assert.equal(await storedCount(dataDir, ORDER), before);
    });

    test('invalid binary data rejected', async () => {
        const res = await produceBinary(server, { key, type: ORDER, id: uniqueId('binary'), body: '["not","an","object"]' });
        assert.deepEqual(violations(res), ['-  type']);
    });

    test('event without data validated as null', async () => {
        const res = await produceStructured(server, { key, event: structured(ORDER, undefined) });
        assert.deepEqual(violations(res), ['-  type']);
        assert.match(res.json.errors[0].detail, /value is null/);

        const nullable = 'cloud.schema.nullable.v1';
        await addSchema(dataDir, nullable, { type: ['object', 'null'] });
        const event = structured(nullable, undefined);
        await expectStatusSoon(() => produceStructured(server, { key, event: { ...event, id: uniqueId('null') } }),
            200, 'an event without data of a type whose schema allows null');
        const binary = await produceBinary(server, { key, type: nullable, id: uniqueId('empty') });
        assert.equal(binary.status, 200, binary.text);
    });

    test('batch with one invalid event stores nothing', async () => {
        const events = [
            structured(ORDER, { id: 'b-1' }),
            structured(ORDER, { id: 'b-2', qty: 'many' }),
            structured(ORDER, { id: 'b-3' }),
        ];
        const before = await storedCount(dataDir, ORDER);

        const res = await produceBatch(server, { key, events });

        assert.deepEqual(violations(res), ['1 /qty type']);
        assert.equal(await storedCount(dataDir, ORDER), before);

        events[1].data.qty = 3;
        assertBatchPersisted(await produceBatch(server, { key, events }), events.map((e) => e.id));
        assert.equal(await storedCount(dataDir, ORDER), before + 3);
    });

    test('batch lists violations of every failing event', async () => {
        const events = [
            structured(ORDER, { id: 1 }),
            structured(ORDER, { id: 'ok' }),
            structured('cloud.schema.unknown.v1', { id: 'x' }),
            structured(ORDER, {}),
        ];
        const res = await produceBatch(server, { key, events });

        assert.deepEqual(violations(res), ['0 /id type', '3  required']);
        assertProblem(res, { status: 400, rule: 'unregistered-type', attribute: 'type', index: 2 });
        assert.match(res.json.detail, /3 rules were broken/);
    });

    test('unregistered type rejected by default', async () => {
        const type = 'cloud.schema.unregistered.v1';
        const res = await produceStructured(server, { key, event: structured(type, { a: 1 }) });

        const problem = assertProblem(res, { status: 400, rule: 'unregistered-type', attribute: 'type' });
        assert.match(problem.errors[0].detail, /"cloud\.schema\.unregistered\.v1"/);
        assert.equal(await storedCount(dataDir, type), 0);
    });

    test('tenant setting accepts unregistered types', async () => {
        const type = 'cloud.schema.free.v1';
        const event = structured(type, { anything: true });

        assertPersisted(await produceStructured(server, { tenant: OPEN_TENANT, key: openKey, event }), event.id);

        await admin(dataDir, 'tenant', 'set', OPEN_TENANT, 'require-registered-types', 'default');
        await expectStatusSoon(
            () => produceStructured(server, { tenant: OPEN_TENANT, key: openKey, event: structured(type, {}) }),
            400, 'an unregistered type after the tenant setting went back to default');
        await admin(dataDir, 'tenant', 'set', OPEN_TENANT, 'require-registered-types', 'false');
        await expectStatusSoon(
            () => produceStructured(server, { tenant: OPEN_TENANT, key: openKey, event: structured(type, {}) }),
            200, 'an unregistered type after the tenant allowed them again');
    });

    test('open tenant still validates registered types', async () => {
        const event = structured(ORDER, { id: 5 });
        const res = await produceStructured(server, { tenant: OPEN_TENANT, key: openKey, event });
        assert.deepEqual(violations(res), ['- /id type']);
    });

    test('dataschema selects the version', async () => {
        assert.equal(await addSchema(dataDir, ORDER, ORDER_V2), 2);
        // Valid under version 1, invalid under version 2.
        const data = { id: 'd-1', note: 5 };
        await expectStatusSoon(() => produceStructured(server, { key, event: structured(ORDER, data) }),
            400, 'data that breaks version 2 without dataschema');

        const byId = structured(ORDER, data, { dataschema: ORDER_V1_ID });
        assertPersisted(await produceStructured(server, { key, event: byId }), byId.id);

        const byPath = structured(ORDER, data, {
            dataschema: `https://issuer.example.com/event-issuer/v1/${TENANT}/schemas/${ORDER}/versions/1`,
        });
        assertPersisted(await produceStructured(server, { key, event: byPath }), byPath.id);

        const latest = structured(ORDER, data, { dataschema: `https://issuer.example.com/${TENANT}/schemas/${ORDER}/versions/2` });
        const res = await produceStructured(server, { key, event: latest });
        assert.deepEqual(violations(res), ['- /note type']);
        assert.equal(res.json.errors[0].schemaVersion, 2);
    });

    test('dataschema naming no version rejected', async () => {
        for (const dataschema of ['https://schemas.example.com/e2e/order/9', `https://x.example/${TENANT}/schemas/${ORDER}/versions/99`]) {
            const event = structured(ORDER, { id: 'x' }, { dataschema });
            const res = await produceStructured(server, { key, event });
            const problem = assertProblem(res, { status: 400, rule: 'dataschema', attribute: 'dataschema' });
            assert.ok(problem.errors[0].detail.includes(dataschema), problem.errors[0].detail);
        }
    });

    test('schema added while running takes effect within a second', async () => {
        const type = 'cloud.schema.late.v1';
        const event = () => structured(type, { n: 1 });
        assertProblem(await produceStructured(server, { key, event: event() }), { status: 400, rule: 'unregistered-type' });

        await addSchema(dataDir, type, { type: 'object', properties: { n: { type: 'integer' } } });
        await expectStatusSoon(() => produceStructured(server, { key, event: event() }), 200,
            'an event of a type registered while the server runs');

        await addSchema(dataDir, type, { type: 'object', properties: { n: { type: 'integer' } }, required: ['m'] }, '--force');
        const res = await expectStatusSoon(() => produceStructured(server, { key, event: event() }), 400,
            'an event that breaks a version added while the server runs');
        assert.deepEqual(violations(res), ['-  required']);
    });

    test('schemas from an apply file take effect', async () => {
        const type = 'cloud.schema.applied.v1';
        const file = path.join(dataDir, 'schemas.json');
        await writeFile(file, JSON.stringify({ schemas: { [type]: [{ type: 'object', required: ['a'] }] } }));

        const stdout = await admin(dataDir, 'apply', file);
        assert.ok(stdout.includes(`add schema version 1 of event type ${type}`), stdout);
        assert.equal(await admin(dataDir, 'apply', file), 'no changes\n');
        const { elapsedMs } = await pollUntil(() => produceStructured(server, { key, event: structured(type, {}) }),
            (res) => res.status === 400 && res.json?.errors?.[0]?.rule === 'schema',
            'an event that breaks a schema from an apply file');
        assert.ok(elapsedMs <= PROPAGATION_LIMIT_MS, `the schema took ${Math.round(elapsedMs)} ms to apply`);
        const valid = structured(type, { a: 1 });
        assertPersisted(await produceStructured(server, { key, event: valid }), valid.id);
    });

    test('incompatible version rejected by the command line', async () => {
        const file = path.join(dataDir, 'incompatible.json');
        await writeFile(file, JSON.stringify({ ...ORDER_V2, $id: 'https://schemas.example.com/e2e/order/3', required: ['id', 'qty'] }));

        const result = await adminFailing(dataDir, 'schema', 'add', ORDER, file);

        assert.equal(result.code, 1);
        assert.match(result.stderr, /incompatible with version 2/);
        assert.match(result.stderr, /#: property "qty" is now required/);
        assert.match(result.stderr, /--force/);
        const shown = await admin(dataDir, 'schema', 'show', ORDER);
        assert.equal(JSON.parse(shown).$id, ORDER_V2.$id);
    });
});
