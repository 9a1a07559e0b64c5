// HTTP clients for the tests: node's http module for ordinary requests and a
// raw socket for requests node would not send (repeated ce- headers, invalid
// bytes, headers without their body).

import http from 'node:http';
import net from 'node:net';

const REQUEST_TIMEOUT_MS = 30_000;

function parseBody(headers, text) {
    const type = headers['content-type'] ?? '';
    if (/json/i.test(type) && text !== '') {
        try {
            return JSON.parse(text);
        } catch {
            return undefined;
        }
    }
    return undefined;
}

// Sends one request to baseUrl + path. body is a string or Buffer, sent with
// a Content-Length unless chunked is set. Resolves with { status, headers,
// text, json } where json is the parsed body when the response is JSON.
export function send(baseUrl, { method = 'POST', path, headers = {}, body, agent, chunked = false } = {}) {
    return new Promise((resolve, reject) => {
        const url = new URL(path, baseUrl);
        const options = { method, headers: { ...headers }, agent: agent ?? false };
        if (body !== undefined && !chunked && !Object.keys(headers).some((h) => /^content-length$/i.test(h))) {
            options.headers['Content-Length'] = Buffer.byteLength(body);
        }
        const req = http.request(url, options, (res) => {
            const chunks = [];
            res.on('data', (chunk) => chunks.push(chunk));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                resolve({ status: res.statusCode, headers: res.headers, text, json: parseBody(res.headers, text) });
            });
            res.on('error', reject);
        });
        req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path} timed out`)));
        req.on('error', reject);
        if (body !== undefined) {
            req.write(body);
        }
        req.end();
    });
}

export function postStructured(baseUrl, path, bodyText, contentType = 'application/cloudevents+json') {
    return send(baseUrl, { path, headers: { 'Content-Type': contentType }, body: bodyText });
}

export function postBatch(baseUrl, path, bodyText, contentType = 'application/cloudevents-batch+json') {
    return send(baseUrl, { path, headers: { 'Content-Type': contentType }, body: bodyText });
}

// Parses one HTTP/1.1 response at the start of buf. Returns null while it is
// incomplete.
function parseResponse(buf) {
    const headerEnd = buf.indexOf('\r\n\r\n');
    if (headerEnd < 0) {
        return null;
    }
    const lines = buf.subarray(0, headerEnd).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
    const headers = {};
    for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let rest = buf.subarray(headerEnd + 4);
    let body;
    if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
        const parts = [];
        for (;;) {
            const lineEnd = rest.indexOf('\r\n');
            if (lineEnd < 0) {
                return null;
            }
            const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
            if (rest.length < lineEnd + 2 + size + 2) {
                return null;
            }
            if (size === 0) {
                break;
            }
            parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
            rest = rest.subarray(lineEnd + 2 + size + 2);
        }
        body = Buffer.concat(parts);
    } else {
        const length = Number(headers['content-length'] ?? 0);
        if (rest.length < length) {
            return null;
        }
        body = rest.subarray(0, length);
    }
    const text = body.toString('utf8');
    return { status, headers, text, json: parseBody(headers, text) };
}

// Opens a connection to port for a request written by hand. Returns
// { connected, write, response }: connected resolves once the connection is
// up, write(data) sends bytes, and response resolves with the first
// complete response that is not 100 Continue or, with untilFirstResponse,
// the first response of any status (to see whether the server responds
// before a body is sent).
export function openRaw(port, { untilFirstResponse = false, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
    const socket = net.connect({ host: '127.0.0.1', port });
    const connected = new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
    });
    const response = new Promise((resolve, reject) => {
        let received = Buffer.alloc(0);
        let settled = false;
        const finish = (err, result) => {
            if (settled) {
                return;
            }
            settled = true;
            socket.destroy();
            if (err) {
                reject(err);
            } else {
                resolve(result);
            }
        };
        socket.setTimeout(timeoutMs, () => finish(new Error(`no response from the server within ${timeoutMs} ms`)));
        socket.on('data', (chunk) => {
            received = Buffer.concat([received, chunk]);
            for (;;) {
                const parsed = parseResponse(received);
                if (parsed === null) {
                    return;
                }
                if (parsed.status !== 100 || untilFirstResponse) {
                    finish(null, parsed);
                    return;
                }
                received = received.subarray(received.indexOf('\r\n\r\n') + 4);
            }
        });
        socket.on('error', (err) => finish(err));
        socket.on('end', () => finish(new Error(`the server closed the connection without a complete response: ${JSON.stringify(received.toString('latin1'))}`)));
    });
    // Keeps a connection error from surfacing as an unhandled rejection
    // when the caller awaits only one of the two promises.
    connected.catch(() => {});
    response.catch(() => {});
    return { connected, write: (data) => socket.write(data), response };
}

// Writes head (the request line and headers) and then body, if any, on a
// new connection to port, and resolves as openRaw's response does.
export async function sendRaw(port, head, body, options = {}) {
    const connection = openRaw(port, options);
    await connection.connected;
    connection.write(head);
    if (body !== undefined) {
        connection.write(body);
    }
    return connection.response;
}

// Builds a request head from a method, path and a list of [name, value]
// header pairs (pairs may repeat a name).
export function rawHead(method, path, headerPairs) {
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
    for (const [name, value] of headerPairs) {
        lines.push(`${name}: ${value}`);
    }
    return `${lines.join('\r\n')}\r\n\r\n`;
}
