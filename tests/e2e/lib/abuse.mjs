// Helpers for the abuse tests: a normal client whose requests and latency
// are recorded while an abuser runs beside it, raw connections that
// misbehave, and the server's memory use.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { uniqueId } from './fixtures.mjs';
import { send } from './http.mjs';

// Pause between two requests of the normal client.
const NORMAL_PAUSE_MS = 20;

// A producer that behaves: binary-mode events one after another over one
// keep-alive connection, opened before the abuse starts. headers are
// added to every request (an API key, for example).
export class NormalClient {
    constructor(url, { tenant = 'normal-tenant', type = 'e2e.normal.v1', headers = {} } = {}) {
        this.url = url;
        this.path = `/${tenant}/produce`;
        this.type = type;
        this.headers = headers;
        this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        this.latencies = [];
        this.failures = [];
        this.running = false;
    }

    async request() {
        const id = uniqueId('normal');
        const started = performance.now();
        try {
            const res = await send(this.url, {
                path: this.path,
                headers: {
                    ...this.headers,
                    'ce-specversion': '1.0', 'ce-id': id, 'ce-type': this.type, 'ce-source': '/normal',
                    'Content-Type': 'application/json',
                },
                body: '{"n":1}',
                agent: this.agent,
            });
            this.latencies.push(performance.now() - started);
            if (res.status !== 200 || res.json?.id !== id) {
                this.failures.push(`HTTP ${res.status}: ${res.text.slice(0, 300)}`);
            }
        } catch (err) {
            this.latencies.push(performance.now() - started);
            this.failures.push(err.message);
        }
    }

    // Sends one request, so that the connection is open before any abuse,
    // then keeps sending until stop().
    async start() {
        await this.request();
        this.running = true;
        this.loop = (async () => {
            while (this.running) {
                await this.request();
                await sleep(NORMAL_PAUSE_MS);
            }
        })();
    }

    // Resolves once count requests have completed since start().
    async waitForRequests(count) {
        while (this.latencies.length < count && this.running) {
            await sleep(NORMAL_PAUSE_MS);
        }
    }

    async stop() {
        this.running = false;
        await this.loop;
        this.agent.destroy();
        return { latencies: this.latencies, failures: this.failures };
    }
}

// Returns the value below which fraction (0..1) of values fall.
export function percentile(values, fraction) {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

export function median(values) {
    return percentile(values, 0.5);
}

// Checks the normal client's record: every request succeeded, there were
// at least minRequests, and the 99th percentile latency stayed under p99Ms.
export function assertUnharmed({ latencies, failures }, { p99Ms = 1000, minRequests = 5 } = {}) {
    assert.deepEqual(failures, [], 'requests of the normal client failed beside the abuser');
    assert.ok(latencies.length >= minRequests,
        `the normal client completed only ${latencies.length} requests (expected at least ${minRequests})`);
    const p99 = percentile(latencies, 0.99);
    assert.ok(p99 < p99Ms, `the normal client's p99 latency was ${p99.toFixed(1)} ms (limit ${p99Ms} ms)`);
}

// Returns the resident set size of process pid in KiB, from /proc.
export function rssKiB(pid) {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)[1]);
}

// Samples rssKiB(pid) every intervalMs until stop(), which returns the
// highest value seen.
export function watchRss(pid, intervalMs = 50) {
    let peak = rssKiB(pid);
    const timer = setInterval(() => {
        try {
            peak = Math.max(peak, rssKiB(pid));
        } catch {
            // The process has exited; keep the peak seen so far.
        }
    }, intervalMs);
    return {
        stop() {
            clearInterval(timer);
            return Math.max(peak, rssKiB(pid));
        },
    };
}

// A raw connection that records what it receives and when it closes.
// closed resolves with { afterMs, received, error } once the server ends
// the connection, afterMs counted from the last write.
export class RawConnection {
    constructor(port) {
        this.socket = net.connect({ host: '127.0.0.1', port });
        this.received = Buffer.alloc(0);
        this.lastWrite = performance.now();
        this.writeError = null;
        this.connected = new Promise((resolve, reject) => {
            this.socket.once('connect', resolve);
            this.socket.once('error', reject);
        });
        this.closed = new Promise((resolve) => {
            let error = null;
            this.socket.on('data', (chunk) => {
                this.received = Buffer.concat([this.received, chunk]);
            });
            this.socket.on('error', (err) => {
                error = err.code ?? err.message;
            });
            this.socket.on('close', () => {
                resolve({ afterMs: performance.now() - this.lastWrite, received: this.received, error });
            });
        });
        this.connected.catch(() => {});
    }

    // Writes data and resolves once the kernel took it; a write to a
    // connection the server closed resolves false.
    write(data) {
        this.lastWrite = performance.now();
        return new Promise((resolve) => {
            if (this.socket.destroyed) {
                resolve(false);
                return;
            }
            this.socket.write(data, (err) => {
                if (err) this.writeError = err.code ?? err.message;
                resolve(!err);
            });
        });
    }

    // Resolves with the first response once it is complete.
    async response(timeoutMs = 5000) {
        const deadline = performance.now() + timeoutMs;
        while (splitResponses(this.received).length === 0) {
            if (this.isClosed) throw new Error('the connection was closed without a response');
            if (performance.now() > deadline) throw new Error(`no response within ${timeoutMs} ms`);
            await sleep(5);
        }
        return splitResponses(this.received)[0];
    }

    get isClosed() {
        return this.socket.destroyed || this.socket.readableEnded;
    }

    destroy() {
        this.socket.destroy();
    }
}

// Waits for promise, failing with message after timeoutMs.
export async function within(promise, timeoutMs, message) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${message} (waited ${timeoutMs} ms)`)), timeoutMs);
    });
    try {
        return await Promise.race([promise, timeout]);
    } finally {
        clearTimeout(timer);
    }
}

// Splits bytes into complete HTTP/1.1 responses with Content-Length
// bodies (what this server sends). Returns [{ status, headers, text }].
export function splitResponses(bytes) {
    const responses = [];
    let rest = bytes;
    for (;;) {
        const headEnd = rest.indexOf('\r\n\r\n');
        if (headEnd < 0) break;
        const lines = rest.subarray(0, headEnd).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
        const headers = {};
        for (const line of lines.slice(1)) {
            const colon = line.indexOf(':');
            headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (rest.length < headEnd + 4 + length) break;
        const text = rest.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8');
        responses.push({ status, headers, text });
        rest = rest.subarray(headEnd + 4 + length);
    }
    return responses;
}
