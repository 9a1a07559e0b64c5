// The real curl binary as a producer, in binary, structured and batch mode,
// plus a ce- header sent twice, which node's own client cannot send as-is.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import { assertStoredEvent, expectNothingStored, readTopic } from './lib/eventlog.mjs';
import { assertBatchPersisted, assertPersisted, assertProblem } from './lib/expect.mjs';
import { structuredAttributes, structuredEvent, uniqueId, uniqueType } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

const TENANT = 'curl-tenant';
const STATUS_MARK = '\n@@curl-result@@';

// Runs curl with the given headers and body on stdin; resolves with the
// status, content type and parsed JSON body.
function curl(url, headers, body) {
    const args = ['--silent', '--show-error', '--noproxy', '*', '--max-time', '30',
        '--request', 'POST', '--data-binary', '@-',
        '--write-out', `${STATUS_MARK}%{http_code} %{content_type}`];
    for (const header of headers) {
        args.push('--header', header);
    }
    args.push(url);
    return new Promise((resolve, reject) => {
        const child = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk; });
        child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
        child.on('error', reject);
        child.on('close', (code) => {
            if (code !== 0) {
                reject(new Error(`curl exited ${code}: ${stderr}`));
                return;
            }
            const mark = stdout.lastIndexOf(STATUS_MARK);
            const text = stdout.slice(0, mark);
            const [status, contentType] = stdout.slice(mark + STATUS_MARK.length).split(' ');
            const headersOut = { 'content-type': contentType };
            let json;
            try {
                json = JSON.parse(text);
            } catch {
                json = undefined;
            }
            resolve({ status: Number(status), headers: headersOut, text, json });
        });
        child.stdin.end(body);
    });
}

describe('curl producer', () => {
    let server;

    before(async () => {
        server = await startServer();
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('curl binary event is persisted', async () => {
        const type = uniqueType('curl-binary');
        const id = uniqueId('curl');
        const body = '{"from":"curl","n":1}';

        const res = await curl(`${server.url}/${TENANT}/produce`, [
            'ce-specversion: 1.0',
            `ce-type: ${type}`,
            'ce-source: /e2e/curl',
            `ce-id: ${id}`,
            'Content-Type: application/json',
        ], body);

        assertPersisted(res, id);
        const records = await readTopic(server.dataDir, type);
        assertStoredEvent(records[0], {
            tenant: TENANT,
            attributes: { specversion: '1.0', type, source: '/e2e/curl', id, datacontenttype: 'application/json' },
            dataText: body,
        });
    });

    test('curl structured event is persisted', async () => {
        const event = structuredEvent();

        const res = await curl(`${server.url}/${TENANT}/produce`,
            ['Content-Type: application/cloudevents+json'], JSON.stringify(event));

        assertPersisted(res, event.id);
        const records = await readTopic(server.dataDir, event.type);
        assertStoredEvent(records[0], {
            tenant: TENANT,
            attributes: structuredAttributes(event),
            dataText: JSON.stringify(event.data),
        });
    });

    test('curl batch is persisted', async () => {
        const type = uniqueType('curl-batch');
        const events = [structuredEvent({ type }), structuredEvent({ type })];

        const res = await curl(`${server.url}/${TENANT}/produce/batch`,
            ['Content-Type: application/cloudevents-batch+json'], JSON.stringify(events));

        assertBatchPersisted(res, events.map((ev) => ev.id));
        const records = await readTopic(server.dataDir, type);
        assert.equal(records.length, 2);
        events.forEach((ev, i) => {
            assertStoredEvent(records[i], {
                tenant: TENANT,
                attributes: structuredAttributes(ev),
                dataText: JSON.stringify(ev.data),
            });
        });
    });

    test('curl repeated ce-id header is rejected', async () => {
        const checkNothingStored = await expectNothingStored(server.dataDir);

        const res = await curl(`${server.url}/${TENANT}/produce`, [
            'ce-specversion: 1.0',
            `ce-type: ${uniqueType('curl-duplicate')}`,
            'ce-source: /e2e/curl',
            'ce-id: first',
            'ce-id: second',
            'Content-Type: application/json',
        ], '{}');

        assertProblem(res, { status: 400, rule: 'duplicate', attribute: ['id', 'ce-id'] });
        await checkNothingStored();
    });
});
