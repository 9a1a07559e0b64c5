// Invalid single events: one case per validation rule, in structured and
// binary mode. Each must get 400 with a problem naming the rule and the
// attribute, and must leave the event log unchanged.

import { after, before, describe, test } from 'node:test';

import { expectNothingStored } from './lib/eventlog.mjs';
import { assertProblem } from './lib/expect.mjs';
import { rawHead, send, sendRaw } from './lib/http.mjs';
import { binaryHeaders, structuredEvent } from './lib/fixtures.mjs';
import { startServer } from './lib/server.mjs';

const PATH = '/invalid-tenant/produce';
const STRUCTURED = { 'Content-Type': 'application/cloudevents+json' };

// A structured request for a valid event changed by overrides.
function structured(overrides) {
    return { headers: STRUCTURED, body: JSON.stringify(structuredEvent(overrides)) };
}

// A structured request whose body is text with {TYPE} and {ID} replaced.
function structuredText(text) {
    const event = structuredEvent();
    const body = text.replaceAll('{TYPE}', event.type).replaceAll('{ID}', event.id);
    return { headers: STRUCTURED, body };
}

const VALID_PREFIX = '{"specversion":"1.0","type":"{TYPE}","source":"/e2e","id":"{ID}"';

function binary(overrides, body = '{}') {
    return { headers: binaryHeaders(overrides), body };
}

// A binary request sent over a raw socket, so that a header can repeat.
function rawBinary(extraPairs, body = '{}') {
    const headers = binaryHeaders();
    const pairs = Object.entries(headers).concat(extraPairs);
    pairs.push(['Content-Length', String(Buffer.byteLength(body))]);
    return { raw: rawHead('POST', PATH, pairs) + body };
}

