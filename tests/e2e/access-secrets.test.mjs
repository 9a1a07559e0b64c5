// No key, secret or stored hash leaks. A server at the most verbose log
// level (debug) receives every kind of accepted and rejected request, and
// the administration commands fail in the ways that involve keys. Then the
// responses, the server's log, the commands' error output and the data
// files are searched for the keys, secrets and hashes.

import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    admin,
    adminFailing,
    assertNoSecretLeaked,
    createKey,
    createPrincipal,
    expectStatusSoon,
    makeKeyOffline,
    observe,
    produce,
    produceBatch,
    request,
    startAuthServer,
    tombstone,
} from './lib/access.mjs';
import { makeDataDir, removeDataDir } from './lib/server.mjs';

const TENANT = 'secret-tenant';
const OTHER = 'secret-other';
const TYPE = 'cloud.secret.allowed.v1';
const FORBIDDEN_TYPE = 'cloud.other.v1';

describe('secrets stay secret', () => {
    let server;
    let stopped = false;
    let writer;
    let revoked;
    let outsider;

    before(async () => {
        const dataDir = await makeDataDir();
        await admin(dataDir, 'tenant', 'create', TENANT);
        await admin(dataDir, 'tenant', 'create', OTHER);
        writer = await createPrincipal(dataDir, TENANT, 'writer', [['produce', 'cloud.secret.*'], ['tombstone', TYPE]]);
        revoked = await createKey(dataDir, TENANT, 'writer');
        outsider = await createPrincipal(dataDir, OTHER, 'outsider', [['produce', '*']]);
        server = await startAuthServer({ dataDir, args: ['--log-level', 'debug'] });
    });

    after(async () => {
        if (stopped) {
            await removeDataDir(server.dataDir);
        } else {
            await server.stopAndRemoveData();
        }
    });

    test('accepted requests', async () => {
        for (const mode of ['binary', 'structured', 'batch']) {
            const res = await produce(server.url, { tenant: TENANT, key: writer.key, type: TYPE, mode });
            assert.equal(res.status, 200, res.text);
        }
        const res = await tombstone(server.url, { tenant: TENANT, key: writer.key, topic: TYPE, partitionKey: 'k1' });
        assert.equal(res.status, 204, res.text);
    });

    test('rejected requests', async () => {
        const wrongSecret = `eik_${writer.id}_${makeKeyOffline().secret}`;
        const cases = [
            ['wrong secret', { tenant: TENANT, key: wrongSecret, type: TYPE }, 401],
            ['unknown key', { tenant: TENANT, key: makeKeyOffline().key, type: TYPE }, 401],
            ['key one character short', { tenant: TENANT, key: writer.key.slice(0, -1), type: TYPE }, 401],
            ['key in Authorization', { tenant: TENANT, headers: { Authorization: `Bearer ${writer.key}` }, type: TYPE }, 401],
            ['foreign tenant', { tenant: OTHER, key: writer.key, type: TYPE }, 403],
            ['missing tenant', { tenant: 'no-such-tenant', key: outsider.key, type: TYPE }, 403],
            ['key pasted as tenant id', { tenant: writer.key, key: writer.key, type: TYPE }, 403],
            ['type not granted', { tenant: TENANT, key: writer.key, type: FORBIDDEN_TYPE }, 403],
            ['invalid event', { tenant: TENANT, key: writer.key, type: TYPE, headers: { 'ce-time': 'yesterday' } }, 400],
        ];
        for (const [what, options, status] of cases) {
            const res = await produce(server.url, options);
            assert.equal(res.status, status, `${what}: HTTP ${res.status}\n${res.text}`);
        }

        const { res: batch } = await produceBatch(server.url, { tenant: TENANT, key: writer.key, types: [TYPE, FORBIDDEN_TYPE] });
        assert.equal(batch.status, 403, batch.text);
        const denied = await tombstone(server.url, { tenant: TENANT, key: writer.key, topic: 'cloud.secret.other.v1', partitionKey: 'k2' });
        assert.equal(denied.status, 403, denied.text);
        const inQuery = await request(server.url, {
            path: `/${TENANT}/produce?subscription-key=${writer.key}`,
            headers: { 'Content-Type': 'application/cloudevents+json' },
            body: '{}',
        });
        assert.equal(inQuery.status, 401, `a key in the query string must not be accepted: ${inQuery.text}`);
    });

    test('revoked and disabled keys', async () => {
        await admin(server.dataDir, 'key', 'revoke', TENANT, 'writer', revoked.id);
        await expectStatusSoon(() => produce(server.url, { tenant: TENANT, key: revoked.key, type: TYPE }), 401, 'the revoked key is rejected');
        await admin(server.dataDir, 'tenant', 'disable', OTHER);
        await expectStatusSoon(() => produce(server.url, { tenant: OTHER, key: outsider.key, type: TYPE }), 403, 'the disabled tenant is rejected');
    });

    test('failing commands', async () => {
        const failures = [
            ['key', 'revoke', TENANT, 'writer', revoked.id],
            ['key', 'revoke', TENANT, 'nobody', writer.id],
            ['key', 'revoke', OTHER, 'outsider', writer.id],
            ['key', 'revoke', TENANT, 'writer', writer.key],
            ['key', 'create', TENANT, 'nobody'],
        ];
        for (const args of failures) {
            await adminFailing(server.dataDir, ...args);
        }
    });

    test('registry file is private', async () => {
        const files = (await readdir(server.dataDir)).filter((name) => name.startsWith('registry.db'));
        assert.ok(files.includes('registry.db'), `no registry.db in ${files}`);
        for (const name of files) {
            const { mode } = await stat(path.join(server.dataDir, name));
            assert.equal(mode & 0o077, 0, `${name} is readable by others: mode ${(mode & 0o777).toString(8)}`);
        }
    });

    test('no secret in responses, logs or files', async () => {
        await server.stop();
        stopped = true;
        for (const status of [200, 204, 400, 401, 403]) {
            assert.match(server.stderr, new RegExp(`status=${status} `), `the log has no request answered ${status}`);
        }
        observe('server log', server.stderr);

        // The registry stores hashes as bytes rather than hex, so the data
        // files are searched for the keys and secrets only.
        const files = [];
        for (const name of await readdir(server.dataDir)) {
            const bytes = await readFile(path.join(server.dataDir, name));
            files.push([`data file ${name}`, bytes.toString('latin1')]);
        }
        for (const [where, text] of files) {
            for (const key of [writer, revoked, outsider]) {
                assert.ok(!text.includes(key.key), `${where} contains the key ${key.id}`);
                assert.ok(!text.includes(key.secret), `${where} contains the secret of key ${key.id}`);
            }
        }

        const checked = assertNoSecretLeaked();
        assert.ok(checked.texts > 25, `only ${checked.texts} texts were checked`);
    });
});
