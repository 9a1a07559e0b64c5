// Routing: health check, unknown routes (404), wrong methods (405 with
// Allow), the base path option and the per-request log line.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';

import { assertStoredEvent, expectNothingStored, readTopic } from './lib/eventlog.mjs';
import { assertPersisted, assertProblem } from './lib/expect.mjs';
import { rawHead, send, sendRaw } from './lib/http.mjs';
import { binaryAttributes, binaryHeaders, structuredAttributes, structuredEvent } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

function assertHealthy(res) {
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'] ?? '', /^application\/json\b/i);
    assert.deepEqual(res.json, { status: 'ok' });
}

function allowed(res) {
    return (res.headers.allow ?? '').split(',').map((m) => m.trim().toUpperCase());
}

describe('routes', () => {
    let server;

    before(async () => {
        server = await startServer({ args: ['--log-level', 'info'] });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('healthz reports ok', async () => {
        assertHealthy(await send(server.url, { method: 'GET', path: '/healthz' }));
    });

    for (const [method, path] of [
        ['GET', '/no-such-route'],
        ['POST', '/tenant-a'],
        ['POST', '/tenant-a/produce/extra'],
        ['POST', '/tenant-a/consume'],
        ['POST', '/event-issuer/v1/tenant-a/produce'],
    ]) {
        test(`404 for ${method} ${path}`, async () => {
            const checkNothingStored = await expectNothingStored(server.dataDir);

            const res = await send(server.url, {
                method,
                path,
                headers: { 'Content-Type': 'application/cloudevents+json' },
                body: method === 'POST' ? JSON.stringify(structuredEvent()) : undefined,
            });

            assertProblem(res, { status: 404 });
            await checkNothingStored();
        });
    }

    for (const [method, path, allow] of [
        ['GET', '/tenant-a/produce', 'POST'],
        ['PUT', '/tenant-a/produce', 'POST'],
        ['GET', '/tenant-a/produce/batch', 'POST'],
        ['POST', '/healthz', 'GET'],
    ]) {
        test(`405 for ${method} ${path}`, async () => {
            const res = await send(server.url, { method, path, body: method === 'GET' ? undefined : '{}' });

            assertProblem(res, { status: 405 });
            assert.ok(allowed(res).includes(allow), `Allow header lacks ${allow}: ${res.headers.allow}`);
            assert.ok(!allowed(res).includes(method), `Allow header lists the rejected ${method}`);
        });
    }

    test('request logged with status and tenant', async () => {
        const headers = binaryHeaders();
        const path = '/logged-tenant/produce';

        const res = await send(server.url, { path, headers, body: '{"logged":true}' });

        assertPersisted(res, headers['ce-id']);
        const [stored] = await readTopic(server.dataDir, headers['ce-type']);
        assertStoredEvent(stored, { tenant: 'logged-tenant', attributes: binaryAttributes(headers), dataText: '{"logged":true}' });
        const isRequestLine = (line) => line.includes('POST') && line.includes(path)
            && line.includes('logged-tenant') && /\b200\b/.test(line);
        for (let i = 0; i < 50 && !server.stderr.split('\n').some(isRequestLine); i++) {
            await sleep(100);
        }
        assert.ok(server.stderr.split('\n').some(isRequestLine),
            `no request line with POST, ${path}, the tenant and 200 in the log:\n${server.stderr}`);
    });
});

describe('base path', () => {
    const BASE = '/event-issuer/v1';
    let server;

    before(async () => {
        server = await startServer({ args: ['--base-path', BASE] });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('healthz under base path', async () => {
        assertHealthy(await send(server.url, { method: 'GET', path: `${BASE}/healthz` }));
    });

    test('produce under base path', async () => {
        const event = structuredEvent();

        const res = await send(server.url, {
            path: `${BASE}/base-tenant/produce`,
            headers: { 'Content-Type': 'application/cloudevents+json' },
            body: JSON.stringify(event),
        });

        assertPersisted(res, event.id);
        const [stored] = await readTopic(server.dataDir, event.type);
        assertStoredEvent(stored, { tenant: 'base-tenant', attributes: structuredAttributes(event), dataText: JSON.stringify(event.data) });
    });

    // HTTP/1.1 servers must accept a target in absolute form, as a proxy
    // may send it; only its path is routed.
    test('produce with an absolute-form target', async () => {
        const event = structuredEvent();
        const body = JSON.stringify(event);
        const head = rawHead('POST', `http://127.0.0.1:${server.port}${BASE}/base-tenant/produce`, [
            ['Content-Type', 'application/cloudevents+json'],
            ['Content-Length', String(Buffer.byteLength(body))],
        ]);

        const res = await sendRaw(server.port, head, body);

        assertPersisted(res, event.id);
        const [stored] = await readTopic(server.dataDir, event.type);
        assert.equal(stored.record.tenant, 'base-tenant');
    });

    test('absolute-form targets without a host or with user information get 400', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);
        for (const target of [`http://${BASE}/base-tenant/produce`, `http://user@127.0.0.1${BASE}/base-tenant/produce`]) {
            const event = structuredEvent();
            const body = JSON.stringify(event);
            const head = rawHead('POST', target, [
                ['Content-Type', 'application/cloudevents+json'],
                ['Content-Length', String(Buffer.byteLength(body))],
            ]);

            const res = await sendRaw(server.port, head, body);

            const problem = assertProblem(res, { status: 400 });
            assert.equal(problem.type, 'urn:event-issuer:problem:invalid-target', target);
        }
        await checkNothingStored();
    });

    test('produce without base path is 404', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await send(server.url, {
            path: '/base-tenant/produce',
            headers: { 'Content-Type': 'application/cloudevents+json' },
            body: JSON.stringify(structuredEvent()),
        });

        assertProblem(res, { status: 404 });
        await checkNothingStored();
    });
});
