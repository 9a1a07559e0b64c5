// `event-issuer apply` end to end: a declarative file with keys given by id
// and SHA-256 makes a working registry, applying it again changes nothing,
// and an edited file reaches a running server within a second.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    admin,
    adminFailing,
    assertForbidden,
    assertNoSecretLeaked,
    assertNotGranted,
    assertUnauthorized,
    expectStatusSoon,
    makeKeyOffline,
    observe,
    produce,
    startAuthServer,
    tombstone,
} from './lib/access.mjs';
import { assertPersisted } from './lib/expect.mjs';
import { makeDataDir, removeDataDir } from './lib/server.mjs';

const WIDE_TYPE = 'cloud.x.created.v1';
const NARROW_TYPE = 'cloud.y.v1';

// Builds the access file. Dropping a grant or a key from the arguments is
// how the tests edit it.
function accessFile({ writerKeys, writerPolicies, partnerKey }) {
    return {
        tenants: [
            {
                id: 'apply-main',
                principals: [
                    {
                        name: 'writer',
                        policies: writerPolicies,
                        keys: writerKeys.map(({ id, sha256 }) => ({ id, sha256 })),
                    },
                    { name: 'auditor', enabled: false },
                ],
            },
            {
                id: 'apply-partner',
                enabled: false,
                principals: [
                    {
                        name: 'svc',
                        policies: [{ action: 'produce', pattern: '*' }],
                        keys: [{ id: partnerKey.id, sha256: partnerKey.sha256 }],
                    },
                ],
            },
        ],
    };
}

const ALL_POLICIES = [
    { action: 'produce', pattern: 'cloud.x.*' },
    { action: 'produce', pattern: NARROW_TYPE },
    { action: 'tombstone', pattern: NARROW_TYPE },
];

// The registry as the list commands print it, creation times included, so
// that any recreated row shows.
async function registryListing(dataDir) {
    const listing = { tenants: await admin(dataDir, 'tenant', 'list') };
    for (const tenant of ['apply-main', 'apply-partner']) {
        listing[`principals of ${tenant}`] = await admin(dataDir, 'principal', 'list', tenant);
        listing[`keys of ${tenant}`] = await admin(dataDir, 'key', 'list', tenant);
        listing[`policies of ${tenant}`] = await admin(dataDir, 'policy', 'list', tenant);
    }
    return listing;
}

