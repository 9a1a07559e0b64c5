// Configuration: the precedence of flags, environment variables and the
// configuration file, errors that name the option and FILE:LINE, SIGHUP
// reloads, and JSON log lines.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';

import { postStructured, send } from './lib/http.mjs';
import { structuredEvent } from './lib/fixtures.mjs';
import { assertNoSanitizerReport, makeDataDir, removeDataDir, serverBinary, startServer } from './lib/server.mjs';

const WAIT_MS = 5000;

// Runs `event-issuer serve` that must fail at start-up; resolves with its
// exit code and standard error.
function serveFailing(args, env = {}) {
    return new Promise((resolve, reject) => {
        execFile(serverBinary(), ['serve', '--listen', '127.0.0.1:0', ...args],
            { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } },
            (err, stdout, stderr) => {
                if (!err) {
                    reject(new Error(`serve ${args.join(' ')} started but must fail:\n${stderr}`));
                    return;
                }
                assertNoSanitizerReport(stderr, `event-issuer serve ${args.join(' ')}`);
                resolve({ code: err.code, stderr });
            });
    });
}

// Waits until the server's log matches pattern; returns the match.
async function waitForLog(server, pattern) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
        const match = pattern.exec(server.stderr);
        if (match) {
            return match;
        }
        if (Date.now() > deadline) {
            assert.fail(`the log never matched ${pattern}:\n${server.stderr}`);
        }
        await sleep(20);
    }
}

async function healthStatus(server, prefix) {
    return (await send(server.url, { method: 'GET', path: `${prefix}/healthz` })).status;
}

describe('configuration precedence', () => {
    let dir;
    let configFile;

    before(async () => {
        dir = await makeDataDir();
        configFile = path.join(dir, 'event-issuer.conf');
        await writeFile(configFile, [
            '# the base path comes from here unless the environment or a flag sets it',
            'base-path = /from-file',
            '',
            '   max-batch-events = 2   ',
        ].join('\n'));
    });

    after(async () => {
        await removeDataDir(dir);
    });

    async function basePathAnswering(options) {
        const server = await startServer(options);
        try {
            const answering = [];
            for (const prefix of ['/from-file', '/from-env', '/from-flag']) {
                if (await healthStatus(server, prefix) === 200) {
                    answering.push(prefix);
                }
            }
            return answering;
        } finally {
            await server.stopAndRemoveData();
        }
    }

    test('file sets an option', async () => {
        assert.deepEqual(await basePathAnswering({ args: ['--config', configFile] }), ['/from-file']);
    });

    test('environment beats file', async () => {
        const env = { EVENT_ISSUER_BASE_PATH: '/from-env' };
        assert.deepEqual(await basePathAnswering({ args: ['--config', configFile], env }), ['/from-env']);
    });

    test('flag beats environment and file', async () => {
        const env = { EVENT_ISSUER_BASE_PATH: '/from-env' };
        const args = ['--config', configFile, '--base-path', '/from-flag'];
        assert.deepEqual(await basePathAnswering({ args, env }), ['/from-flag']);
    });

    test('config file named by the environment', async () => {
        const env = { EVENT_ISSUER_CONFIG: configFile };
        assert.deepEqual(await basePathAnswering({ env }), ['/from-file']);
    });

    test('file option applies to requests', async () => {
        const server = await startServer({ args: ['--config', configFile, '--base-path', ''] });
        try {
            const batch = JSON.stringify([structuredEvent(), structuredEvent(), structuredEvent()]);
            const res = await send(server.url, {
                path: '/t/produce/batch',
                headers: { 'Content-Type': 'application/cloudevents-batch+json' },
                body: batch,
            });
            assert.equal(res.status, 413, res.text);
            assert.match(res.json.errors[0].detail, /\b2\b/);
        } finally {
            await server.stopAndRemoveData();
        }
    });
});

