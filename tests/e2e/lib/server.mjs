// Starts and stops the event-issuer server and runs its command-line tools.
//
// The binary is EVENT_ISSUER_BIN (set by `make e2e` to the ASan + UBSan
// build), else build/asan/event-issuer in the repository. Every server
// listens on 127.0.0.1 with a port the kernel picks, on its own data folder.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const libDir = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(libDir, '../../..');

// Generous because a sanitizer build starts and stops slower.
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;
const CLI_TIMEOUT_MS = 30_000;

const SANITIZER_MARKERS = [
    'AddressSanitizer',
    'LeakSanitizer',
    'UndefinedBehaviorSanitizer',
    'runtime error',
];

export function serverBinary() {
    return process.env.EVENT_ISSUER_BIN ?? path.join(repoRoot, 'build/asan/event-issuer');
}

export function assertNoSanitizerReport(stderr, processName) {
    for (const marker of SANITIZER_MARKERS) {
        assert.ok(!stderr.includes(marker), `${processName} reported "${marker}":\n${stderr}`);
    }
}

export async function makeDataDir() {
    return mkdtemp(path.join(os.tmpdir(), 'event-issuer-e2e-'));
}

export async function removeDataDir(dataDir) {
    await rm(dataDir, { recursive: true, force: true });
}

class Server {
    constructor(child, dataDir, port) {
        this.child = child;
        this.dataDir = dataDir;
        this.port = port;
        this.url = `http://127.0.0.1:${port}`;
        this.stderrText = '';
        this.exit = new Promise((resolve) => {
            child.once('exit', (code, signal) => resolve({ code, signal }));
        });
    }

    get stderr() {
        return this.stderrText;
    }

    // Sends SIGTERM and checks that the server exits 0 without a sanitizer
    // report. The data folder stays, so a test can restart on it.
    async stop() {
        this.terminate();
        await this.waitForExit();
    }

    terminate() {
        assert.equal(this.child.exitCode, null,
            `the server exited before it was stopped:\n${this.stderrText}`);
        this.child.kill('SIGTERM');
    }

    // Waits for the exit that terminate() started and checks its status.
    async waitForExit() {
        let timer;
        const timeout = new Promise((resolve) => {
            timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
        });
        const exit = await Promise.race([this.exit, timeout]);
        clearTimeout(timer);
        if (exit === null) {
            this.child.kill('SIGKILL');
            assert.fail(`the server did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM`);
        }
        assert.deepEqual(exit, { code: 0, signal: null },
            `the server exited abnormally after SIGTERM:\n${this.stderrText}`);
        assertNoSanitizerReport(this.stderrText, 'the server');
    }

    async stopAndRemoveData() {
        try {
            await this.stop();
        } finally {
            await removeDataDir(this.dataDir);
        }
    }
}

// The argument that lets a test server accept event types without a
// registered schema, which most suites produce.
export const UNREGISTERED_TYPES_ARG = '--require-registered-types=false';

// Starts `event-issuer serve` on dataDir (a new temporary folder if omitted)
// with extra command-line args and environment variables env, and resolves
// once it logs its address. Unless auth is set, API keys are off
// (--insecure-no-auth), so every request is produced as principal
// "anonymous". Unless registeredTypes is set, event types without a
// registered schema are accepted (--require-registered-types=false).
export async function startServer({ dataDir, args = [], auth = false, registeredTypes = false, env = {} } = {}) {
    const dir = dataDir ?? (await makeDataDir());
    const authArgs = auth ? [] : ['--insecure-no-auth'];
    const typeArgs = registeredTypes ? [] : [UNREGISTERED_TYPES_ARG];
    const child = spawn(serverBinary(),
        ['serve', '--listen', '127.0.0.1:0', '--data', dir, ...authArgs, ...typeArgs, ...args],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    child.stdout.resume();

    const port = await new Promise((resolve, reject) => {
        let stderr = '';
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`the server did not log its address within ${START_TIMEOUT_MS} ms:\n${stderr}`));
        }, START_TIMEOUT_MS);
        const onData = (chunk) => {
            stderr += chunk;
            const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
            if (match) {
                clearTimeout(timer);
                child.stderr.off('data', onData);
                resolve({ port: Number(match[1]), stderr });
            }
        };
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', onData);
        child.once('error', (err) => {
            clearTimeout(timer);
            reject(new Error(`cannot start ${serverBinary()}: ${err.message}`));
        });
        child.once('exit', (code, signal) => {
            clearTimeout(timer);
            reject(new Error(`the server exited during start-up (code ${code}, signal ${signal}):\n${stderr}`));
        });
    });

    const server = new Server(child, dir, port.port);
    server.stderrText = port.stderr;
    child.stderr.on('data', (chunk) => {
        server.stderrText += chunk;
    });
    return server;
}

// Runs the event-issuer command line with args; resolves with its output and
// exit code. A sanitizer report fails the calling test.
export function runCli(args) {
    return new Promise((resolve, reject) => {
        execFile(serverBinary(), args,
            { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: CLI_TIMEOUT_MS },
            (err, stdout, stderr) => {
                if (err && typeof err.code !== 'number') {
                    reject(new Error(`event-issuer ${args.join(' ')} failed: ${err.message}\n${stderr}`));
                    return;
                }
                try {
                    assertNoSanitizerReport(stderr, `event-issuer ${args.join(' ')}`);
                } catch (sanitizerError) {
                    reject(sanitizerError);
                    return;
                }
                resolve({ code: err ? err.code : 0, stdout, stderr });
            });
    });
}