const CASES = [
    // required: a missing or null required attribute
    { name: 'structured missing id', request: () => structured({ id: undefined }), rule: 'required', attribute: 'id' },
    { name: 'structured missing specversion', request: () => structured({ specversion: undefined }), rule: 'required', attribute: 'specversion' },
    { name: 'structured null source', request: () => structured({ source: null }), rule: 'required', attribute: 'source' },
    { name: 'binary missing ce-source', request: () => binary({ 'ce-source': undefined }), rule: 'required', attribute: 'source' },
    { name: 'binary missing ce-type', request: () => binary({ 'ce-type': undefined }), rule: 'required', attribute: 'type' },

    // empty
    { name: 'structured empty type', request: () => structured({ type: '' }), rule: 'empty', attribute: 'type' },
    { name: 'binary empty ce-id', request: () => binary({ 'ce-id': '' }), rule: 'empty', attribute: 'id' },

    // specversion
    { name: 'structured specversion 0.3', request: () => structured({ specversion: '0.3' }), rule: 'specversion', attribute: 'specversion' },
    { name: 'binary specversion 1.1', request: () => binary({ 'ce-specversion': '1.1' }), rule: 'specversion', attribute: 'specversion' },

    // uri-reference and uri
    { name: 'source with a space', request: () => structured({ source: '/has space' }), rule: 'uri-reference', attribute: 'source' },
    { name: 'dataschema not absolute', request: () => structured({ dataschema: 'schemas/train.json' }), rule: 'uri', attribute: 'dataschema' },

    // rfc3339
    { name: 'time with invalid date', request: () => structured({ time: '2018-02-30T10:00:00Z' }), rule: 'rfc3339', attribute: 'time' },
    { name: 'time without offset', request: () => structured({ time: '2018-04-05T17:31:00' }), rule: 'rfc3339', attribute: 'time' },
    { name: 'time hour 25', request: () => structured({ time: '2018-04-05T25:00:00Z' }), rule: 'rfc3339', attribute: 'time' },
    { name: 'binary time not a timestamp', request: () => binary({ 'ce-time': 'yesterday' }), rule: 'rfc3339', attribute: 'time' },

    // media-type
    { name: 'datacontenttype without subtype', request: () => structured({ datacontenttype: 'json' }), rule: 'media-type', attribute: 'datacontenttype' },

    // extension-name
    { name: 'extension name with hyphen', request: () => structured({ 'train-id': 'x' }), rule: 'extension-name', attribute: 'train-id' },
    { name: 'extension name upper case', request: () => structured({ trainId: 'x' }), rule: 'extension-name', attribute: 'trainId' },
    { name: 'binary extension with underscore', request: () => binary({ 'ce-train_id': 'x' }), rule: 'extension-name', attribute: ['train_id', 'ce-train_id'] },

    // attribute-type
    { name: 'subject as number', request: () => structured({ subject: 42 }), rule: 'attribute-type', attribute: 'subject' },
    { name: 'object extension value', request: () => structured({ myext: { a: 1 } }), rule: 'attribute-type', attribute: 'myext' },
    { name: 'array extension value', request: () => structured({ myext: [1] }), rule: 'attribute-type', attribute: 'myext' },
    { name: 'fraction extension value', request: () => structured({ myext: 1.5 }), rule: 'attribute-type', attribute: 'myext' },

    // integer-range: CloudEvents Integer is 32-bit signed
    { name: 'integer 2147483648', request: () => structuredText(`${VALID_PREFIX},"myext":2147483648}`), rule: 'integer-range', attribute: 'myext' },
    { name: 'integer -2147483649', request: () => structuredText(`${VALID_PREFIX},"myext":-2147483649}`), rule: 'integer-range', attribute: 'myext' },

    // duplicate
    { name: 'duplicate id member', request: () => structuredText(`${VALID_PREFIX},"id":"again"}`), rule: 'duplicate', attribute: 'id' },
    { name: 'duplicate ce-id header', request: () => rawBinary([['ce-id', 'second']]), rule: 'duplicate', attribute: ['id', 'ce-id'] },

    // datacontenttype-header: binary mode carries it in Content-Type only
    {
        name: 'ce-datacontenttype header',
        request: () => binary({ 'ce-datacontenttype': 'application/json' }),
        rule: 'datacontenttype-header',
        attribute: ['datacontenttype', 'ce-datacontenttype'],
    },

    // utf-8
    {
        name: 'invalid utf-8 in structured body',
        request: () => ({
            headers: STRUCTURED,
            body: Buffer.concat([Buffer.from(structuredText(`${VALID_PREFIX},"subject":"bad `).body), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
        }),
        rule: 'utf-8',
    },
    {
        name: 'invalid utf-8 in binary body',
        request: () => ({ headers: binaryHeaders(), body: Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]) }),
        rule: 'utf-8',
    },
    { name: 'unpaired surrogate escape', request: () => structuredText(`${VALID_PREFIX},"subject":"x\\ud800y"}`), rule: 'utf-8' },
    { name: 'percent-decoded invalid utf-8', request: () => binary({ 'ce-subject': 'bad%FFbyte' }), rule: 'utf-8', attribute: 'subject' },

    // nul
    { name: 'U+0000 in subject', request: () => structuredText(`${VALID_PREFIX},"subject":"a\\u0000b"}`), rule: 'nul', attribute: 'subject' },
    { name: 'percent-encoded NUL in header', request: () => binary({ 'ce-subject': 'a%00b' }), rule: 'nul', attribute: 'subject' },

    // json-syntax
    { name: 'truncated structured body', request: () => structuredText(`${VALID_PREFIX},`), rule: 'json-syntax' },
    { name: 'trailing text after object', request: () => structuredText(`${VALID_PREFIX}} x`), rule: 'json-syntax' },
    { name: 'empty structured body', request: () => ({ headers: STRUCTURED, body: '' }), rule: 'json-syntax' },
    { name: 'single quotes in structured body', request: () => structuredText("{'specversion':'1.0'}"), rule: 'json-syntax' },
    { name: 'malformed binary body', request: () => binary({}, '{"a":}'), rule: 'json-syntax' },

    // not-an-object
    { name: 'structured body is an array', request: () => structuredText('[{"specversion":"1.0"}]'), rule: 'not-an-object' },
    { name: 'structured body is a string', request: () => structuredText('"event"'), rule: 'not-an-object' },

    // percent-encoding
    { name: 'bad percent escape', request: () => binary({ 'ce-subject': 'bad%zzescape' }), rule: 'percent-encoding', attribute: 'subject' },
    { name: 'truncated percent escape', request: () => binary({ 'ce-subject': 'cut%4' }), rule: 'percent-encoding', attribute: 'subject' },
];

describe('invalid events', () => {
    let server;

    before(async () => {
        server = await startServer();
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    for (const { name, request, rule, attribute } of CASES) {
        test(`${rule}: ${name}`, async () => {
            const checkNothingStored = await expectNothingStored(server.dataDir);
            const req = request();

            const res = req.raw !== undefined
                ? await sendRaw(server.port, req.raw)
                : await send(server.url, { path: PATH, headers: req.headers, body: req.body });

            assertProblem(res, { status: 400, rule, attribute });
            await checkNothingStored();
        });
    }
});