describe('configuration errors', () => {
    let dir;

    before(async () => {
        dir = await makeDataDir();
    });

    after(async () => {
        await removeDataDir(dir);
    });

    async function failWithFile(lines) {
        const file = path.join(dir, `bad-${Math.random().toString(16).slice(2)}.conf`);
        await writeFile(file, lines.join('\n'));
        const result = await serveFailing(['--config', file, '--data', dir]);
        assert.equal(result.code, 2, result.stderr);
        return { file, stderr: result.stderr };
    }

    test('invalid file value names FILE:LINE', async () => {
        const { file, stderr } = await failWithFile(['# comment', 'threads = 4', 'threads = many']);
        assert.equal(stderr, `event-issuer: ${file}:3: invalid value of threads "many": expected a non-negative integer\n`);
    });

    test('unknown file option names FILE:LINE', async () => {
        const { file, stderr } = await failWithFile(['log-levl = debug']);
        assert.equal(stderr, `event-issuer: ${file}:1: unknown option "log-levl"; see event-issuer serve --help\n`);
    });

    test('line without equals names FILE:LINE', async () => {
        const { file, stderr } = await failWithFile(['', '', 'log-level debug']);
        assert.equal(stderr, `event-issuer: ${file}:3: expected "name = value", got "log-level debug"\n`);
    });

    test('missing file is named', async () => {
        const missing = path.join(dir, 'missing.conf');
        const { code, stderr } = await serveFailing(['--config', missing, '--data', dir]);
        assert.equal(code, 2);
        assert.match(stderr, new RegExp(`cannot read the configuration file ${missing} \\(--config\\): No such file`));
    });

    test('invalid environment value names the variable', async () => {
        const { code, stderr } = await serveFailing(['--data', dir], { EVENT_ISSUER_LOG_FORMAT: 'xml' });
        assert.equal(code, 2);
        assert.equal(stderr, 'event-issuer: invalid value of EVENT_ISSUER_LOG_FORMAT "xml": expected text or json\n');
    });

    test('invalid flag value names the flag', async () => {
        const { code, stderr } = await serveFailing(['--data', dir, '--metrics-event-series', '0']);
        assert.equal(code, 2);
        assert.equal(stderr, 'event-issuer: invalid value of --metrics-event-series "0": must be between 1 and 100000\n');
    });
});

describe('SIGHUP reload', () => {
    let server;
    let configFile;

    before(async () => {
        const dataDir = await makeDataDir();
        configFile = path.join(dataDir, 'event-issuer.conf');
        await writeFile(configFile, 'log-level = info\nmax-event-bytes = 64K\n');
        server = await startServer({ dataDir, args: ['--config', configFile] });
    });

    after(async () => {
        await server?.stopAndRemoveData();
    });

    // A successful health check is logged at debug level only.
    const healthLine = /DEBUG http: GET \/healthz .*status=200 /;

    async function reload(text, expected) {
        await writeFile(configFile, text);
        const mark = server.stderr.length;
        server.child.kill('SIGHUP');
        const deadline = Date.now() + WAIT_MS;
        while (!expected.test(server.stderr.slice(mark))) {
            if (Date.now() > deadline) {
                assert.fail(`no ${expected} after SIGHUP:\n${server.stderr.slice(mark)}`);
            }
            await sleep(20);
        }
        return server.stderr.slice(mark);
    }

    test('log level reload shows debug lines', async () => {
        assert.equal(await healthStatus(server, ''), 200);
        await sleep(200);
        assert.doesNotMatch(server.stderr, healthLine, 'a debug line before the reload');

        const log = await reload('log-level = debug\nmax-event-bytes = 64K\nthreads = 7\n',
            /ignored the new value of threads/);
        assert.match(log, /INFO  config: reloaded log-level: debug, was info/);
        assert.match(log, /WARN  config: ignored the new value of threads: it takes effect only after a restart/);

        assert.equal(await healthStatus(server, ''), 200);
        await waitForLog(server, healthLine);
    });

    test('body limit reload applies to the next request', async () => {
        const event = JSON.stringify(structuredEvent({ data: { pad: 'x'.repeat(2000) } }));
        assert.equal((await postStructured(server.url, '/t/produce', event)).status, 200);

        await reload('log-level = debug\nmax-event-bytes = 1K\n', /reloaded max-event-bytes: 1024, was 65536/);
        const res = await postStructured(server.url, '/t/produce', event);
        assert.equal(res.status, 413, res.text);
    });

    test('invalid file on SIGHUP keeps the old configuration', async () => {
        const log = await reload('log-level = loud\n', /configuration not reloaded/);
        assert.match(log, /ERROR main: configuration not reloaded, the old one stays: event-issuer: .*:1: invalid value of log-level "loud"/);

        // Still debug, still the 1 KiB limit.
        const mark = server.stderr.length;
        assert.equal(await healthStatus(server, ''), 200);
        const deadline = Date.now() + WAIT_MS;
        while (!healthLine.test(server.stderr.slice(mark)) && Date.now() < deadline) {
            await sleep(20);
        }
        assert.match(server.stderr.slice(mark), healthLine);
        const big = JSON.stringify(structuredEvent({ data: { pad: 'x'.repeat(2000) } }));
        assert.equal((await postStructured(server.url, '/t/produce', big)).status, 413);
    });

    test('log format reload switches to JSON lines', async () => {
        await reload('log-level = debug\nlog-format = json\n', /reloaded log-format: json, was text/);
        const mark = server.stderr.length;
        assert.equal(await healthStatus(server, ''), 200);
        const deadline = Date.now() + WAIT_MS;
        while (!/"path":"\/healthz"/.test(server.stderr.slice(mark)) && Date.now() < deadline) {
            await sleep(20);
        }
        const lines = server.stderr.slice(mark).split('\n').filter((l) => l !== '');
        assert.ok(lines.length > 0);
        for (const line of lines) {
            assert.doesNotThrow(() => JSON.parse(line), `not a JSON line: ${line}`);
        }
        assert.ok(lines.some((l) => JSON.parse(l).path === '/healthz'), lines.join('\n'));
    });
});

