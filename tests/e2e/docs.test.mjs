// The README's options table must be the one the binary prints, so the
// documentation cannot drift from the option table in src/config/config.c.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'node:test';
import { promisify } from 'node:util';

import { repoRoot, serverBinary } from './lib/server.mjs';

const run = promisify(execFile);

test('README options table matches --help-markdown', async () => {
    const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
    const start = readme.indexOf('<!-- options:start -->\n');
    const end = readme.indexOf('<!-- options:end -->');
    assert.ok(start >= 0 && end > start, 'README.md has no options:start/options:end markers');
    const documented = readme.slice(start + '<!-- options:start -->\n'.length, end);

    const { stdout } = await run(serverBinary(), ['serve', '--help-markdown']);
    assert.equal(documented, stdout,
        'README.md options table differs; regenerate it with `build/event-issuer serve --help-markdown`');
});

test('serve --help lists every option of the table', async () => {
    const { stdout: table } = await run(serverBinary(), ['serve', '--help-markdown']);
    const { stdout: help } = await run(serverBinary(), ['serve', '--help']);
    const flags = [...table.matchAll(/^\| `(--[a-z-]+)`/gm)].map((m) => m[1]);
    assert.ok(flags.length >= 10, `expected the option table, got ${flags.length} flags`);
    for (const flag of flags) assert.ok(help.includes(flag), `--help does not mention ${flag}`);
});
