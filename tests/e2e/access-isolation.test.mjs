// Tenant isolation and event-type authorization against a running server:
// which key may produce which type for which tenant, in every mode, what
// the log stores and records about the producer, and tombstone grants.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    admin,
    assertForbidden,
    assertNoSecretLeaked,
    assertNotGranted,
    createPrincipal,
    nextId,
    observe,
    produce,
    produceBatch,
    startAuthServer,
    tombstone,
} from './lib/access.mjs';
import { expectNothingStored, logRead, readTopic } from './lib/eventlog.mjs';
import { assertBatchPersisted, assertPersisted } from './lib/expect.mjs';
import { makeDataDir } from './lib/server.mjs';

const MODES = ['binary', 'structured', 'batch'];

// The principals of the matrix and their grants.
//   A/p1  produce cloud.a.*
//   A/p2  produce cloud.a.orders.v1
//   B/q1  produce *
//   B/p1  produce *, without a key. It has the name of A's p1, so a server
//         that looked up the principal under the path's tenant would let
//         A's key produce for B.
const TYPES = [
    'cloud.a.orders.v1',
    'cloud.a.payments.v1',
    'cloud.a.orders.v1.retry',
    'cloud.a.',
    'cloud.ab.orders.v1',
    'cloud.b.orders.v1',
    'CLOUD.A.ORDERS.V1',
];

// [key, tenant in the path, event type, expected outcome]. "stored" is 200,
// "not-granted" a 403 naming the event, "foreign-tenant" a 403 for a key
// used outside its tenant (the path's tenant exists or not).
const MATRIX = [
    ['p1', 'A', 'cloud.a.orders.v1', 'stored'],
    ['p1', 'A', 'cloud.a.payments.v1', 'stored'],
    ['p1', 'A', 'cloud.a.orders.v1.retry', 'stored'],
    ['p1', 'A', 'cloud.a.', 'not-granted'],
    ['p1', 'A', 'cloud.ab.orders.v1', 'not-granted'],
    ['p1', 'A', 'cloud.b.orders.v1', 'not-granted'],
    ['p1', 'A', 'CLOUD.A.ORDERS.V1', 'not-granted'],

    ['p2', 'A', 'cloud.a.orders.v1', 'stored'],
    ['p2', 'A', 'cloud.a.payments.v1', 'not-granted'],
    ['p2', 'A', 'cloud.a.orders.v1.retry', 'not-granted'],
    ['p2', 'A', 'cloud.a.', 'not-granted'],
    ['p2', 'A', 'cloud.ab.orders.v1', 'not-granted'],
    ['p2', 'A', 'cloud.b.orders.v1', 'not-granted'],
    ['p2', 'A', 'CLOUD.A.ORDERS.V1', 'not-granted'],

    ['q1', 'B', 'cloud.a.orders.v1', 'stored'],
    ['q1', 'B', 'cloud.a.payments.v1', 'stored'],
    ['q1', 'B', 'cloud.a.orders.v1.retry', 'stored'],
    ['q1', 'B', 'cloud.a.', 'stored'],
    ['q1', 'B', 'cloud.ab.orders.v1', 'stored'],
    ['q1', 'B', 'cloud.b.orders.v1', 'stored'],
    ['q1', 'B', 'CLOUD.A.ORDERS.V1', 'stored'],

    ['p1', 'B', 'cloud.a.orders.v1', 'foreign-tenant'],
    ['p1', 'B', 'cloud.b.orders.v1', 'foreign-tenant'],
    ['p2', 'B', 'cloud.a.orders.v1', 'foreign-tenant'],
    ['q1', 'A', 'cloud.a.orders.v1', 'foreign-tenant'],
    ['q1', 'A', 'cloud.b.orders.v1', 'foreign-tenant'],
    ['p1', 'a', 'cloud.a.orders.v1', 'foreign-tenant'],
    ['p1', 'no-such-tenant', 'cloud.a.orders.v1', 'foreign-tenant'],
    ['q1', 'no-such-tenant', 'cloud.b.orders.v1', 'foreign-tenant'],
];

