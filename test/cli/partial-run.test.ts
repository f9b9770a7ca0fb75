/**
 * `exec --from X` where a selected step's `when` depends on a step the run leaves out (TimesTen's
 * destroy gated on its backup): never a silent skip of the gated step. The dry-run says the run
 * would stop; the run stops before anything runs unless the operator says how that step ended.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { localStep, runbookObject, tempDir } from '../runbook/builders.js';
import { runCli } from './run-cli.js';

const tmp = tempDir('runbook-partial-run-');
afterAll(() => tmp.cleanup());

const log = join(tmp.dir, 'ran.log');
const step = (id: string, more: Record<string, unknown> = {}) =>
  localStep({ id, readOnly: false, command: `echo ${id} >> '${log}'`, ...more });
const rb = tmp.write(
  'gated.yaml',
  stringify(
    runbookObject({
      id: 'gated',
      targets: {},
      steps: [
        step('backup'),
        step('install'),
        step('destroy', { destructive: true, when: { step: 'backup', status: 'succeeded' } }),
        step('restore'),
      ],
    }),
  ),
);
const inventory = tmp.write('inventory.yaml', stringify({ name: 'local only' }));
const exec = (...extra: string[]) =>
  runCli([
    'exec',
    rb,
    '-i',
    inventory,
    '--yes',
    '--allow-destructive',
    '--state-dir',
    join(tmp.dir, 'state'),
    '--from',
    'install',
    ...extra,
  ]);

describe('a partial run whose condition depends on a left-out step', () => {
  it('the dry-run says the run would stop, and why', async () => {
    const r = await runCli(['exec', rb, '-i', inventory, '--dry-run', '--from', 'install']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'the run would stop before anything runs: step destroy runs only if steps.backup succeeded, but step backup does not run this time (--from install)',
    );
  });

  it('stops before anything runs (exit 5) instead of skipping the gated destructive step', async () => {
    const r = await exec();
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('--answer backup=succeeded|failed|skipped');
    expect(existsSync(log)).toBe(false);
  });

  it('runs the gated step once the operator answers for the left-out step', async () => {
    const r = await exec('--answer', 'backup=succeeded');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe('install\ndestroy\nrestore\n');
  });
});
