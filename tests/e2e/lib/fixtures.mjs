// Valid events to start from. Each gets a fresh id and, unless a test sets
// one, a fresh type, so every test writes to topics of its own.

let sequence = 0;

export function uniqueType(name) {
    sequence += 1;
    return `e2e.${name}.n${sequence}.v1`;
}

export function uniqueId(name = 'event') {
    sequence += 1;
    return `${name}-${process.pid}-${sequence}`;
}

// Returns a structured event object. A key set to undefined in overrides
// removes that attribute.
export function structuredEvent(overrides = {}) {
    const event = {
        specversion: '1.0',
        type: uniqueType('structured'),
        source: '/e2e/producer',
        id: uniqueId(),
        time: '2018-04-05T17:31:00Z',
        data: { value: 'test data' },
    };
    for (const [key, value] of Object.entries(overrides)) {
        if (value === undefined) {
            delete event[key];
        } else {
            event[key] = value;
        }
    }
    return event;
}

// Returns the ce- headers of a binary-mode event. A key set to undefined in
// overrides removes that header.
export function binaryHeaders(overrides = {}) {
    const headers = {
        'ce-specversion': '1.0',
        'ce-type': uniqueType('binary'),
        'ce-source': '/e2e/producer',
        'ce-id': uniqueId(),
        'ce-time': '2018-04-05T17:31:00Z',
        'Content-Type': 'application/json',
    };
    for (const [key, value] of Object.entries(overrides)) {
        if (value === undefined) {
            delete headers[key];
        } else {
            headers[key] = value;
        }
    }
    return headers;
}

// The attributes a binary-mode request stores: the ce- headers without their
// prefix, and the Content-Type as datacontenttype.
export function binaryAttributes(headers) {
    const attributes = {};
    for (const [name, value] of Object.entries(headers)) {
        if (name.toLowerCase().startsWith('ce-')) {
            attributes[name.slice(3).toLowerCase()] = value;
        } else if (name.toLowerCase() === 'content-type') {
            attributes.datacontenttype = value;
        }
    }
    return attributes;
}

// The attributes of a structured event as stored: everything but data, and
// no attribute whose value is null (null means absent).
export function structuredAttributes(event) {
    const attributes = {};
    for (const [name, value] of Object.entries(event)) {
        if (name !== 'data' && value !== null) {
            attributes[name] = value;
        }
    }
    return attributes;
}
