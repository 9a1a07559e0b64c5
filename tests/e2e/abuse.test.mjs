// Abusive clients: stalled requests, too many connections, huge headers
// and bodies, endless chunked bodies, pipelining and garbage. Beside each
// abuser a normal client keeps producing over a keep-alive connection it
// opened first; all its requests must succeed, with a 99th percentile
// latency under a second (generous for the sanitizer build).
//
// libmicrohttpd 0.9.75 behaviours the tests rely on: a connection idle for
// --connection-timeout seconds is closed without a response, headers past
// the connection's memory (--connection-memory) get 431, and a request
// line without a target is closed without a response.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
    NormalClient, RawConnection, assertUnharmed, splitResponses, watchRss, within,
} from './lib/abuse.mjs';
import { send } from './lib/http.mjs';
import { startServer } from './lib/server.mjs';

const TIMEOUT_S = 2;
// How much later than --connection-timeout a stalled connection may close.
const TIMEOUT_SLACK_MS = 3000;
const EVENT_LIMIT = 64 * 1024;
const MiB = 1024 * 1024;

// The normal client's requests: at least this many, the last ones
// possibly after a short abuse has ended.
const NORMAL_REQUESTS = 10;
// Abuse that ends at once is repeated for this long.
const REPEAT_MS = 1000;

// Runs abuse() with a normal client beside it and checks the client.
async function besideNormalClient(server, abuse) {
    const client = new NormalClient(server.url);
    await client.start();
    try {
        await abuse();
        await client.waitForRequests(NORMAL_REQUESTS);
    } catch (err) {
        await client.stop();
        throw err;
    }
    assertUnharmed(await client.stop(), { minRequests: NORMAL_REQUESTS });
}

// Runs abuse() again and again for REPEAT_MS.
async function repeat(abuse) {
    const end = performance.now() + REPEAT_MS;
    do {
        await abuse();
    } while (performance.now() < end);
}

function head(method, path, headers) {
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers];
    return `${lines.join('\r\n')}\r\n\r\n`;
}