describe('tenant isolation and type grants', () => {
    let server;
    const keys = {};

    before(async () => {
        const dataDir = await makeDataDir();
        await admin(dataDir, 'tenant', 'create', 'A');
        await admin(dataDir, 'tenant', 'create', 'B');
        keys.p1 = await createPrincipal(dataDir, 'A', 'p1', [['produce', 'cloud.a.*']]);
        keys.p2 = await createPrincipal(dataDir, 'A', 'p2', [['produce', 'cloud.a.orders.v1']]);
        keys.q1 = await createPrincipal(dataDir, 'B', 'q1', [['produce', '*']]);
        await admin(dataDir, 'principal', 'create', 'B', 'p1');
        await admin(dataDir, 'policy', 'grant', 'B', 'p1', 'produce', '*');
        // t1 may tombstone and produce the orders type. t2 may only tombstone.
        keys.t1 = await createPrincipal(dataDir, 'A', 't1',
            [['produce', 'cloud.a.orders.v1'], ['tombstone', 'cloud.a.orders.v1']]);
        keys.t2 = await createPrincipal(dataDir, 'A', 't2', [['tombstone', 'cloud.a.*']]);
        server = await startAuthServer({ dataDir });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('matrix of keys, tenants, types and modes', async () => {
        const allowed = [];
        for (const [principal, tenant, type, outcome] of MATRIX) {
            for (const mode of MODES) {
                const id = nextId('matrix');
                const cell = `${principal} on /${tenant} with ${type} in ${mode} mode`;
                const res = await produce(server.url, { tenant, key: keys[principal].key, type, id, mode });

                if (outcome === 'stored') {
                    if (mode === 'batch') {
                        assertBatchPersisted(res, [id]);
                    } else {
                        assertPersisted(res, id);
                    }
                    allowed.push({ id, type, tenant, principal });
                } else if (outcome === 'not-granted') {
                    const problem = assertNotGranted(res, [mode === 'batch' ? 0 : null]);
                    assert.ok(problem.errors[0].detail.includes(type), `${cell}: the error does not name the type: ${res.text}`);
                } else {
                    const problem = assertForbidden(res);
                    assert.equal(problem.errors, undefined, `${cell}: a foreign tenant must not be checked per event: ${res.text}`);
                    assert.ok(problem.detail.includes(`"${tenant}"`), `${cell}: the detail does not name the tenant: ${res.text}`);
                }
            }
        }

        // Every allowed cell was stored once, under its tenant and principal,
        // and nothing else of the matrix was stored.
        const stored = [];
        for (const type of new Set(MATRIX.map((row) => row[2]))) {
            for (const { record } of await readTopic(server.dataDir, type)) {
                if (record.event?.id.startsWith('matrix-')) {
                    stored.push({ id: record.event.id, type: record.topic, tenant: record.tenant, principal: record.principal });
                }
            }
        }
        const byId = (x, y) => x.id.localeCompare(y.id);
        const allowedIds = new Set(allowed.map((cell) => cell.id));
        const forbiddenStored = stored.filter((cell) => !allowedIds.has(cell.id));
        assert.deepEqual(forbiddenStored, [], 'events of forbidden cells were stored');
        assert.deepEqual(stored.sort(byId), allowed.sort(byId), 'the stored events differ from the allowed cells');
    });

    test('key of tenant A for tenant B is forbidden', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await produce(server.url, { tenant: 'B', key: keys.p1.key, type: 'cloud.a.orders.v1' });

        const problem = assertForbidden(res);
        assert.equal(problem.detail, 'the API key does not grant access to tenant "B"');
        await checkNothingStored();
    });

    test('missing tenant answers like a foreign one', async () => {
        const foreign = await produce(server.url, { tenant: 'B', key: keys.p1.key, type: 'cloud.a.orders.v1' });
        const missing = await produce(server.url, { tenant: 'Z', key: keys.p1.key, type: 'cloud.a.orders.v1' });

        assertForbidden(foreign);
        assertForbidden(missing);
        const shape = (res, tenant) => ({
            ...res.json,
            detail: res.json.detail.replaceAll(`"${tenant}"`, '"TENANT"'),
            instance: res.json.instance.replace(`/${tenant}/`, '/TENANT/'),
            traceId: typeof res.json.traceId, // new for every request
        });
        assert.deepEqual(shape(missing, 'Z'), shape(foreign, 'B'),
            'a missing tenant must be answered exactly like an existing foreign one');
        assert.equal(missing.headers['www-authenticate'], foreign.headers['www-authenticate']);
    });

    test('mixed batch names every forbidden index', async () => {
        const types = ['cloud.a.mixed.v1', 'cloud.b.mixed.v1', 'cloud.a.mixed.v1', 'cloud.mixed.v1', 'cloud.a.mixed.v1', 'cloud.b.mixed.v1'];
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const { res } = await produceBatch(server.url, { tenant: 'A', key: keys.p1.key, types });

        const problem = assertNotGranted(res, [1, 3, 5]);
        assert.ok(problem.detail.includes('3 events'), `the detail does not count the forbidden events: ${res.text}`);
        await checkNothingStored();
    });

    test('batch with every type forbidden names all', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const { res } = await produceBatch(server.url, { tenant: 'A', key: keys.p2.key, types: ['cloud.a.x.v1', 'cloud.a.y.v1'] });

        assertNotGranted(res, [0, 1]);
        await checkNothingStored();
    });

    test('tombstone needs a tombstone grant', async () => {
        const topic = 'cloud.a.orders.v1';
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const produceOnly = await tombstone(server.url, { tenant: 'A', key: keys.p2.key, topic, partitionKey: 'k-denied-p2' });
        const prefixProduce = await tombstone(server.url, { tenant: 'A', key: keys.p1.key, topic, partitionKey: 'k-denied-p1' });
        const otherTenant = await tombstone(server.url, { tenant: 'A', key: keys.q1.key, topic, partitionKey: 'k-denied-q1' });
        const otherType = await tombstone(server.url, { tenant: 'A', key: keys.t1.key, topic: 'cloud.a.payments.v1', partitionKey: 'k-denied-t1' });

        const problem = assertNotGranted(produceOnly);
        assert.match(problem.errors[0].detail, /tombstone/, `the error does not name the action: ${produceOnly.text}`);
        assertNotGranted(prefixProduce);
        assertForbidden(otherTenant);
        assertNotGranted(otherType);
        await checkNothingStored();

        const granted = await tombstone(server.url, { tenant: 'A', key: keys.t1.key, topic, partitionKey: 'k1' });
        assert.equal(granted.status, 204, `HTTP ${granted.status}\n${granted.text}`);
        assert.equal(granted.text, '', 'a 204 has no body');

        const tombstones = (await logRead(server.dataDir, topic))
            .map((stored) => stored.record)
            .filter((record) => record.event === null);
        assert.deepEqual(tombstones.map((record) => record.key), ['k1'], 'only the granted tombstone is stored');
        assert.equal(tombstones[0].tenant, 'A');
        assert.equal(tombstones[0].principal, 't1');
        assert.equal(tombstones[0].topic, topic);
    });

    test('tombstone grant does not allow produce', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await produce(server.url, { tenant: 'A', key: keys.t2.key, type: 'cloud.a.orders.v1' });

        assertNotGranted(res);
        await checkNothingStored();
        const granted = await tombstone(server.url, { tenant: 'A', key: keys.t2.key, topic: 'cloud.a.orders.v1', partitionKey: 'k2' });
        assert.equal(granted.status, 204, `HTTP ${granted.status}\n${granted.text}`);
    });

    test('log names tenant and principal of each event', async () => {
        const type = 'cloud.a.orders.v1';
        const sent = [
            { principal: 'p1', tenant: 'A', id: nextId('audit') },
            { principal: 'p2', tenant: 'A', id: nextId('audit') },
            { principal: 't1', tenant: 'A', id: nextId('audit') },
            { principal: 'q1', tenant: 'B', id: nextId('audit') },
        ];
        for (const { principal, tenant, id } of sent) {
            assertPersisted(await produce(server.url, { tenant, key: keys[principal].key, type, id }), id);
        }

        const records = new Map((await logRead(server.dataDir, type))
            .filter(({ record }) => record.event !== null)
            .map(({ record }) => [record.event.id, record]));
        for (const { principal, tenant, id } of sent) {
            const record = records.get(id);
            assert.ok(record, `event ${id} was not stored`);
            assert.equal(record.tenant, tenant, `the tenant of event ${id}`);
            assert.equal(record.principal, principal, `the principal of event ${id}`);
        }

        // The access log names the principal and the key id, never the key.
        for (const { principal, tenant } of sent) {
            const line = new RegExp(`POST /${tenant}/produce tenant=${tenant} principal=${principal} key=${keys[principal].id} status=200`);
            assert.match(server.stderr, line, `the access log has no line for ${principal}`);
        }
    });

    test('no secret in responses or log', () => {
        observe('server log', server.stderr);

        const checked = assertNoSecretLeaked();

        assert.ok(checked.secrets >= 5 * 3, `only ${checked.secrets} secrets were remembered`);
        assert.ok(checked.texts > MATRIX.length * MODES.length, `only ${checked.texts} texts were checked`);
    });
});
