// Requests shaped like those that producers of the original Event Issuer
// send, quirks included: a subscription-key header, Content-Type
// application/cloudevents, "subject": null and ids repeated in a batch.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertStoredBytes, assertStoredEvent, readTopic } from './lib/eventlog.mjs';
import { assertBatchPersisted, assertPersisted } from './lib/expect.mjs';
import { send } from './lib/http.mjs';
import { startServer } from './lib/server.mjs';

const TENANT = 'contract-tenant';
const SOURCE = 'sb://producer.servicebus.example/';

describe('contract example requests', () => {
    let server;

    before(async () => {
        server = await startServer();
    });

    after(async () => {
        await server.stopAndRemoveData();
    });

    test('binary event with partitionkey and subject', async () => {
        const type = 'cloud.open.e2e.contract-binary.v1';
        const headers = {
            'ce-specversion': '1.0',
            'ce-type': type,
            'ce-source': SOURCE,
            'ce-id': 'B100-2000-3000',
            'ce-time': '2018-04-05T17:31:00Z',
            'ce-partitionkey': 'station-oslo-s',
            'Ocp-Apim-Subscription-Key': 'e2e-not-a-real-key',
            'ce-subject': 'TrainPosition',
            'Content-Type': 'application/json',
        };
        const body = '{\n  "value": "binary contract data"\n}';

        const res = await send(server.url, { path: `/${TENANT}/produce`, headers, body });

        assertPersisted(res, 'B100-2000-3000');
        const records = await readTopic(server.dataDir, type);
        assert.equal(records.length, 1);
        assertStoredEvent(records[0], {
            tenant: TENANT,
            attributes: {
                specversion: '1.0',
                type,
                source: SOURCE,
                id: 'B100-2000-3000',
                time: '2018-04-05T17:31:00Z',
                partitionkey: 'station-oslo-s',
                subject: 'TrainPosition',
                datacontenttype: 'application/json',
            },
            dataText: body,
        });
        await assertStoredBytes(server.dataDir, type, 0, body);
    });

    test('structured event with application/cloudevents', async () => {
        const type = 'cloud.open.e2e.contract-structured.v1';
        const dataText = '{ "value": "structured contract data" }';
        // Trailing blank lines as an HTTP client's editor leaves them.
        const body = `{
    "specversion" : "1.0",
    "type" : "${type}",
    "source" : "${SOURCE}",
    "subject": "TrainPosition",
    "id" : "S100-2000-3000",
    "time" : "2018-04-05T17:31:00Z",
    "partitionkey" : "station-bergen",
    "data" : ${dataText}
  }
  \n`;

        const res = await send(server.url, {
            path: `/${TENANT}/produce`,
            headers: { 'Content-Type': 'application/cloudevents', 'Ocp-Apim-Subscription-Key': 'e2e-not-a-real-key' },
            body,
        });

        assertPersisted(res, 'S100-2000-3000');
        const records = await readTopic(server.dataDir, type);
        assert.equal(records.length, 1);
        assertStoredEvent(records[0], {
            tenant: TENANT,
            attributes: {
                specversion: '1.0',
                type,
                source: SOURCE,
                subject: 'TrainPosition',
                id: 'S100-2000-3000',
                time: '2018-04-05T17:31:00Z',
                partitionkey: 'station-bergen',
            },
            dataText,
        });
    });

    test('batch of seven with null subject and repeated ids', async () => {
        const type = 'cloud.open.e2e.contract-batch.v1';
        const ids = ['98765432', '987', '654', '654', '654', '654', '654'];
        const dataText = '{ "value": "batch contract data" }';
        const elements = ids.map((id, i) => {
            const partition = i < 2 ? '\n      "partitionkey": "batch-key",' : '';
            return `    {
      "specversion" : "1.0",
      "type" : "${type}",
      "source" : "${SOURCE}",
      "subject": null,
      "id" : "${id}",
      "time" : "2018-04-05T17:31:00Z",${partition}
      "data" : ${dataText}
    }`;
        });
        const body = `[\n${elements.join(',\n')}\n  ]`;

        const res = await send(server.url, {
            path: `/${TENANT}/produce/batch`,
            headers: { 'Content-Type': 'application/cloudevents-batch+json', 'Ocp-Apim-Subscription-Key': 'e2e-not-a-real-key' },
            body,
        });

        assertBatchPersisted(res, ids);
        const records = await readTopic(server.dataDir, type);
        assert.equal(records.length, 7, 'repeated ids must not be dropped');
        ids.forEach((id, i) => {
            const attributes = {
                specversion: '1.0',
                type,
                source: SOURCE,
                id,
                time: '2018-04-05T17:31:00Z',
            };
            if (i < 2) {
                attributes.partitionkey = 'batch-key';
            }
            // "subject": null means the attribute is absent.
            assertStoredEvent(records[i], { tenant: TENANT, attributes, dataText });
        });
    });
});
