// GET /metrics: the Prometheus exposition, parsed by the Prometheus Python
// client. Counters must move by exactly the traffic sent, histograms must
// keep their invariants, and the label sets must stay bounded.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';

import { admin, createPrincipal, KEY_HEADER } from './lib/access.mjs';
import { postStructured, rawHead, send, sendRaw } from './lib/http.mjs';
import { structuredEvent, uniqueType } from './lib/fixtures.mjs';
import { assertHistogramInvariants, sampleValue, samples, scrape } from './lib/prometheus.mjs';
import { makeDataDir, startServer } from './lib/server.mjs';

const TENANT = 'metrics-tenant';
const MAX_EVENT_BYTES = 1024;
const PRODUCE_ROUTE = '/{tenantId}/produce';
const BATCH_ROUTE = '/{tenantId}/produce/batch';
// A request's counters move when libmicrohttpd reports it complete, which
// may be just after the client has read the response.
const SETTLE_MS = 3000;

function requests(families, route, method, status) {
    return sampleValue(families, 'event_issuer_http_requests_total', { route, method, status: String(status) });
}

// Scrapes until check(families) is true or SETTLE_MS passed; returns the last
// scrape either way, so the caller's exact assertions report the numbers.
async function scrapeSettled(baseUrl, check) {
    const deadline = Date.now() + SETTLE_MS;
    for (;;) {
        const scraped = await scrape(baseUrl);
        if (check(scraped.families) || Date.now() > deadline) {
            return scraped;
        }
        await sleep(20);
    }
}