describe('declarative apply', () => {
    let dataDir;
    let file;
    let server;
    let writer;
    let spare;
    let partner;

    const apply = async (content, ...options) => {
        await writeFile(file, `${JSON.stringify(content, null, 2)}\n`);
        return admin(dataDir, 'apply', file, ...options);
    };
    const send = (type) => () => produce(server.url, { tenant: 'apply-main', key: writer.key, type });

    before(async () => {
        dataDir = await makeDataDir();
        file = path.join(dataDir, 'access.json');
        writer = makeKeyOffline();
        spare = makeKeyOffline();
        partner = makeKeyOffline();
    });

    after(async () => {
        if (server) {
            await server.stopAndRemoveData();
        } else {
            await removeDataDir(dataDir);
        }
    });

    test('apply creates the registry', async () => {
        const stdout = await apply(accessFile({ writerKeys: [writer, spare], writerPolicies: ALL_POLICIES, partnerKey: partner }));

        const changes = [
            'create tenant apply-main',
            'create principal apply-main/auditor (disabled)',
            'create principal apply-main/writer',
            'grant produce on cloud.x.* to apply-main/writer',
            `grant produce on ${NARROW_TYPE} to apply-main/writer`,
            `grant tombstone on ${NARROW_TYPE} to apply-main/writer`,
            `add key ${writer.id} to apply-main/writer`,
            `add key ${spare.id} to apply-main/writer`,
            'create tenant apply-partner (disabled)',
            'create principal apply-partner/svc',
            'grant produce on * to apply-partner/svc',
            `add key ${partner.id} to apply-partner/svc`,
        ];
        const lines = stdout.trimEnd().split('\n');
        assert.equal(lines.at(-1), `applied ${changes.length} changes`);
        assert.deepEqual(lines.slice(0, -1).sort(), changes.sort(), 'apply printed other changes');

        const keys = await admin(dataDir, 'key', 'list', 'apply-main');
        assert.ok(keys.includes(writer.sha256), `key list does not show the SHA-256 from the file:\n${keys}`);
    });

    test('applied keys and grants work', async () => {
        server = await startAuthServer({ dataDir });

        assertPersisted(await produce(server.url, { tenant: 'apply-main', key: writer.key, type: WIDE_TYPE, id: 'wide' }), 'wide');
        assertPersisted(await produce(server.url, { tenant: 'apply-main', key: spare.key, type: NARROW_TYPE, id: 'narrow' }), 'narrow');
        assertNotGranted(await produce(server.url, { tenant: 'apply-main', key: writer.key, type: 'cloud.z.v1' }));
        const partnerRes = await produce(server.url, { tenant: 'apply-partner', key: partner.key, type: WIDE_TYPE });
        assertForbidden(partnerRes);
        assert.match(partnerRes.json.detail, /disabled/, partnerRes.text);
    });

    test('second apply changes nothing', async () => {
        const before = await registryListing(dataDir);

        const stdout = await apply(accessFile({ writerKeys: [writer, spare], writerPolicies: ALL_POLICIES, partnerKey: partner }));

        assert.equal(stdout, 'no changes\n');
        assert.deepEqual(await registryListing(dataDir), before, 'a second apply changed the registry');
    });

    test('dry run changes nothing', async () => {
        const before = await registryListing(dataDir);
        const policies = ALL_POLICIES.filter((p) => !(p.action === 'produce' && p.pattern === NARROW_TYPE));

        const stdout = await apply(accessFile({ writerKeys: [writer, spare], writerPolicies: policies, partnerKey: partner }), '--dry-run');

        assert.match(stdout, new RegExp(`^revoke produce on ${NARROW_TYPE.replaceAll('.', '\\.')} from apply-main/writer$`, 'm'));
        assert.deepEqual(await registryListing(dataDir), before, 'a dry run changed the registry');
        assert.equal((await send(NARROW_TYPE)()).status, 200, 'a dry run revoked a grant');
    });

    test('removed grant is 403 within a second', async () => {
        const policies = ALL_POLICIES.filter((p) => !(p.action === 'produce' && p.pattern === NARROW_TYPE));

        const stdout = await apply(accessFile({ writerKeys: [writer, spare], writerPolicies: policies, partnerKey: partner }));

        assert.match(stdout, /^applied 1 change/m);
        const res = await expectStatusSoon(send(NARROW_TYPE), 403, 'the removed grant is rejected');
        assertNotGranted(res);
        assert.equal((await send(WIDE_TYPE)()).status, 200, 'the prefix grant must stay');
        const tombstoneRes = await tombstone(server.url, { tenant: 'apply-main', key: writer.key, topic: NARROW_TYPE, partitionKey: 'k1' });
        assert.equal(tombstoneRes.status, 204, `the tombstone grant must stay: HTTP ${tombstoneRes.status}\n${tombstoneRes.text}`);
    });

    test('removed key is 401 within a second', async () => {
        const policies = ALL_POLICIES.filter((p) => !(p.action === 'produce' && p.pattern === NARROW_TYPE));

        const stdout = await apply(accessFile({ writerKeys: [writer], writerPolicies: policies, partnerKey: partner }));

        assert.match(stdout, new RegExp(`^revoke key ${spare.id}`, 'm'));
        const res = await expectStatusSoon(
            () => produce(server.url, { tenant: 'apply-main', key: spare.key, type: WIDE_TYPE }), 401, 'the removed key is rejected');
        assertUnauthorized(res);
        assert.equal((await send(WIDE_TYPE)()).status, 200, 'the listed key must stay');
    });

    test('mismatched hash is rejected without echoing it', async () => {
        const before = await registryListing(dataDir);
        const forged = { id: writer.id, sha256: makeKeyOffline().sha256 };
        await writeFile(file, JSON.stringify(accessFile({ writerKeys: [forged], writerPolicies: ALL_POLICIES, partnerKey: partner })));

        const result = await adminFailing(dataDir, 'apply', file);

        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /sha256/, `the error does not name the member: ${result.stderr}`);
        assert.match(result.stderr, /nothing was changed/);
        assert.deepEqual(await registryListing(dataDir), before, 'a rejected file changed the registry');
    });

    test('no secret in responses, log or errors', () => {
        observe('server log', server.stderr);

        assertNoSecretLeaked();
    });
});
