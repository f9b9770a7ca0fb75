/**
 * The fingerprint of a build (scripts/build-fingerprint.mjs, run by `npm run build`): the built
 * CLI keys its cache of validated runbooks by it instead of walking its modules at every start,
 * and any change to a compiled module gives another one.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-build-fingerprint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = join(process.cwd(), 'scripts', 'build-fingerprint.mjs');
const fingerprintOf = (dist: string): string => {
  execFileSync(process.execPath, [SCRIPT, dist]);
  return (JSON.parse(readFileSync(join(dist, 'build-fingerprint.json'), 'utf8')) as { fingerprint: string }).fingerprint;
};

describe('build fingerprint', () => {
  it('names the cache entries of the built CLI', async () => {
    const built = fingerprintOf(join(process.cwd(), 'dist'));
    const cache = join(dir, 'cache');
    const result = await runCli(['list', '--ids'], { env: { XDG_CACHE_HOME: cache, RUNBOOK_NO_CACHE: undefined } });
    expect(result.code, result.stderr).toBe(0);
    const entries = readdirSync(join(cache, 'runbook', 'compiled'));
    expect(entries.length).toBeGreaterThan(0);
    for (const entry of entries) expect(entry.startsWith(`${built}-`), entry).toBe(true);
  });

  it('changes with the content of any compiled module, not with anything else', () => {
    const dist = join(dir, 'dist');
    mkdirSync(join(dist, 'runbook'), { recursive: true });
    writeFileSync(join(dist, 'cli.js'), 'export {};\n');
    writeFileSync(join(dist, 'runbook', 'schema.js'), 'export const a = 1;\n');
    const first = fingerprintOf(dist);
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    writeFileSync(join(dist, 'cli.js.map'), '{}');
    expect(fingerprintOf(dist)).toBe(first);
    writeFileSync(join(dist, 'runbook', 'schema.js'), 'export const a = 2;\n');
    const second = fingerprintOf(dist);
    expect(second).not.toBe(first);
    writeFileSync(join(dist, 'runbook', 'schema.js'), 'export const a = 1;\n');
    expect(fingerprintOf(dist)).toBe(first);
  });
});