describe('JSON logs', () => {
    test('every line is one object with access fields', async () => {
        const server = await startServer({ args: ['--log-format', 'json'] });
        try {
            const traceId = '0af7651916cd43dd8448eb211c80319c';
            const res = await postStructured(server.url, '/json-tenant/produce', JSON.stringify(structuredEvent()),
                'application/cloudevents+json');
            assert.equal(res.status, 200, res.text);
            const bad = await send(server.url, {
                path: '/json-tenant/produce',
                headers: { 'Content-Type': 'application/cloudevents+json', traceparent: `00-${traceId}-b7ad6b7169203331-01` },
                body: '{"specversion":"1.0"}',
            });
            assert.equal(bad.status, 400);
            await waitForLog(server, new RegExp(`"trace_id":"${traceId}"`));
            await server.stop();

            const lines = server.stderr.split('\n').filter((l) => l !== '');
            const objects = lines.map((line) => {
                try {
                    return JSON.parse(line);
                } catch {
                    assert.fail(`not a JSON line: ${line}`);
                }
            });
            for (const object of objects) {
                assert.match(object.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
                assert.ok(['error', 'warn', 'info', 'debug'].includes(object.level), object.level);
                assert.equal(typeof object.component, 'string');
                assert.equal(typeof object.message, 'string');
            }
            const access = objects.find((o) => o.trace_id === traceId);
            assert.deepEqual(Object.keys(access).sort(), ['component', 'duration_ms', 'events', 'key_id', 'level',
                'message', 'method', 'path', 'principal', 'route', 'status', 'tenant', 'time', 'trace_id'].sort());
            assert.equal(access.component, 'http');
            assert.equal(access.level, 'info');
            assert.equal(access.method, 'POST');
            assert.equal(access.path, '/json-tenant/produce');
            assert.equal(access.route, '/{tenantId}/produce');
            assert.equal(access.tenant, 'json-tenant');
            assert.equal(access.principal, 'anonymous');
            assert.equal(access.key_id, null);
            assert.equal(access.status, 400);
            assert.equal(access.events, 0);
            assert.equal(typeof access.duration_ms, 'number');
            assert.ok(objects.some((o) => o.component === 'main' && /^listening on /.test(o.message)));
        } finally {
            if (server.child.exitCode === null) {
                await server.stop();
            }
            await removeDataDir(server.dataDir);
        }
    });
});