describe('metrics of known traffic', () => {
    let server;
    let key;

    before(async () => {
        const dataDir = await makeDataDir();
        await admin(dataDir, 'tenant', 'create', TENANT);
        key = (await createPrincipal(dataDir, TENANT, 'producer', [['produce', '*']])).key;
        server = await startServer({ dataDir, auth: true, args: ['--max-event-bytes', String(MAX_EVENT_BYTES)] });
    });

    after(async () => {
        await server?.stopAndRemoveData();
    });

    function post(body, { withKey = true, contentType = 'application/cloudevents+json', path = `/${TENANT}/produce` } = {}) {
        const headers = { 'Content-Type': contentType };
        if (withKey) {
            headers[KEY_HEADER] = key;
        }
        return send(server.url, { path, headers, body });
    }

    test('counters move by exactly the requests sent', async () => {
        const typeA = uniqueType('metrics-a');
        const typeB = uniqueType('metrics-b');
        const { families: before } = await scrape(server.url);

        const answers = [
            await post(JSON.stringify(structuredEvent({ type: typeA }))),
            await post(JSON.stringify(structuredEvent({ type: typeA }))),
            await post(JSON.stringify(structuredEvent({ type: typeA, id: undefined }))),
            await post(JSON.stringify(structuredEvent({ type: typeA })), { withKey: false }),
            await post(JSON.stringify(structuredEvent({ type: typeA, data: { pad: 'x'.repeat(2 * MAX_EVENT_BYTES) } }))),
            await post(JSON.stringify([
                structuredEvent({ type: typeA }),
                structuredEvent({ type: typeB }),
                structuredEvent({ type: typeA }),
            ]), { contentType: 'application/cloudevents-batch+json', path: `/${TENANT}/produce/batch` }),
        ];
        assert.deepEqual(answers.map((res) => res.status), [200, 200, 400, 401, 413, 200],
            answers.map((res) => res.text).join('\n'));

        const expected = [
            [PRODUCE_ROUTE, 200, 2],
            [PRODUCE_ROUTE, 400, 1],
            [PRODUCE_ROUTE, 401, 1],
            [PRODUCE_ROUTE, 413, 1],
            [BATCH_ROUTE, 200, 1],
        ];
        const { families: after } = await scrapeSettled(server.url, (families) =>
            sampleValue(families, 'event_issuer_http_requests_in_flight') === 1
            && expected.every(([route, status, count]) =>
                requests(families, route, 'POST', status) - requests(before, route, 'POST', status) >= count));
        const delta = (name, labels) => sampleValue(after, name, labels) - sampleValue(before, name, labels);
        const requestDelta = (route, method, status) => requests(after, route, method, status) - requests(before, route, method, status);

        for (const [route, status, count] of expected) {
            assert.equal(requestDelta(route, 'POST', status), count, `POST ${route} ${status}`);
        }
        // The first scrape, completed before the second one.
        assert.equal(requestDelta('/metrics', 'GET', 200), 1);

        const persisted = (type) => ({ tenant: TENANT, type, status: 'Persisted' });
        assert.equal(delta('event_issuer_events_total', persisted(typeA)), 4);
        assert.equal(delta('event_issuer_events_total', persisted(typeB)), 1);
        assert.equal(delta('event_issuer_validation_failures_total', { rule: 'required' }), 1);
        assert.equal(delta('event_issuer_validation_failures_total', { rule: 'too-large' }), 1);

        // Three requests reached the backbone: two single events and a batch.
        assert.equal(delta('event_issuer_backbone_duration_seconds_count'), 3);
        // Their five events were committed, in however many commits.
        assert.equal(delta('event_issuer_embedded_log_commit_events_sum'), 5);
        assert.ok(delta('event_issuer_embedded_log_commit_duration_seconds_count') >= 1);
        assert.ok(delta('event_issuer_embedded_log_commit_duration_seconds_count') <= 3);

        // Only the scrape that reads it is in flight.
        assert.equal(sampleValue(after, 'event_issuer_http_requests_in_flight'), 1);
    });

    test('raw paths never become labels', async () => {
        await send(server.url, { method: 'GET', path: '/no/such/path-12345' });
        await sendRaw(server.port, rawHead('BREW', '/metrics-tenant/produce', [['Content-Length', '0']]));
        const { res, families } = await scrapeSettled(server.url, (f) => requests(f, 'unmatched', 'other', 405) >= 1);

        assert.ok(!res.text.includes('path-12345'), 'a raw path appears in the exposition');
        assert.ok(!res.text.includes(TENANT + '/produce'), 'a tenant path appears in the exposition');
        assert.ok(!res.text.includes('BREW'), 'an unknown method appears in the exposition');
        assert.ok(requests(families, 'unmatched', 'GET', 404) >= 1);
        assert.ok(requests(families, 'unmatched', 'other', 405) >= 1);
        for (const sample of samples(families, 'event_issuer_http_requests_total')) {
            assert.ok(['unmatched', PRODUCE_ROUTE, BATCH_ROUTE, '/healthz', '/metrics'].includes(sample.labels.route),
                `unexpected route label ${sample.labels.route}`);
        }
    });

    test('histograms keep their invariants', async () => {
        for (let i = 0; i < 5; i++) {
            await post(JSON.stringify(structuredEvent()));
        }
        const { families } = await scrape(server.url);
        assertHistogramInvariants(families);

        const names = families.filter((f) => f.type === 'histogram').map((f) => f.name);
        assert.deepEqual(names.sort(), [
            'event_issuer_backbone_duration_seconds',
            'event_issuer_embedded_log_commit_duration_seconds',
            'event_issuer_embedded_log_commit_events',
        ]);
        const bounds = samples(families, 'event_issuer_backbone_duration_seconds_bucket').map((s) => s.labels.le);
        assert.equal(Number(bounds[0]), 0.0005);
        assert.equal(Number(bounds[bounds.length - 2]), 10);
    });

    test('embedded log reports its queue and WAL', async () => {
        const res = await post(JSON.stringify(structuredEvent()));
        assert.equal(res.status, 200, res.text);
        const { families } = await scrape(server.url);
        const queue = families.find((f) => f.name === 'event_issuer_embedded_log_queue_events');
        assert.equal(queue?.type, 'gauge');
        // Every request has been answered, so nothing waits for the writer.
        assert.equal(sampleValue(families, 'event_issuer_embedded_log_queue_events'), 0);
        assert.ok(sampleValue(families, 'event_issuer_embedded_log_wal_bytes') > 0);
    });

    test('process metrics describe this process', async () => {
        const { families } = await scrape(server.url);
        assert.ok(sampleValue(families, 'process_resident_memory_bytes') > 1024 * 1024);
        assert.ok(sampleValue(families, 'process_open_fds') >= 3);
        assert.ok(sampleValue(families, 'process_max_fds') >= sampleValue(families, 'process_open_fds'));
        assert.ok(sampleValue(families, 'process_cpu_seconds_total') > 0);
        const start = sampleValue(families, 'process_start_time_seconds');
        const now = Date.now() / 1000;
        assert.ok(start <= now + 1, `start time ${start} is in the future`);
        assert.ok(start > now - 600, `start time ${start} is more than ten minutes ago`);
    });
});

