// Kafka helpers for the end-to-end tests: the mock-kafka cluster, a server
// on the Kafka backbone, and two independent readers of what the cluster
// stores (kcat, and kafkajs with the CloudEvents SDK's Kafka binding).
//
// mock-kafka is MOCK_KAFKA_BIN, else build/asan/tests/mock-kafka in the
// repository (`make e2e` builds it). Its 3 brokers listen on 127.0.0.1 with
// ports the kernel picks.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

import { Kafka as SdkKafka } from 'cloudevents';
import { Kafka, logLevel } from 'kafkajs';

import { assertNoSanitizerReport, repoRoot, startServer } from './server.mjs';

const START_TIMEOUT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 10_000;
const KCAT_TIMEOUT_MS = 60_000;
const KAFKAJS_TIMEOUT_MS = 60_000;

export function mockKafkaBinary() {
    return process.env.MOCK_KAFKA_BIN ?? path.join(repoRoot, 'build/asan/tests/mock-kafka');
}

class MockKafka {
    constructor(child, bootstrap, lines) {
        this.child = child;
        this.bootstrap = bootstrap;
        this.lines = lines;
        this.stderrText = '';
        this.queue = Promise.resolve();
        this.exit = new Promise((resolve) => {
            child.once('exit', (code, signal) => resolve({ code, signal }));
        });
    }

    // Sends one command line ("broker-down 2") and resolves once mock-kafka
    // replies "ok"; a reply "error ..." rejects. Commands run one at a time.
    command(line) {
        const run = async () => {
            const reply = new Promise((resolve, reject) => {
                const timer = setTimeout(
                    () => reject(new Error(`mock-kafka did not reply to "${line}"`)),
                    COMMAND_TIMEOUT_MS);
                this.lines.once('line', (text) => {
                    clearTimeout(timer);
                    resolve(text);
                });
            });
            this.child.stdin.write(`${line}\n`);
            const text = await reply;
            if (text !== 'ok') {
                throw new Error(`mock-kafka rejected "${line}": ${text}`);
            }
        };
        const result = this.queue.then(run);
        this.queue = result.catch(() => {});
        return result;
    }

    // Closes stdin, which ends mock-kafka, and checks it exited cleanly.
    async stop() {
        this.child.stdin.end();
        const exit = await this.exit;
        assert.deepEqual(exit, { code: 0, signal: null },
            `mock-kafka exited abnormally:\n${this.stderrText}`);
        assertNoSanitizerReport(this.stderrText, 'mock-kafka');
    }
}

// Starts mock-kafka and resolves once it printed its bootstrap servers.
export async function startMockKafka() {
    const child = spawn(mockKafkaBinary(), [], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = readline.createInterface({ input: child.stdout });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
        stderr += chunk;
    });

    const bootstrap = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`mock-kafka printed no bootstrap line within ${START_TIMEOUT_MS} ms:\n${stderr}`));
        }, START_TIMEOUT_MS);
        lines.once('line', (text) => {
            clearTimeout(timer);
            const match = /^bootstrap=(\S+)$/.exec(text);
            if (match) {
                resolve(match[1]);
            } else {
                reject(new Error(`unexpected first line from mock-kafka: ${text}`));
            }
        });
        child.once('error', (err) => {
            clearTimeout(timer);
            reject(new Error(`cannot start ${mockKafkaBinary()}: ${err.message}`));
        });
    });

    const cluster = new MockKafka(child, bootstrap, lines);
    cluster.stderrText = stderr;
    child.stderr.on('data', (chunk) => {
        cluster.stderrText += chunk;
    });
    return cluster;
}

// Starts `event-issuer serve --backbone kafka` on cluster, writing to topics
// named prefix + event type.
export function startKafkaServer(cluster, { prefix, args = [] } = {}) {
    return startServer({
        args: ['--backbone', 'kafka', '--kafka-brokers', cluster.bootstrap,
            '--kafka-topic-prefix', prefix, ...args],
    });
}