describe('abusive clients', () => {
    let server;

    before(async () => {
        server = await startServer({
            args: ['--connection-timeout', String(TIMEOUT_S), '--connection-limit', '256',
                '--max-event-bytes', String(EVENT_LIMIT)],
        });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('stalled headers closed after timeout', async () => {
        await besideNormalClient(server, async () => {
            const abusers = Array.from({ length: 40 }, () => new RawConnection(server.port));
            await Promise.all(abusers.map((c) => c.connected));
            await Promise.all(abusers.map((c) => c.write('POST /slow/produce HTTP/1.1\r\nHost: 127.0.0.1\r\nce-id: 1')));

            const results = await within(Promise.all(abusers.map((c) => c.closed)),
                TIMEOUT_S * 1000 + TIMEOUT_SLACK_MS, 'stalled header connections were not closed');
            for (const result of results) {
                assert.ok(result.afterMs >= TIMEOUT_S * 1000 - 500,
                    `a stalled connection was closed after ${result.afterMs.toFixed(0)} ms, before the timeout`);
                assert.equal(result.received.length, 0, `a stalled connection got a response: ${result.received}`);
            }
        });
    });

    test('stalled body closed after timeout', async () => {
        await besideNormalClient(server, async () => {
            const abuser = new RawConnection(server.port);
            await abuser.connected;
            await abuser.write(head('POST', '/slow/produce', [
                'Content-Type: application/cloudevents+json', 'Content-Length: 1000']));
            await abuser.write('{"specversion":"1.0",');
            const result = await within(abuser.closed, TIMEOUT_S * 1000 + TIMEOUT_SLACK_MS,
                'a connection with a stalled body was not closed');
            assert.ok(result.afterMs >= TIMEOUT_S * 1000 - 500, `closed after ${result.afterMs.toFixed(0)} ms`);
        });
        assert.match(server.stderr, /POST \/slow\/produce .*connection closed before the response was sent/,
            'the stalled request is not in the access log');
    });

    test('huge headers answered 431', async () => {
        await besideNormalClient(server, async () => {
            const cases = [
                ['one 64 KiB header', [`X-Big: ${'a'.repeat(64 * 1024)}`]],
                ['1000 headers of 100 bytes', Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${'b'.repeat(92)}`)],
                ['a 64 KiB ce- header', [`ce-subject: ${'c'.repeat(64 * 1024)}`]],
            ];
            await repeat(async () => {
                for (const [what, headers] of cases) {
                    const abuser = new RawConnection(server.port);
                    await abuser.connected;
                    await abuser.write(head('POST', '/big/produce', headers));
                    const result = await within(abuser.closed, 5000, `${what}: the connection was not closed`);
                    const [response] = splitResponses(result.received);
                    assert.equal(response?.status, 431, `${what}: ${result.received.toString('latin1').slice(0, 200)}`);
                }
            });
        });
    });

    // libmicrohttpd logs each head it rejects itself; the server writes at
    // most 20 of its messages a second and counts the rest.
    test('rejected heads cannot flood the log', async () => {
        const libraryLines = () => server.stderr.split('\n').filter((line) => line.includes('libmicrohttpd:'));
        const before = libraryLines().length;
        const started = Date.now();
        for (let i = 0; i < 150; i++) {
            const abuser = new RawConnection(server.port);
            await abuser.connected;
            await abuser.write(head('POST', '/big/produce', [`X-Big: ${'a'.repeat(64 * 1024)}`]));
            await within(abuser.closed, 5000, 'the connection was not closed');
        }
        const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
        await sleep(300);
        const written = libraryLines().length - before;
        assert.ok(written <= 20 * seconds, `${written} library lines in about ${seconds} s`);

        await sleep(1100);
        const abuser = new RawConnection(server.port);
        await abuser.connected;
        await abuser.write(head('POST', '/big/produce', [`X-Big: ${'a'.repeat(64 * 1024)}`]));
        await within(abuser.closed, 5000, 'the connection was not closed');
        await sleep(300);
        assert.match(libraryLines().slice(before).join('\n'), /\(\d+ earlier messages left out\)/);
    });

    test('1 GB body rejected before reading', async () => {
        for (const [path, type] of [['/big/produce', 'application/cloudevents+json'],
            ['/big/produce/batch', 'application/cloudevents-batch+json']]) {
            await besideNormalClient(server, async () => {
                const rss = watchRss(server.child.pid);
                const before = rss.stop();
                const watch = watchRss(server.child.pid);
                const abuser = new RawConnection(server.port);
                await abuser.connected;
                const chunk = Buffer.alloc(MiB, 0x20);
                // Only the head goes first: body bytes in flight when the
                // server closes would make the kernel reset the connection
                // and could discard the 413 before the client reads it.
                await abuser.write(Buffer.from(head('POST', path,
                    [`Content-Type: ${type}`, `Content-Length: ${1024 * MiB}`])));
                await abuser.response();
                // Keep sending as a client that ignores the response would.
                for (let sent = 1; sent < 64 && !abuser.isClosed; sent++) {
                    if (!(await abuser.write(chunk))) break;
                }
                const result = await within(abuser.closed, 5000, `${path}: the connection was not closed`);
                const peak = watch.stop();

                const [response] = splitResponses(result.received);
                assert.equal(response?.status, 413, `${path}: ${result.received.toString('latin1').slice(0, 300)}`);
                assert.match(JSON.parse(response.text).detail, /more than the limit/);
                assert.ok(peak - before < 32 * 1024,
                    `${path}: the server's RSS grew from ${before} KiB to ${peak} KiB`);
            });
        }
    });

    test('endless chunked body cut off', async () => {
        await besideNormalClient(server, async () => {
            const before = watchRss(server.child.pid).stop();
            const watch = watchRss(server.child.pid);
            const abuser = new RawConnection(server.port);
            await abuser.connected;
            await abuser.write(head('POST', '/big/produce', [
                'Content-Type: application/cloudevents+json', 'Transfer-Encoding: chunked']));
            const chunk = Buffer.concat([Buffer.from(`${(64 * 1024).toString(16)}\r\n`),
                Buffer.alloc(64 * 1024, 0x20), Buffer.from('\r\n')]);
            let written = 0;
            const deadline = performance.now() + 10_000;
            while (!abuser.isClosed && performance.now() < deadline) {
                if (!(await abuser.write(chunk))) break;
                written += chunk.length;
            }
            const result = await within(abuser.closed, 5000, 'the endless chunked body was not cut off');
            const peak = watch.stop();

            assert.equal(result.received.length, 0, 'a response came before the connection was closed');
            // Twice the limit, plus what the kernel's socket buffers took.
            assert.ok(written < 2 * EVENT_LIMIT + 64 * MiB, `${written} bytes were written before the cut`);
            assert.ok(peak - before < 32 * 1024, `the server's RSS grew from ${before} KiB to ${peak} KiB`);
        });
        assert.match(server.stderr, /closing the connection: the body passed \d+ bytes, far over the limit of 65536 bytes/);
    });

    test('chunked body over limit answered 413', async () => {
        const body = Buffer.alloc(EVENT_LIMIT + 10_000, 0x20);
        const res = await send(server.url, {
            path: '/big/produce',
            headers: { 'Content-Type': 'application/cloudevents+json' },
            body,
            chunked: true,
        });
        assert.equal(res.status, 413, res.text);
        assert.equal(res.json.errors[0].rule, 'too-large');
    });

    test('pipelined requests answered in order', async () => {
        const binary = (id, extra = []) => head('POST', '/pipe/produce', [
            'ce-specversion: 1.0', `ce-id: ${id}`, 'ce-type: e2e.pipelined.v1', 'ce-source: /pipe',
            'Content-Type: application/json', 'Content-Length: 7', ...extra]) + '{"n":1}';
        const abuser = new RawConnection(server.port);
        await abuser.connected;
        await abuser.write(binary('first') + head('GET', '/healthz', []) + binary('second') +
            binary('third', ['Connection: close']));
        const result = await within(abuser.closed, 10_000, 'the pipelined requests were not all answered');

        const responses = splitResponses(result.received);
        assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200], result.received.toString('latin1'));
        assert.equal(JSON.parse(responses[0].text).id, 'first');
        assert.equal(JSON.parse(responses[1].text).status, 'ok');
        assert.equal(JSON.parse(responses[2].text).id, 'second');
        assert.equal(JSON.parse(responses[3].text).id, 'third');
    });

    test('garbage request lines rejected', async () => {
        // [what, bytes, the status of a response if one comes]. libmicrohttpd
        // closes some without a response, and passes a method of control
        // bytes on, which no route has.
        const cases = [
            ['three tokens and more', 'GET / HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n', 400],
            ['a NUL in the method', '\u0000\u0001 / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400],
            ['control bytes in the method', '\u0001\u0002 / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 404],
            ['a header line without a colon', 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n', 400],
            ['no target', 'GARBAGE\r\n\r\n', 400],
            ['a TLS client hello', Buffer.from('160301020001000001fc0303', 'hex'), 400],
            ['random bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256)), 400],
        ];
        await besideNormalClient(server, async () => {
            await Promise.all(cases.map(async ([what, bytes, expected]) => {
                const abuser = new RawConnection(server.port);
                await abuser.connected;
                await abuser.write(bytes);
                const result = await within(abuser.closed, TIMEOUT_S * 1000 + TIMEOUT_SLACK_MS,
                    `${what}: the connection was not closed`);
                if (result.received.length > 0) {
                    const [response] = splitResponses(result.received);
                    assert.equal(response?.status, expected, `${what}: ${result.received.toString('latin1').slice(0, 200)}`);
                    assert.equal(response.headers.connection, 'close', `${what}: the response keeps the connection`);
                }
            }));
        });
        const res = await send(server.url, { method: 'GET', path: '/healthz' });
        assert.equal(res.status, 200, 'the server stopped serving after the garbage');
    });
});

describe('connection limit', () => {
    const LIMIT = 16;
    let server;

    before(async () => {
        server = await startServer({ args: ['--connection-limit', String(LIMIT), '--threads', '2'] });
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('connections past limit closed at once', async () => {
        const abusers = [];
        await besideNormalClient(server, async () => {
            for (let i = 0; i < 3 * LIMIT; i++) {
                abusers.push(new RawConnection(server.port));
            }
            await Promise.all(abusers.map((c) => c.connected));
            await sleep(500);

            // The normal client has one connection. Two threads may each
            // accept one connection past the limit at the same moment.
            const open = abusers.filter((c) => !c.isClosed).length;
            assert.ok(open <= LIMIT, `${open} abusive connections are open, the limit is ${LIMIT}`);
            assert.ok(open >= LIMIT - 2, `only ${open} abusive connections were accepted`);
            await sleep(1000);
        });
        for (const abuser of abusers) {
            abuser.destroy();
        }
        await sleep(300);
        const res = await send(server.url, { method: 'GET', path: '/healthz' });
        assert.equal(res.status, 200, 'a new connection was not served after the abusers left');
        assert.match(server.stderr, /connections refused since the last message: \d+; \d+ are open and the limit \(--connection-limit\) is 16/);
    });
});