describe('metrics routes and listeners', () => {
    test('metrics answer at the root and under the base path', async () => {
        const server = await startServer({ args: ['--base-path', '/event-issuer/v1'] });
        try {
            await scrape(server.url, '/metrics');
            await scrape(server.url, '/event-issuer/v1/metrics');
            const post = await send(server.url, { method: 'POST', path: '/metrics', body: '' });
            assert.equal(post.status, 405);
            assert.equal(post.headers.allow, 'GET');
        } finally {
            await server.stopAndRemoveData();
        }
    });

    test('a metrics listener takes /metrics off the main port', async () => {
        const server = await startServer({ args: ['--metrics-listen', '127.0.0.1:0'] });
        try {
            const match = /serving metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(server.stderr);
            assert.ok(match, `no metrics listener in the log:\n${server.stderr}`);
            const metricsUrl = `http://127.0.0.1:${match[1]}`;

            const onMain = await send(server.url, { method: 'GET', path: '/metrics' });
            assert.equal(onMain.status, 404, onMain.text);
            const health = await send(metricsUrl, { method: 'GET', path: '/healthz' });
            assert.equal(health.status, 404, health.text);

            const res = await postStructured(server.url, '/t/produce', JSON.stringify(structuredEvent()));
            assert.equal(res.status, 200, res.text);
            const { families } = await scrapeSettled(metricsUrl, (f) => requests(f, PRODUCE_ROUTE, 'POST', 200) >= 1
                && requests(f, 'unmatched', 'GET', 404) >= 2);
            assert.equal(requests(families, PRODUCE_ROUTE, 'POST', 200), 1);
            assert.equal(requests(families, 'unmatched', 'GET', 404), 2);
        } finally {
            await server.stopAndRemoveData();
        }
    });

    test('event types past the series limit count as other', async () => {
        const server = await startServer({ args: ['--metrics-event-series', '2'] });
        try {
            const types = [uniqueType('limit'), uniqueType('limit'), uniqueType('limit'), uniqueType('limit')];
            for (const type of types) {
                const res = await postStructured(server.url, '/limited/produce', JSON.stringify(structuredEvent({ type })));
                assert.equal(res.status, 200, res.text);
            }
            // Events are counted before their answer is sent.
            const { families } = await scrape(server.url);
            const series = samples(families, 'event_issuer_events_total');
            assert.equal(series.length, 3, JSON.stringify(series));
            assert.equal(sampleValue(families, 'event_issuer_events_total', { tenant: 'limited', type: types[0], status: 'Persisted' }), 1);
            assert.equal(sampleValue(families, 'event_issuer_events_total', { tenant: 'limited', type: types[1], status: 'Persisted' }), 1);
            assert.equal(sampleValue(families, 'event_issuer_events_total', { tenant: 'limited', type: 'other', status: 'Persisted' }), 2);
            assert.equal(sampleValue(families, 'event_issuer_events_series_limit'), 2);
        } finally {
            await server.stopAndRemoveData();
        }
    });
});