// Throws unless the server's log shows that it opened the Kafka backbone,
// so a server that silently fell back to the embedded log fails the suite
// instead of passing it. Returns null (no reason to skip).
export function kafkaBackboneMissing(server) {
    if (/kafka: (connected to the Kafka cluster|no Kafka broker at)/.test(server.stderr)) {
        return null;
    }
    throw new Error(`the server did not open the Kafka backbone for --backbone kafka:\n${server.stderr}`);
}

// Reads every record of topic, from the start of each partition to its end,
// with kcat. Resolves with kcat's JSON envelopes: { partition, offset, key,
// payload, headers } where key and payload are strings or null and headers
// is a flat [name, value, ...] array (absent when the record has none).
export function readWithKcat(bootstrap, topic) {
    return new Promise((resolve, reject) => {
        execFile('kcat', ['-C', '-b', bootstrap, '-t', topic, '-e', '-J', '-q'],
            { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: KCAT_TIMEOUT_MS },
            (err, stdout, stderr) => {
                if (err) {
                    reject(new Error(`kcat -C on ${topic} failed: ${err.message}\n${stderr}`));
                    return;
                }
                resolve(stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line)));
            });
    });
}

// Returns the headers of a kcat envelope as [name, value] pairs.
export function kcatHeaders(envelope) {
    const flat = envelope.headers ?? [];
    const pairs = [];
    for (let i = 0; i < flat.length; i += 2) {
        pairs.push([flat[i], flat[i + 1]]);
    }
    return pairs;
}

// Reads count records of topic with a kafkajs consumer (a consumer group of
// its own, from the beginning). Resolves with kafkajs messages plus their
// partition: { partition, offset, key, value, headers }, with Buffers.
export async function readWithKafkajs(bootstrap, topic, count) {
    const kafka = new Kafka({
        clientId: 'event-issuer-e2e',
        brokers: bootstrap.split(','),
        logLevel: logLevel.NOTHING,
    });
    const consumer = kafka.consumer({
        groupId: `e2e-${process.pid}-${Date.now()}-${Math.random()}`,
        maxWaitTimeInMs: 100,
    });
    await consumer.connect();
    try {
        await consumer.subscribe({ topic, fromBeginning: true });
        const messages = [];
        await new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                reject(new Error(`kafkajs read ${messages.length} of ${count} records of ${topic} within ${KAFKAJS_TIMEOUT_MS} ms`));
            }, KAFKAJS_TIMEOUT_MS);
            consumer.run({
                eachMessage: async ({ partition, message }) => {
                    messages.push({ partition, ...message });
                    if (messages.length >= count) {
                        clearTimeout(timer);
                        resolve();
                    }
                },
            }).catch(reject);
        });
        return messages;
    } finally {
        await consumer.disconnect();
    }
}

// Decodes a kafkajs message with the CloudEvents SDK's Kafka binding.
// kafkajs gives Buffers where the SDK expects strings, and null for a
// missing key where the SDK expects undefined.
export function toCloudEvent(message) {
    const headers = {};
    for (const [name, value] of Object.entries(message.headers ?? {})) {
        headers[name] = Buffer.isBuffer(value) ? value.toString('utf8') : value;
    }
    return SdkKafka.toEvent({
        key: message.key === null ? undefined : message.key.toString('utf8'),
        value: message.value,
        headers,
    });
}

// Returns the records (kcat envelopes) whose ce_id header is id.
export function recordsWithId(envelopes, id) {
    return envelopes.filter((envelope) =>
        kcatHeaders(envelope).some(([name, value]) => name === 'ce_id' && value === id));
}

// Returns the events of a produce response with their persistence status:
// [{ id, persistenceStatus }], from a 200 result (one object or an array)
// or from a problem's "events" list.
export function answeredEvents(res) {
    if (res.status === 200) {
        return Array.isArray(res.json) ? res.json : [res.json];
    }
    return res.json?.events ?? [];
}
