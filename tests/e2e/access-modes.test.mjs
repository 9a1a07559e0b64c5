// The two start-up modes that bypass the usual set-up: --insecure-no-auth,
// which turns authentication off and warns loudly in the log, and --demo,
// which creates a tenant with a key on an empty registry and prints the key
// once.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
    KEY_PATTERN,
    admin,
    assertForbidden,
    assertNoSecretLeaked,
    assertUnauthorized,
    nextId,
    observe,
    produce,
    rememberKey,
    sha256Hex,
    startServerCapturingStdout,
    tombstone,
} from './lib/access.mjs';
import { logRead } from './lib/eventlog.mjs';
import { assertPersisted } from './lib/expect.mjs';
import { makeDataDir, removeDataDir } from './lib/server.mjs';

const KEY_LINE = /^(eik_\S*)$/m;

test('insecure mode warns and needs no key', async () => {
    const server = await startServerCapturingStdout({ args: ['--insecure-no-auth'] });
    try {
        const type = 'cloud.insecure.v1';
        const id = nextId('insecure');

        const res = await produce(server.url, { tenant: 'any-tenant', type, id });

        assertPersisted(res, id);
        const warnings = server.stderr.split('\n').filter((line) => /\bWARN\b.*AUTHENTICATION IS OFF/.test(line));
        assert.ok(warnings.length >= 1, `no warning that authentication is off:\n${server.stderr}`);
        assert.match(warnings[0], /--insecure-no-auth/, 'the warning does not name the option');
        const [stored] = await logRead(server.dataDir, type);
        assert.equal(stored.record.tenant, 'any-tenant');
        assert.equal(stored.record.principal, 'anonymous');
    } finally {
        await server.stop();
        await removeDataDir(server.dataDir);
    }
});

test('normal start does not warn', async () => {
    const server = await startServerCapturingStdout();
    try {
        const res = await produce(server.url, { tenant: 'any-tenant', type: 'cloud.insecure.v1' });

        assertUnauthorized(res);
        assert.doesNotMatch(server.stderr, /AUTHENTICATION IS OFF/);
    } finally {
        await server.stop();
        await removeDataDir(server.dataDir);
    }
});

test('demo key printed once and works', async () => {
    const dataDir = await makeDataDir();
    try {
        const first = await startServerCapturingStdout({ dataDir, args: ['--demo'] });
        let key;
        try {
            [, key] = await first.waitForStdout(KEY_LINE);
            const match = KEY_PATTERN.exec(key);
            assert.ok(match, `the demo key has the wrong form: ${key}`);
            rememberKey({ key, secret: match[2], sha256: sha256Hex(match[2]) });
            assert.equal(first.stdout.match(/eik_/g).length, 1, `more than one key printed:\n${first.stdout}`);

            const id = nextId('demo');
            assertPersisted(await produce(first.url, { tenant: 'demo', key, type: 'cloud.demo.any.v1', id }), id);
            assertForbidden(await produce(first.url, { tenant: 'not-demo', key, type: 'cloud.demo.any.v1' }));
            const removed = await tombstone(first.url, { tenant: 'demo', key, topic: 'cloud.demo.any.v1', partitionKey: 'k1' });
            assert.equal(removed.status, 204, `the demo principal may tombstone: HTTP ${removed.status}\n${removed.text}`);
        } finally {
            await first.stop();
        }
        observe('server log of the first demo start', first.stderr);

        const second = await startServerCapturingStdout({ dataDir, args: ['--demo'] });
        try {
            const id = nextId('demo');
            assertPersisted(await produce(second.url, { tenant: 'demo', key, type: 'cloud.demo.any.v1', id }), id);
        } finally {
            await second.stop();
        }
        observe('server log of the second demo start', second.stderr);
        assert.doesNotMatch(second.stdout, /eik_/, `the second start printed a key:\n${second.stdout}`);
        const keys = await admin(dataDir, 'key', 'list', 'demo');
        assert.equal(keys.trimEnd().split('\n').length, 2, `the demo tenant must have one key:\n${keys}`);

        // The key goes to standard output only, never to the log.
        assertNoSecretLeaked();
    } finally {
        await removeDataDir(dataDir);
    }
});

test('demo creates nothing in a used registry', async () => {
    const dataDir = await makeDataDir();
    try {
        await admin(dataDir, 'tenant', 'create', 'existing');

        const server = await startServerCapturingStdout({ dataDir, args: ['--demo'] });
        await server.stop();

        assert.doesNotMatch(server.stdout, /eik_/, `a demo key was printed:\n${server.stdout}`);
        const tenants = await admin(dataDir, 'tenant', 'list');
        assert.doesNotMatch(tenants, /^demo\b/m, `a demo tenant was created:\n${tenants}`);
    } finally {
        await removeDataDir(dataDir);
    }
});
