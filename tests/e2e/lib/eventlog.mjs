// Reads the embedded event log back through `event-issuer log topics` and
// `event-issuer log read`, the way an operator would.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';

import { memberText, splitValues } from './json-text.mjs';
import { runCli } from './server.mjs';

// Returns a Map from topic to record count.
export async function logTopics(dataDir) {
    const result = await runCli(['log', 'topics', '--data', dataDir]);
    assert.equal(result.code, 0, `log topics exited ${result.code}:\n${result.stderr}`);
    const topics = new Map();
    for (const line of result.stdout.split('\n')) {
        if (line === '') {
            continue;
        }
        const fields = line.split('\t');
        assert.equal(fields.length, 2, `log topics printed a line that is not TOPIC<TAB>COUNT: ${JSON.stringify(line)}`);
        assert.match(fields[1], /^\d+$/, `log topics printed a count that is not a number: ${JSON.stringify(line)}`);
        topics.set(fields[0], Number(fields[1]));
    }
    return topics;
}

// Returns the records of topic from `log read`. Each is { record, text,
// dataText }: the parsed record, its raw JSON text and the raw text of its
// "event"."data" member (undefined when the event has no data).
export async function logRead(dataDir, topic, { from, limit } = {}) {
    const args = ['log', 'read', topic, '--data', dataDir];
    if (from !== undefined) {
        args.push('--from', String(from));
    }
    if (limit !== undefined) {
        args.push('--limit', String(limit));
    }
    const result = await runCli(args);
    assert.equal(result.code, 0, `log read ${topic} exited ${result.code}:\n${result.stderr}`);
    return splitValues(result.stdout).map((text) => ({
        record: JSON.parse(text),
        text,
        dataText: memberText(text, 'event', 'data'),
    }));
}

// Reads every record of topic and checks that the offsets are 0..n-1.
export async function readTopic(dataDir, topic) {
    const records = await logRead(dataDir, topic);
    assert.deepEqual(records.map((r) => r.record.offset), records.map((_, i) => i),
        `offsets of ${topic} are not contiguous from 0`);
    return records;
}

// Returns data text as `log read` prints it. The command turns line breaks
// into spaces so that each record stays on one line. JSON allows line breaks
// only between tokens, and every other byte is printed as stored.
export function asPrinted(dataText) {
    return dataText.replace(/[\r\n]/g, ' ');
}

// Checks that the stored record is the event that was sent: the topic is its
// type, the tenant is the one in the path, and the event's attributes are
// exactly `attributes`. dataText is the data text sent, or undefined for an
// event without data.
export function assertStoredEvent(stored, { tenant, attributes, dataText }) {
    const { record } = stored;
    for (const key of ['topic', 'offset', 'appended', 'tenant', 'principal', 'event']) {
        assert.ok(key in record, `the log record has no "${key}" member: ${stored.text}`);
    }
    assert.equal(record.topic, attributes.type, 'the topic is not the event type');
    assert.equal(record.tenant, tenant);

    const event = { ...record.event };
    delete event.data;
    assert.deepEqual(event, attributes, 'the stored attributes differ from those sent');

    if (dataText === undefined) {
        assert.ok(!('data' in record.event), `an event without data was stored with data: ${stored.text}`);
    } else {
        assert.equal(stored.dataText, asPrinted(dataText), 'the stored data text differs from the text sent');
    }
}

// Captures the topics before a request that must store nothing; the returned
// function checks that they are unchanged.
export async function expectNothingStored(dataDir) {
    const before = await logTopics(dataDir);
    return async () => {
        const after = await logTopics(dataDir);
        assert.deepEqual(after, before, 'a rejected request changed the event log');
    };
}

// Reads the data bytes of one record straight from the log's SQLite file
// (table "records" in DIR/events.db) with the sqlite3 shell, because `log
// read` prints line breaks as spaces. Resolves with a Buffer, or null when
// the record has no data.
export function storedDataBytes(dataDir, topic, offset) {
    const quotedTopic = `'${topic.replaceAll("'", "''")}'`;
    const sql = `SELECT CASE WHEN data IS NULL THEN 'null' ELSE hex(data) END FROM records `
        + `WHERE topic = ${quotedTopic} AND "offset" = ${Number(offset)};`;
    return new Promise((resolve, reject) => {
        execFile('sqlite3', [path.join(dataDir, 'events.db'), sql], { encoding: 'utf8' }, (err, stdout, stderr) => {
            if (err) {
                reject(new Error(`sqlite3 failed on ${dataDir}/events.db: ${err.message}\n${stderr}`));
                return;
            }
            const hex = stdout.trim();
            if (hex === '') {
                reject(new Error(`no record ${topic}/${offset} in ${dataDir}/events.db`));
                return;
            }
            resolve(hex === 'null' ? null : Buffer.from(hex, 'hex'));
        });
    });
}

// Checks that the record at topic/offset stores exactly the bytes sent.
export async function assertStoredBytes(dataDir, topic, offset, expected) {
    const bytes = await storedDataBytes(dataDir, topic, offset);
    assert.ok(bytes !== null, `record ${topic}/${offset} has no data`);
    assert.equal(bytes.toString('hex'), Buffer.from(expected).toString('hex'),
        `record ${topic}/${offset} does not store the exact bytes sent:\n${bytes.toString('utf8')}`);
}
