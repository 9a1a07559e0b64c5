// Registry changes reach a running server within a second: key rotation,
// revocation, disabling and enabling tenants and principals, revoked grants
// and deleted tenants. Each test continues from the state the one before
// it left.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    admin,
    adminFailing,
    assertForbidden,
    assertNoSecretLeaked,
    assertNotGranted,
    assertUnauthorized,
    createKey,
    createPrincipal,
    expectStatusSoon,
    observe,
    produce,
    startAuthServer,
} from './lib/access.mjs';
import { expectNothingStored } from './lib/eventlog.mjs';
import { assertPersisted } from './lib/expect.mjs';
import { makeDataDir } from './lib/server.mjs';

const TENANT = 'rotation-tenant';
const PRINCIPAL = 'rotating';
const KEPT_TYPE = 'cloud.rotation.kept.v1';
const REVOKED_TYPE = 'cloud.rotation.revoked.v1';

describe('registry changes on a running server', () => {
    let server;
    let first;
    let second;

    const send = (key, type = KEPT_TYPE) => () => produce(server.url, { tenant: TENANT, key: key.key, type });

    before(async () => {
        const dataDir = await makeDataDir();
        await admin(dataDir, 'tenant', 'create', TENANT);
        first = await createPrincipal(dataDir, TENANT, PRINCIPAL,
            [['produce', KEPT_TYPE], ['produce', REVOKED_TYPE]]);
        server = await startAuthServer({ dataDir });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('first key works from the start', async () => {
        const res = await produce(server.url, { tenant: TENANT, key: first.key, type: KEPT_TYPE, id: 'first-key' });

        assertPersisted(res, 'first-key');
    });

    test('second key works within a second', async () => {
        second = await createKey(server.dataDir, TENANT, PRINCIPAL);

        await expectStatusSoon(send(second), 200, 'the new key is accepted');
        assert.equal((await send(first)()).status, 200, 'the first key must stay valid until it is revoked');
    });

    test('revoked key is rejected within a second', async () => {
        await admin(server.dataDir, 'key', 'revoke', TENANT, PRINCIPAL, first.id);

        const res = await expectStatusSoon(send(first), 401, 'the revoked key is rejected');
        assertUnauthorized(res);
        assert.equal((await send(second)()).status, 200, 'the second key must stay valid');
    });

    test('revoked key cannot be revoked again', async () => {
        const result = await adminFailing(server.dataDir, 'key', 'revoke', TENANT, PRINCIPAL, first.id);

        assert.equal(result.code, 1, result.stderr);
        const listing = await admin(server.dataDir, 'key', 'list', TENANT, PRINCIPAL);
        const row = listing.split('\n').find((line) => line.startsWith(first.id));
        assert.ok(row, `key list does not show the revoked key:\n${listing}`);
        assert.match(row.split(/\s+/)[3], /^\d{4}-\d{2}-\d{2}T/, `key list shows no revocation time:\n${listing}`);
    });

    test('disabled tenant is rejected within a second', async () => {
        await admin(server.dataDir, 'tenant', 'disable', TENANT);

        const res = await expectStatusSoon(send(second), 403, 'the disabled tenant is rejected');
        assertForbidden(res);
        assert.match(res.json.detail, /disabled/, res.text);
    });

    test('disabled tenant stores nothing', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        for (const mode of ['binary', 'structured', 'batch']) {
            const res = await produce(server.url, { tenant: TENANT, key: second.key, type: KEPT_TYPE, mode });
            assertForbidden(res);
        }
        await checkNothingStored();
    });

    test('enabled tenant works again within a second', async () => {
        await admin(server.dataDir, 'tenant', 'enable', TENANT);

        await expectStatusSoon(send(second), 200, 'the enabled tenant is accepted');
    });

    test('disabled principal is rejected within a second', async () => {
        await admin(server.dataDir, 'principal', 'disable', TENANT, PRINCIPAL);

        const res = await expectStatusSoon(send(second), 403, 'the disabled principal is rejected');
        assertForbidden(res);
        assert.match(res.json.detail, /disabled/, res.text);

        await admin(server.dataDir, 'principal', 'enable', TENANT, PRINCIPAL);
        await expectStatusSoon(send(second), 200, 'the enabled principal is accepted');
    });

    test('revoked grant is rejected within a second', async () => {
        assert.equal((await send(second, REVOKED_TYPE)()).status, 200, 'the grant must work before it is revoked');

        await admin(server.dataDir, 'policy', 'revoke', TENANT, PRINCIPAL, 'produce', REVOKED_TYPE);

        const res = await expectStatusSoon(send(second, REVOKED_TYPE), 403, 'the revoked grant is rejected');
        assertNotGranted(res);
        assert.equal((await send(second, KEPT_TYPE)()).status, 200, 'the other grant must stay');
    });

    test('deleted tenant is unknown within a second', async () => {
        await admin(server.dataDir, 'tenant', 'delete', TENANT);

        const res = await expectStatusSoon(send(second), 401, 'the key of the deleted tenant is rejected');
        assertUnauthorized(res);
    });

    test('no secret in responses or log', () => {
        observe('server log', server.stderr);

        assertNoSecretLeaked();
    });
});
