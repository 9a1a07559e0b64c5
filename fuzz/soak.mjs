// Soak test: steady mixed load against one server for a number of
// minutes, with the server's resident set size (RSS) sampled every 10 s.
// A curve that keeps rising after the warm-up points to a leak or an
// unbounded cache; a flat one does not.
//
// The load, at RATE requests per second over CONNECTIONS keep-alive
// connections with a valid API key unless noted:
//   60 %  binary-mode events
//   20 %  batches of 10 structured events
//   10 %  structured events that break a rule (400)
//   10 %  requests with a wrong API key (401)
//
// Writes OUT/rss.csv (elapsed_s, rss_kib, requests, errors) and prints the
// curve. Run through fuzz/soak.sh, which builds the release binary.
//
// Usage: node fuzz/soak.mjs BINARY MINUTES OUT

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const [binary, minutesText, outDir] = process.argv.slice(2);
const minutes = Number(minutesText);
if (!binary || !(minutes > 0) || !outDir) {
    console.error('usage: node fuzz/soak.mjs BINARY MINUTES OUT');
    process.exit(2);
}

const RATE = Number(process.env.SOAK_RATE ?? 300);
const CONNECTIONS = 8;
const SAMPLE_MS = 10_000;
const TENANT = 'soak';
const KEY_HEADER = 'Ocp-Apim-Subscription-Key';

function admin(dataDir, ...args) {
    return execFileSync(binary, [...args, '--data', dataDir], { encoding: 'utf8' });
}

// Creates the tenant and a key, starts the server and resolves with
// { child, port, key }.
async function startServer(dataDir) {
    admin(dataDir, 'tenant', 'create', TENANT);
    admin(dataDir, 'principal', 'create', TENANT, 'writer');
    admin(dataDir, 'policy', 'grant', TENANT, 'writer', 'produce', '*');
    admin(dataDir, 'tenant', 'set', TENANT, 'require-registered-types', 'false');
    const key = admin(dataDir, 'key', 'create', TENANT, 'writer').trimEnd().split('\n').pop();

    // At the default log level, as in production; the access lines are
    // read and dropped, and error lines counted.
    const child = spawn(binary, ['serve', '--listen', '127.0.0.1:0', '--data', dataDir],
        { stdio: ['ignore', 'ignore', 'pipe'] });
    child.errorLines = 0;
    const port = await new Promise((resolve, reject) => {
        let stderr = '';
        const onData = (chunk) => {
            stderr += chunk;
            const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
            if (match) {
                child.stderr.off('data', onData);
                child.stderr.on('data', (more) => {
                    child.errorLines += (String(more).match(/ ERROR /g) ?? []).length;
                });
                resolve(Number(match[1]));
            }
        };
        child.stderr.on('data', onData);
        child.once('exit', (code) => reject(new Error(`the server exited with ${code}:\n${stderr}`)));
    });
    return { child, port, key };
}

