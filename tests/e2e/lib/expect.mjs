// Assertions on the server's responses: produce results and problem details.

import assert from 'node:assert/strict';

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function assertResult(result, id, where) {
    assert.equal(typeof result, 'object', `${where} is not an object`);
    assert.equal(result.id, id, `${where} has the wrong id`);
    assert.match(String(result.time), RFC3339_UTC, `${where} has no RFC 3339 UTC time`);
    assert.equal(result.persistenceStatus, 'Persisted', `${where} is not Persisted`);
}

function describe(res) {
    return `HTTP ${res.status} ${res.headers['content-type'] ?? ''}\n${res.text}`;
}

// Checks a 200 response to a single produce: one result with the event's id.
export function assertPersisted(res, id) {
    assert.equal(res.status, 200, describe(res));
    assert.match(res.headers['content-type'] ?? '', /^application\/json\b/i, describe(res));
    assertResult(res.json, id, 'the result');
}

// Checks a 200 response to a batch: one result per event, in request order.
export function assertBatchPersisted(res, ids) {
    assert.equal(res.status, 200, describe(res));
    assert.match(res.headers['content-type'] ?? '', /^application\/json\b/i, describe(res));
    assert.ok(Array.isArray(res.json), `the batch result is not an array: ${res.text}`);
    assert.equal(res.json.length, ids.length, `the batch result has the wrong length: ${res.text}`);
    ids.forEach((id, i) => assertResult(res.json[i], id, `batch result ${i}`));
}

function matches(actual, expected) {
    if (expected === undefined) {
        return true;
    }
    return Array.isArray(expected) ? expected.includes(actual) : actual === expected;
}

// Checks a problem-details response. expected: { status, rule, attribute,
// index }. attribute may list the accepted names (for a header, the
// attribute name or the header name). Unset fields are not checked; a rule
// requires an "errors" entry with that rule, attribute and index.
export function assertProblem(res, { status, rule, attribute, index }) {
    assert.equal(res.status, status, describe(res));
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json\b/i, describe(res));
    const problem = res.json;
    assert.equal(typeof problem, 'object', `the problem is not a JSON object: ${res.text}`);
    assert.match(String(problem.type), /^urn:event-issuer:problem:[a-z0-9-]+$/, `bad problem type: ${res.text}`);
    assert.equal(typeof problem.title, 'string', `the problem has no title: ${res.text}`);
    assert.equal(problem.status, status, `the problem status differs from the HTTP status: ${res.text}`);
    assert.equal(typeof problem.detail, 'string', `the problem has no detail: ${res.text}`);
    if (rule === undefined) {
        return problem;
    }
    assert.ok(Array.isArray(problem.errors), `the problem has no errors list: ${res.text}`);
    const found = problem.errors.find((e) =>
        e.rule === rule && matches(e.attribute, attribute) && matches(e.index, index));
    assert.ok(found, `no error with rule ${rule}, attribute ${JSON.stringify(attribute)}, index ${index}: ${res.text}`);
    assert.equal(typeof found.detail, 'string', `the error has no detail: ${res.text}`);
    return problem;
}
