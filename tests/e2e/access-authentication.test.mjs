// Authentication against a running server: 401 for a missing, misplaced,
// malformed, unknown or wrong key, before anything about the body is
// checked, and the same response whether or not the tenant exists. A server
// started with --auth-header reads the key from that header instead.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    KEY_HEADER,
    admin,
    assertNoSecretLeaked,
    assertUnauthorized,
    createPrincipal,
    makeKeyOffline,
    observe,
    produce,
    request,
    startAuthServer,
} from './lib/access.mjs';
import { expectNothingStored } from './lib/eventlog.mjs';
import { assertPersisted } from './lib/expect.mjs';
import { rawHead, sendRaw } from './lib/http.mjs';
import { makeDataDir } from './lib/server.mjs';

const TENANT = 'auth-tenant';
const TYPE = 'cloud.auth.checked.v1';

// Replaces the character at index i of text.
function replaceAt(text, i, character) {
    return text.slice(0, i) + character + text.slice(i + 1);
}

describe('authentication', () => {
    let server;
    let key;
    let otherKey;

    before(async () => {
        const dataDir = await makeDataDir();
        await admin(dataDir, 'tenant', 'create', TENANT);
        key = await createPrincipal(dataDir, TENANT, 'writer', [['produce', '*']]);
        otherKey = await createPrincipal(dataDir, TENANT, 'other', [['produce', '*']]);
        server = await startAuthServer({ dataDir });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('valid key is accepted', async () => {
        const res = await produce(server.url, { tenant: TENANT, key: key.key, type: TYPE, id: 'valid-key' });

        assertPersisted(res, 'valid-key');
    });

    test('header name is case-insensitive', async () => {
        const res = await produce(server.url, {
            tenant: TENANT, key: key.key, keyHeader: KEY_HEADER.toLowerCase(), type: TYPE, id: 'lower-case-header',
        });

        assertPersisted(res, 'lower-case-header');
    });

    test('missing key names the header', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await produce(server.url, { tenant: TENANT, type: TYPE });

        const problem = assertUnauthorized(res);
        assert.ok(problem.detail.includes(KEY_HEADER), `the detail does not name the header: ${res.text}`);
        assert.match(res.headers['www-authenticate'], new RegExp(`header="${KEY_HEADER}"`));
        await checkNothingStored();
    });

    test('key in another header is missing', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const elsewhere = [
            { Authorization: `Bearer ${key.key}` },
            { Authorization: key.key },
            { 'X-Api-Key': key.key },
            { 'Ocp-Apim-Subscription': key.key },
        ];

        for (const headers of elsewhere) {
            const res = await produce(server.url, { tenant: TENANT, type: TYPE, headers });

            const problem = assertUnauthorized(res);
            assert.ok(problem.detail.includes(KEY_HEADER), `${JSON.stringify(Object.keys(headers))}: ${res.text}`);
        }
        await checkNothingStored();
    });

    test('malformed keys are rejected', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const secretStart = 'eik_'.length + 16 + 1;
        const malformed = {
            'empty value': '',
            'prefix only': 'eik_',
            'no prefix': key.key.slice('eik_'.length),
            'upper-case prefix': `EIK_${key.key.slice(4)}`,
            'upper-case key id': `eik_${key.id.toUpperCase()}_${key.secret}`,
            'key id one digit short': `eik_${key.id.slice(1)}_${key.secret}`,
            'dot instead of underscore': replaceAt(key.key, secretStart - 1, '.'),
            'secret one character short': key.key.slice(0, -1),
            'secret one character long': `${key.key}A`,
            'plus in the secret': replaceAt(key.key, secretStart + 5, '+'),
            'padded secret': `${key.key.slice(0, -1)}=`,
            'Bearer scheme in the key header': `Bearer ${key.key}`,
            'two keys in one header': `${key.key}, ${otherKey.key}`,
        };

        for (const [what, value] of Object.entries(malformed)) {
            const res = await produce(server.url, { tenant: TENANT, key: value, type: TYPE });

            assert.equal(res.status, 401, `${what}: HTTP ${res.status}\n${res.text}`);
            assertUnauthorized(res);
        }
        await checkNothingStored();
    });

    test('unknown key id is rejected', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const unknown = makeKeyOffline();

        const res = await produce(server.url, { tenant: TENANT, key: unknown.key, type: TYPE });

        assertUnauthorized(res);
        await checkNothingStored();
    });

    test('valid key id with wrong secret', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        const lastChar = key.secret.at(-1) === 'A' ? 'B' : 'A';
        const wrongSecrets = {
            'another random secret': `eik_${key.id}_${makeKeyOffline().secret}`,
            'the secret of another key': `eik_${key.id}_${otherKey.secret}`,
            'the last character changed': `${key.key.slice(0, -1)}${lastChar}`,
        };

        for (const [what, value] of Object.entries(wrongSecrets)) {
            const res = await produce(server.url, { tenant: TENANT, key: value, type: TYPE });

            assert.equal(res.status, 401, `${what}: HTTP ${res.status}\n${res.text}`);
            assertUnauthorized(res);
        }
        await checkNothingStored();
    });

    test('invalid key answers alike for any tenant', async () => {
        const wrong = `eik_${key.id}_${makeKeyOffline().secret}`;
        const answers = [];
        for (const tenant of [TENANT, 'no-such-tenant']) {
            for (const value of [undefined, wrong, makeKeyOffline().key]) {
                const res = await produce(server.url, { tenant, key: value, type: TYPE });
                assertUnauthorized(res);
                answers.push({ tenant, value, res });
            }
        }

        // Only the instance (the request path) may differ between tenants;
        // the traceId differs for every request.
        const shape = ({ tenant, res }) => ({
            body: {
                ...res.json,
                instance: res.json.instance.replace(`/${tenant}/`, '/TENANT/'),
                traceId: typeof res.json.traceId,
            },
            challenge: res.headers['www-authenticate'],
        });
        for (let i = 0; i < 3; i++) {
            assert.deepEqual(shape(answers[i + 3]), shape(answers[i]),
                `the 401 for a missing tenant differs from the one for ${TENANT}`);
        }
    });

    test('key is checked before the body', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const invalidJson = await request(server.url, {
            path: `/${TENANT}/produce`,
            headers: { 'Content-Type': 'application/cloudevents+json' },
            body: '{"specversion":',
        });
        const wrongMediaType = await request(server.url, {
            path: `/${TENANT}/produce`,
            headers: { 'Content-Type': 'text/plain', [KEY_HEADER]: makeKeyOffline().key },
            body: 'plain',
        });
        // The 401 must come before the server waits for the body, so this
        // request declares a length over every limit and sends no body.
        const head = rawHead('POST', `/${TENANT}/produce/batch`, [
            ['Content-Type', 'application/cloudevents-batch+json'],
            ['Content-Length', String(1 << 30)],
        ]);
        const tooLarge = await sendRaw(server.port, head, undefined, { untilFirstResponse: true, timeoutMs: 10_000 });
        observe('response to the declared 1 GiB body', `${tooLarge.status}\n${JSON.stringify(tooLarge.headers)}\n${tooLarge.text}`);

        assertUnauthorized(invalidJson);
        assertUnauthorized(wrongMediaType);
        assertUnauthorized(tooLarge);
        await checkNothingStored();
    });

    test('health check needs no key', async () => {
        const res = await request(server.url, { method: 'GET', path: '/healthz' });

        assert.equal(res.status, 200, res.text);
    });

    test('no secret in responses or log', () => {
        observe('server log', server.stderr);

        const checked = assertNoSecretLeaked();

        assert.ok(checked.texts > 20, `only ${checked.texts} texts were checked`);
    });
});

describe('authentication with --auth-header', () => {
    const HEADER = 'X-Api-Key';
    let server;
    let key;

    before(async () => {
        const dataDir = await makeDataDir();
        await admin(dataDir, 'tenant', 'create', TENANT);
        key = await createPrincipal(dataDir, TENANT, 'writer', [['produce', '*']]);
        server = await startAuthServer({ dataDir, args: ['--auth-header', HEADER] });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('key in the configured header is accepted', async () => {
        const res = await produce(server.url, { tenant: TENANT, key: key.key, keyHeader: HEADER, type: TYPE, id: 'custom-header' });

        assertPersisted(res, 'custom-header');
    });

    test('key in the default header is missing', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await produce(server.url, { tenant: TENANT, key: key.key, keyHeader: KEY_HEADER, type: TYPE });

        const problem = assertUnauthorized(res, HEADER);
        assert.ok(problem.detail.includes(HEADER), `the detail does not name ${HEADER}: ${res.text}`);
        assert.ok(!res.headers['www-authenticate'].includes(KEY_HEADER), res.headers['www-authenticate']);
        await checkNothingStored();
    });

    test('no secret in responses or log', () => {
        observe('server log', server.stderr);

        assertNoSecretLeaked();
    });
});
