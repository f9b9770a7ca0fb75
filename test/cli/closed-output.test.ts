/**
 * `runbook exec ... | head -1`: the reader goes away after the first line. The run must not die
 * half-way with exit 0: its output stops, it goes on to its end, the journal records the end, the
 * lock is released and the exit code is the run's.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { localStep, runbookObject, tempDir } from '../runbook/builders.js';
import { CLI } from './run-cli.js';

const tmp = tempDir('runbook-closed-output-');
afterAll(() => tmp.cleanup());

/** Runs `runbook <args> | head -1` (or `2>&1 | head -1`) in bash; returns runbook's own exit code. */
function piped(args: string[], both = false): Promise<{ code: number; seen: string }> {
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const script = `node '${CLI}' ${quoted} ${both ? '2>&1 ' : ''}| head -1; exit \${PIPESTATUS[0]}`;
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { env: { ...process.env, NO_COLOR: '1', CI: 'true' }, timeout: 60_000 }, (error, stdout) => {
      const code = error ? Number((error as { code?: unknown }).code) : 0;
      resolve({ code, seen: stdout });
    });
  });
}

function journal(stateDir: string): string[] {
  const runs = join(stateDir, 'runs');
  const [run] = readdirSync(runs);
  return readFileSync(join(runs, run!, 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { type: string }).type);
}

function runbookFile(name: string, steps: Array<Record<string, unknown>>): string {
  return tmp.write(`${name}.yaml`, stringify(runbookObject({ id: name, targets: {}, steps })));
}

const inventory = tmp.write('inventory.yaml', stringify({ name: 'local only' }));

describe('a closed standard output', () => {
  it('does not end the run: it goes on to its end, journals it, releases the lock, exits with its code', async () => {
    const marker = join(tmp.dir, 'second-step-ran');
    const rb = runbookFile('closed-ok', [
      localStep({ id: 'first', command: 'sleep 0.5; echo first' }),
      localStep({ id: 'second', command: `sleep 0.5; echo second > '${marker}'` }),
    ]);
    const state = join(tmp.dir, 'state-ok');
    const r = await piped(['exec', rb, '-i', inventory, '--yes', '--state-dir', state], true);
    expect(r.seen.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.code).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(journal(state).at(-1)).toBe('run-finished');
    expect(readdirSync(join(state, 'locks')).filter((f) => !f.startsWith('.'))).toEqual([]);
  });

  it('a failing run still exits non-zero, with its end journaled', async () => {
    const rb = runbookFile('closed-fail', [
      localStep({ id: 'first', command: 'sleep 0.5' }),
      localStep({ id: 'fails', command: 'sleep 0.2; exit 3' }),
    ]);
    const state = join(tmp.dir, 'state-fail');
    const r = await piped(['--json', 'exec', rb, '-i', inventory, '--yes', '--state-dir', state]);
    expect(r.code).toBe(1);
    expect(journal(state).at(-1)).toBe('run-finished');
  });
});
