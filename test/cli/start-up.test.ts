/**
 * What a start reads: `list` with the cache of validated runbooks warm, and `--version`, load
 * none of the heavy modules (YAML parser, zod, pg, ssh2, prompts), seen from the files the
 * process opens (strace); `list` says the same with the cache warm as without it, and a runbook
 * the cache cannot hold (an invalid one) is still listed as invalid.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-start-up-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { XDG_CACHE_HOME: join(dir, 'cache'), RUNBOOK_NO_CACHE: undefined };
const HEAVY = [
  'node_modules/yaml/',
  'node_modules/zod/',
  'node_modules/pg/',
  'node_modules/ssh2/',
  'node_modules/@inquirer/',
  '/dist/planner/',
];

/** The files a run of the CLI opened. */
async function openedFiles(args: string[]): Promise<string[]> {
  const trace = join(dir, `trace-${args.join('-')}`);
  await promisify(execFile)('strace', ['-f', '-qq', '-e', 'trace=openat', '-o', trace, process.execPath, CLI, ...args], {
    env: { ...process.env, NO_COLOR: '1', XDG_CACHE_HOME: env.XDG_CACHE_HOME },
  });
  return readFileSync(trace, 'utf8')
    .split('\n')
    .filter((line) => !line.includes('ENOENT'))
    .flatMap((line) => /openat\([^,]+, "([^"]+)"/.exec(line)?.[1] ?? []);
}

describe('start-up', () => {
  it('list, cache warm, and --version load no YAML parser, zod, pg, ssh2, prompts or planner', async () => {
    expect((await runCli(['list'], { env })).code).toBe(0); // fills the cache
    for (const args of [['list'], ['--version']]) {
      const files = await openedFiles(args);
      expect(
        files.some((f) => f.includes('/dist/cli.js')),
        `${args.join(' ')} ran the built CLI`,
      ).toBe(true);
      expect(
        files.filter((f) => HEAVY.some((h) => f.includes(h))),
        args.join(' '),
      ).toEqual([]);
    }
  });

  it('list says the same with the cache warm as without it', async () => {
    const uncached = await runCli(['list', '--json'], { env: { ...env, RUNBOOK_NO_CACHE: '1' } });
    await runCli(['list'], { env });
    const cached = await runCli(['list', '--json'], { env });
    expect(cached.code, cached.stderr).toBe(0);
    expect(JSON.parse(cached.stdout)).toEqual(JSON.parse(uncached.stdout));
    expect((JSON.parse(cached.stdout) as unknown[]).length).toBeGreaterThanOrEqual(5);
  });

  it('list, cache warm, still lists an invalid runbook as invalid', async () => {
    const args = ['list', '--json', '--runbooks', 'fixtures/malformed'];
    await runCli(args, { env });
    const result = await runCli(args, { env });
    const entries = JSON.parse(result.stdout) as Array<{ file: string; valid: boolean }>;
    expect(entries.some((e) => e.file.endsWith('fixtures/malformed/bad-enum-default.yaml') && !e.valid)).toBe(true);
    expect(entries.filter((e) => e.valid).length).toBeGreaterThanOrEqual(5);
  });
});
