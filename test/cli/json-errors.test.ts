/**
 * `--json`: every way a command can fail ends in one documented `error` line on standard error,
 * never in plain text: commander's refusals (unknown option or command, missing argument) and
 * unexpected errors (a bug) as much as runbook's typed errors.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENT_SCHEMA_VERSION } from '../../src/engine/events.js';
import { reportError } from '../../src/commands/error-output.js';
import type { CommandContext } from '../../src/commands/context.js';
import { createStyle } from '../../src/ui/style.js';
import { runCli } from './run-cli.js';

const doc = readFileSync('docs/json-events.md', 'utf8');
const errorSection = doc.slice(doc.indexOf('### `error`'));

/** The whole of standard error as one JSON error line. */
function errorOf(stderr: string): Record<string, unknown> {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  expect(line).toMatchObject({ schemaVersion: EVENT_SCHEMA_VERSION, type: 'error' });
  expect(errorSection).toContain(`\`${String(line.error)}\``);
  return line;
}

describe('--json: command lines commander refuses', () => {
  it.each([
    [['--json', 'exec', 'vcd-db-upgrade', '--bogus'], "unknown option '--bogus'"],
    [['exec', 'vcd-db-upgrade', '--bogus', '--json'], "unknown option '--bogus'"],
    [['--json', 'frobnicate'], "unknown command 'frobnicate'"],
    [['--json', 'exec'], "missing required argument 'runbook'"],
    [['--json'], 'no command given'],
  ])('%j is a JSON usage error (exit 2)', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(errorOf(r.stderr)).toMatchObject({ error: 'usage', exitCode: 2, message });
  });

  it('without --json the refusal stays commander text with the usage', async () => {
    const r = await runCli(['exec', 'vcd-db-upgrade', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown option '--bogus'");
    expect(r.stderr).toContain('Usage: runbook exec');
  });
});

describe('--json: unexpected errors', () => {
  it('an error runbook did not foresee is a JSON line, with its exit code', async () => {
    // Writing the new runbook into a directory that does not exist fails in the file system.
    const r = await runCli(['--json', 'new', 'scratch', '-o', '/nonexistent-runbook-dir/scratch.yaml']);
    expect(r.code).not.toBe(0);
    expect(errorOf(r.stderr)).toMatchObject({ exitCode: r.code, message: expect.stringContaining('/nonexistent-runbook-dir') });
  });

  it('a non-RunbookError becomes error "internal", exit 1, with the stack only under RUNBOOK_DEBUG', () => {
    const written: string[] = [];
    const ctx = (env: NodeJS.ProcessEnv) =>
      ({
        json: true,
        env,
        errStyle: createStyle({ color: false }),
        printError: (t: string) => void written.push(t),
      }) as unknown as CommandContext;
    expect(reportError(new TypeError('x is undefined'), ctx({}))).toBe(1);
    expect(reportError('a thrown string', ctx({ RUNBOOK_DEBUG: '1' }))).toBe(1);
    const [plain, debug] = written.map(errorOf);
    expect(plain).toEqual({
      schemaVersion: EVENT_SCHEMA_VERSION,
      type: 'error',
      error: 'internal',
      exitCode: 1,
      message: 'x is undefined',
      hint: expect.stringContaining('This is a bug in runbook'),
    });
    expect(debug).toMatchObject({ error: 'internal', message: 'a thrown string', stack: 'a thrown string' });
  });
});
