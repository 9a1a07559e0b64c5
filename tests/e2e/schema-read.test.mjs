// The read API of the registered schemas: GET /{tenantId}/schemas lists the
// types the caller may produce, GET /{tenantId}/schemas/{type} returns the
// latest document and .../versions/{n} one version. Unknown types and
// versions are 404, types the caller may not produce 403, and the routes
// need an API key like produce.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    KEY_HEADER, admin, assertForbidden, assertUnauthorized, createPrincipal, expectStatusSoon, request,
    startAuthServer,
} from './lib/access.mjs';
import { assertProblem } from './lib/expect.mjs';
import { makeDataDir } from './lib/server.mjs';

const TENANT = 'schema-reader';
const BASE = '/event-issuer/v1';
const ORDER = 'cloud.read.order.v1';
const PAYMENT = 'cloud.read.payment.v1';
const SECRET = 'internal.audit.v1';

const ORDER_V1 = { $id: 'https://schemas.example.com/e2e/read/order/1', type: 'object', required: ['id'] };
const ORDER_V2 = { $id: 'https://schemas.example.com/e2e/read/order/2', type: 'object', required: ['id'], properties: { note: { type: 'string' } } };

let fileCount = 0;

async function addSchema(dataDir, type, schema) {
    fileCount += 1;
    const file = path.join(dataDir, `read-${fileCount}.json`);
    await writeFile(file, JSON.stringify(schema));
    return Number(await admin(dataDir, 'schema', 'add', type, file));
}

function get(server, key, route) {
    const headers = key ? { [KEY_HEADER]: key } : {};
    return request(server.url, { method: 'GET', path: `${BASE}/${TENANT}${route}`, headers });
}

describe('schema read API', () => {
    let dataDir;
    let server;
    let allKey;
    let orderKey;

    before(async () => {
        dataDir = await makeDataDir();
        await admin(dataDir, 'tenant', 'create', TENANT);
        ({ key: allKey } = await createPrincipal(dataDir, TENANT, 'all', [['produce', 'cloud.read.*']]));
        ({ key: orderKey } = await createPrincipal(dataDir, TENANT, 'orders', [['produce', ORDER], ['tombstone', PAYMENT]]));
        await addSchema(dataDir, ORDER, ORDER_V1);
        await addSchema(dataDir, ORDER, ORDER_V2);
        await addSchema(dataDir, PAYMENT, { type: 'object' });
        await addSchema(dataDir, SECRET, { type: 'object' });
        server = await startAuthServer({ dataDir, registeredTypes: true, args: ['--base-path', BASE] });
    });

    after(async () => {
        await server?.stopAndRemoveData();
    });

    test('list shows the types the caller may produce', async () => {
        const res = await get(server, allKey, '/schemas');

        assert.equal(res.status, 200, res.text);
        assert.match(res.headers['content-type'], /^application\/json\b/);
        assert.deepEqual(res.json.types.map((t) => t.type), [ORDER, PAYMENT]);
        const order = res.json.types[0];
        assert.equal(order.latestVersion, 2);
        assert.deepEqual(order.versions.map((v) => v.version), [1, 2]);
        assert.equal(order.versions[0].id, ORDER_V1.$id);
        assert.match(order.versions[1].created, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
        assert.equal(res.json.types[1].versions[0].id, undefined);
    });

    test('list leaves out types granted for other actions', async () => {
        const res = await get(server, orderKey, '/schemas');
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json.types.map((t) => t.type), [ORDER]);
    });

    test('type returns its latest document', async () => {
        const res = await get(server, allKey, `/schemas/${ORDER}`);

        assert.equal(res.status, 200, res.text);
        assert.match(res.headers['content-type'], /^application\/schema\+json$/);
        assert.deepEqual(JSON.parse(res.text), ORDER_V2);
        assert.equal(res.text, (await admin(dataDir, 'schema', 'show', ORDER)).replace(/\n$/, ''));
    });

    test('version returns that document', async () => {
        const res = await get(server, orderKey, `/schemas/${ORDER}/versions/1`);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(JSON.parse(res.text), ORDER_V1);
    });

    test('unknown type or version is 404', async () => {
        for (const route of [`/schemas/cloud.read.none.v1`, `/schemas/${ORDER}/versions/3`]) {
            const res = await get(server, allKey, route);
            assertProblem(res, { status: 404 });
            assert.equal(res.json.type, 'urn:event-issuer:problem:not-found');
        }
        const res = await get(server, allKey, `/schemas/${ORDER}/versions/3`);
        assert.match(res.json.detail, /no schema version 3; the latest is version 2/);
    });

    test('malformed version is no route', async () => {
        for (const route of [`/schemas/${ORDER}/versions/0`, `/schemas/${ORDER}/versions/01`,
            `/schemas/${ORDER}/versions/x`, `/schemas/${ORDER}/versions/`]) {
            const res = await get(server, allKey, route);
            assert.equal(res.status, 404, `${route}: ${res.text}`);
            assert.match(res.json.detail, /no route matches/);
        }
    });

    test('type the caller may not produce is 403', async () => {
        for (const [key, route] of [[orderKey, `/schemas/${PAYMENT}`], [allKey, `/schemas/${SECRET}/versions/1`],
            [allKey, '/schemas/internal.unknown.v1']]) {
            const res = await get(server, key, route);
            assertForbidden(res);
            assert.match(res.json.detail, /may not produce events of type/);
        }
    });

    test('routes need an API key', async () => {
        assertUnauthorized(await get(server, undefined, '/schemas'));
        assertUnauthorized(await get(server, undefined, `/schemas/${ORDER}`));
        assertUnauthorized(await get(server, 'eik_0000000000000000_invalid', `/schemas/${ORDER}/versions/1`));
    });

    test('other methods are not allowed', async () => {
        const res = await request(server.url, {
            method: 'POST', path: `${BASE}/${TENANT}/schemas/${ORDER}`, headers: { [KEY_HEADER]: allKey }, body: '{}',
        });
        assert.equal(res.status, 405, res.text);
        assert.equal(res.headers.allow, 'GET');
    });

    test('new version appears within a second', async () => {
        await addSchema(dataDir, PAYMENT, { type: 'object', properties: { amount: { type: 'string' } } });
        const res = await expectStatusSoon(() => get(server, allKey, `/schemas/${PAYMENT}/versions/2`), 200,
            'a version added while the server runs');
        assert.deepEqual(JSON.parse(res.text).properties, { amount: { type: 'string' } });
    });
});