function rssKiB(pid) {
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

let sequence = 0;

// Returns [path, headers, body, expected status] for the next request.
function nextRequest(key) {
    sequence += 1;
    const id = `soak-${sequence}`;
    const type = `soak.type${sequence % 8}.v1`;
    const roll = sequence % 10;
    const auth = { [KEY_HEADER]: key };
    if (roll < 6) {
        return [`/${TENANT}/produce`, {
            ...auth, 'ce-specversion': '1.0', 'ce-id': id, 'ce-type': type, 'ce-source': '/soak',
            'Content-Type': 'application/json',
        }, JSON.stringify({ n: sequence, text: 'x'.repeat(100) }), 200];
    }
    if (roll < 8) {
        const events = Array.from({ length: 10 }, (_, i) => ({
            specversion: '1.0', id: `${id}-${i}`, type, source: '/soak', data: { n: i },
        }));
        return [`/${TENANT}/produce/batch`, { ...auth, 'Content-Type': 'application/cloudevents-batch+json' },
            JSON.stringify(events), 200];
    }
    if (roll === 8) {
        return [`/${TENANT}/produce`, { ...auth, 'Content-Type': 'application/cloudevents+json' },
            JSON.stringify({ specversion: '1.1', id, type, source: '/soak', time: 'yesterday' }), 400];
    }
    const wrongKey = `eik_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
    return [`/${TENANT}/produce`, { [KEY_HEADER]: wrongKey, 'ce-specversion': '1.0', 'ce-id': id,
        'ce-type': type, 'ce-source': '/soak' }, '', 401];
}

function send(agent, port, [requestPath, headers, body, expected]) {
    return new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port, path: requestPath, method: 'POST', agent,
            headers: { ...headers, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode === expected));
        });
        req.on('error', () => resolve(false));
        req.end(body);
    });
}

// Prints one line per sample with a bar scaled between the lowest and the
// highest RSS.
function printCurve(samples) {
    const values = samples.map((s) => s.rss);
    const low = Math.min(...values);
    const high = Math.max(...values);
    for (const s of samples) {
        const width = high === low ? 0 : Math.round(((s.rss - low) / (high - low)) * 50);
        console.log(`${String(s.elapsed).padStart(5)} s  ${String(s.rss).padStart(8)} KiB  ${'#'.repeat(width)}`);
    }
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'event-issuer-soak-'));
mkdirSync(outDir, { recursive: true });
const { child, port, key } = await startServer(dataDir);
const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const samples = [];
let requests = 0;
let errors = 0;
const started = performance.now();
const end = started + minutes * 60_000;

// Paces requests at RATE per second, at most CONNECTIONS * 4 in flight.
const pacer = (async () => {
    let inFlight = 0;
    let sent = 0;
    while (performance.now() < end) {
        const due = Math.floor(((performance.now() - started) / 1000) * RATE);
        while (sent < due && inFlight < CONNECTIONS * 4) {
            sent += 1;
            inFlight += 1;
            send(agent, port, nextRequest(key)).then((ok) => {
                inFlight -= 1;
                requests += 1;
                if (!ok) errors += 1;
            });
        }
        await sleep(5);
    }
    while (inFlight > 0) await sleep(10);
})();

const sampler = (async () => {
    for (let elapsed = 0; performance.now() < end; elapsed += SAMPLE_MS / 1000) {
        const sample = { elapsed, rss: rssKiB(child.pid), requests, errors };
        samples.push(sample);
        writeFileSync(path.join(outDir, 'rss.csv'), `elapsed_s,rss_kib,requests,errors\n${
            samples.map((s) => `${s.elapsed},${s.rss},${s.requests},${s.errors}`).join('\n')}\n`);
        await sleep(started + (elapsed + SAMPLE_MS / 1000) * 1000 - performance.now());
    }
})();

await Promise.all([pacer, sampler]);
agent.destroy();
const finalRss = rssKiB(child.pid);
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
rmSync(dataDir, { recursive: true, force: true });

printCurve(samples);
// RSS rises while SQLite's page cache of the log (64 MiB for the writer)
// fills, so the second half of the run is the one that shows a leak.
const middle = samples[Math.floor(samples.length / 2)];
const last = samples[samples.length - 1];
const slope = last.elapsed > middle.elapsed ? ((last.rss - middle.rss) / (last.elapsed - middle.elapsed)) * 60 : 0;
console.log(`soak: ${minutes} min at ${RATE} requests/s: ${requests} requests, ${errors} with an unexpected status, ` +
    `${child.errorLines} ERROR lines in the server's log`);
console.log(`soak: RSS ${samples[0].rss} KiB at the start, ${middle.rss} KiB at ${middle.elapsed} s, ` +
    `${last.rss} KiB at ${last.elapsed} s, ${finalRss} KiB at the end, max ${Math.max(...samples.map((s) => s.rss))} KiB; ` +
    `slope over the second half ${slope.toFixed(0)} KiB/min`);
console.log(`soak: samples in ${path.join(outDir, 'rss.csv')}`);
process.exit(errors > 0 || child.errorLines > 0 ? 1 : 0);
