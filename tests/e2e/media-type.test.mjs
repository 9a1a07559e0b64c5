// Content the server does not take gets 415: event formats other than JSON,
// data that is not JSON, and data_base64. Nothing is stored.

import { after, before, describe, test } from 'node:test';

import { expectNothingStored } from './lib/eventlog.mjs';
import { assertProblem } from './lib/expect.mjs';
import { send } from './lib/http.mjs';
import { binaryHeaders, structuredEvent } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

const PRODUCE = '/media-tenant/produce';
const BATCH = '/media-tenant/produce/batch';

const CASES = [
    {
        name: 'structured event in xml format',
        path: PRODUCE,
        headers: { 'Content-Type': 'application/cloudevents+xml' },
        body: () => '<event/>',
        rule: 'unsupported-media-type',
    },
    {
        name: 'batch sent as application/json',
        path: BATCH,
        headers: { 'Content-Type': 'application/json' },
        body: () => JSON.stringify([structuredEvent()]),
        rule: 'unsupported-media-type',
    },
    {
        name: 'batch sent as single structured event',
        path: BATCH,
        headers: { 'Content-Type': 'application/cloudevents+json' },
        body: () => JSON.stringify([structuredEvent()]),
        rule: 'unsupported-media-type',
    },
    {
        name: 'binary text/plain data',
        path: PRODUCE,
        headers: () => binaryHeaders({ 'Content-Type': 'text/plain' }),
        body: () => 'just text',
        rule: 'unsupported-data-content-type',
        attribute: 'datacontenttype',
    },
    {
        name: 'binary octet-stream data',
        path: PRODUCE,
        headers: () => binaryHeaders({ 'Content-Type': 'application/octet-stream' }),
        body: () => Buffer.from([0, 1, 2, 3]),
        rule: 'unsupported-data-content-type',
        attribute: 'datacontenttype',
    },
    {
        name: 'structured text/plain datacontenttype',
        path: PRODUCE,
        headers: { 'Content-Type': 'application/cloudevents+json' },
        body: () => JSON.stringify(structuredEvent({ datacontenttype: 'text/plain', data: 'plain text' })),
        rule: 'unsupported-data-content-type',
        attribute: 'datacontenttype',
    },
    {
        name: 'structured data_base64',
        path: PRODUCE,
        headers: { 'Content-Type': 'application/cloudevents+json' },
        body: () => JSON.stringify(structuredEvent({ data: undefined, data_base64: 'eyJhIjoxfQ==' })),
        rule: 'data-base64',
        attribute: 'data_base64',
    },
    {
        name: 'batch element with data_base64',
        path: BATCH,
        headers: { 'Content-Type': 'application/cloudevents-batch+json' },
        body: () => JSON.stringify([structuredEvent(), structuredEvent({ data: undefined, data_base64: 'AAEC' })]),
        rule: 'data-base64',
        attribute: 'data_base64',
        index: 1,
    },
];

describe('unsupported media types', () => {
    let server;

    before(async () => {
        server = await startServer();
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    for (const { name, path, headers, body, rule, attribute, index } of CASES) {
        test(`${rule}: ${name}`, async () => {
            const checkNothingStored = await expectNothingStored(server.dataDir);

            const res = await send(server.url, {
                path,
                headers: typeof headers === 'function' ? headers() : headers,
                body: body(),
            });

            assertProblem(res, { status: 415, rule, attribute, index });
            await checkNothingStored();
        });
    }
});
