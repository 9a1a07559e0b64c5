// Scans JSON text without decoding it, so tests can compare the exact text
// the server wrote (big numbers, escapes and member order survive).

function skipWhitespace(text, i) {
    while (i < text.length && ' \t\r\n'.includes(text[i])) {
        i++;
    }
    return i;
}

function scanString(text, i) {
    if (text[i] !== '"') {
        throw new SyntaxError(`expected a string at offset ${i}`);
    }
    i++;
    while (i < text.length) {
        if (text[i] === '\\') {
            i += 2;
        } else if (text[i] === '"') {
            return i + 1;
        } else {
            i++;
        }
    }
    throw new SyntaxError('unterminated string');
}

// Returns the offset just past the JSON value that starts at offset i.
function scanValue(text, i) {
    const c = text[i];
    if (c === '"') {
        return scanString(text, i);
    }
    if (c === '{' || c === '[') {
        const close = c === '{' ? '}' : ']';
        i = skipWhitespace(text, i + 1);
        if (text[i] === close) {
            return i + 1;
        }
        for (;;) {
            if (c === '{') {
                i = skipWhitespace(text, scanString(text, i));
                if (text[i] !== ':') {
                    throw new SyntaxError(`expected ':' at offset ${i}`);
                }
                i = skipWhitespace(text, i + 1);
            }
            i = skipWhitespace(text, scanValue(text, i));
            if (text[i] === close) {
                return i + 1;
            }
            if (text[i] !== ',') {
                throw new SyntaxError(`expected ',' or '${close}' at offset ${i}`);
            }
            i = skipWhitespace(text, i + 1);
        }
    }
    const literal = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i));
    if (!literal) {
        throw new SyntaxError(`unexpected character at offset ${i}`);
    }
    return i + literal[0].length;
}

// Splits a stream of JSON values (such as one record per line, where a record
// may itself contain line breaks) into the raw text of each value.
export function splitValues(text) {
    const values = [];
    let i = skipWhitespace(text, 0);
    while (i < text.length) {
        const end = scanValue(text, i);
        values.push(text.slice(i, end));
        i = skipWhitespace(text, end);
    }
    return values;
}

// Returns the raw text of the member at path (a list of member names) inside
// the JSON object text, or undefined when a member on the path is missing.
export function memberText(objectText, ...path) {
    let text = objectText.trim();
    for (const name of path) {
        if (text[0] !== '{') {
            return undefined;
        }
        let i = skipWhitespace(text, 1);
        let found;
        while (found === undefined && text[i] !== '}') {
            const keyEnd = scanString(text, i);
            const key = JSON.parse(text.slice(i, keyEnd));
            i = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1);
            const valueEnd = scanValue(text, i);
            if (key === name) {
                found = text.slice(i, valueEnd);
            }
            i = skipWhitespace(text, valueEnd);
            if (text[i] === ',') {
                i = skipWhitespace(text, i + 1);
            }
        }
        if (found === undefined) {
            return undefined;
        }
        text = found;
    }
    return text;
}
