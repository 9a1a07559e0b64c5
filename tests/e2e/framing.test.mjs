// Requests whose framing or meaning is ambiguous are rejected before their
// body is read: repeated Content-Length (request smuggling behind a proxy),
// Content-Length with Transfer-Encoding, repeated Content-Type or API key
// headers, and an encoded slash that would split a path segment.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { expectNothingStored } from './lib/eventlog.mjs';
import { binaryHeaders } from './lib/fixtures.mjs';
import { rawHead, sendRaw } from './lib/http.mjs';
import { startServer } from './lib/server.mjs';

const BODY = '{"a":1}';

// The binary-mode attribute headers without Content-Type, plus extra pairs.
function headerPairs(extra) {
    return [...Object.entries(binaryHeaders({ 'Content-Type': undefined })), ...extra];
}

describe('ambiguous requests', () => {
    let server;
    let checkNothingStored;

    before(async () => {
        server = await startServer();
        checkNothingStored = await expectNothingStored(server.dataDir);
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    const cases = [
        ['two Content-Length headers', [['Content-Type', 'application/json'],
            ['Content-Length', '3'], ['Content-Length', String(BODY.length)]], 'Content-Length'],
        ['Content-Length with Transfer-Encoding', [['Content-Type', 'application/json'],
            ['Content-Length', String(BODY.length)], ['Transfer-Encoding', 'chunked']], 'Transfer-Encoding'],
        ['two Content-Type headers', [['Content-Type', 'application/json'],
            ['Content-Type', 'text/plain'], ['Content-Length', String(BODY.length)]], 'Content-Type'],
    ];
    for (const [name, extra, named] of cases) {
        test(`${name} is rejected`, async () => {
            const res = await sendRaw(server.port, rawHead('POST', '/acme/produce', headerPairs(extra)), BODY);
            assert.equal(res.status, 400, res.text);
            assert.equal(res.headers['content-type'], 'application/problem+json');
            assert.equal(res.json.type, 'urn:event-issuer:problem:ambiguous-request');
            assert.ok(res.json.detail.includes(named), res.json.detail);
        });
    }

    test('encoded slash does not split the tenant segment', async () => {
        const res = await sendRaw(server.port,
            rawHead('POST', '/acme%2Fproduce', headerPairs([['Content-Type', 'application/json'],
                ['Content-Length', String(BODY.length)]])), BODY);
        assert.equal(res.status, 404, res.text);
    });

    test('nothing was stored', async () => {
        await checkNothingStored();
    });
});

describe('repeated API key header', () => {
    let server;

    before(async () => {
        server = await startServer({ auth: true });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('two key headers are rejected', async () => {
        const res = await sendRaw(server.port, rawHead('POST', '/acme/produce', headerPairs([
            ['Ocp-Apim-Subscription-Key', 'eik_0123456789abcdef_a'],
            ['Ocp-Apim-Subscription-Key', 'eik_0123456789abcdef_b'],
            ['Content-Type', 'application/json'], ['Content-Length', String(BODY.length)]])), BODY);
        assert.equal(res.status, 400, res.text);
        assert.equal(res.json.type, 'urn:event-issuer:problem:ambiguous-request');
    });
});
