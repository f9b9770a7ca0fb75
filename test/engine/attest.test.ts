/**
 * A manual step marked `attest` (a fact only a person can vouch for, such as "the backup is
 * complete"): without a terminal neither --answer nor --yes attests it; only --attest <step> does.
 * Runs the built CLI with stdin closed, as CI would.
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-attest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const marker = join(dir, 'changed');
writeFileSync(
  join(dir, 'attest-demo.yaml'),
  `id: attest-demo
title: Attested backup before a change
steps:
  - id: confirm-backup
    title: Back up the database
    kind: manual
    attest: true
    instructions: Take the backup and confirm.
  - id: change
    title: Change something
    kind: local
    command: touch ${marker}
`,
);
const inventory = join(dir, 'inventory.yaml');
writeFileSync(inventory, 'name: attest demo\n');
const exec = (...extra: string[]) =>
  runCli(['exec', 'attest-demo', '--runbooks', dir, '-i', inventory, '--state-dir', join(dir, 'state'), '--yes', ...extra]);

describe('manual steps marked attest', () => {
  it('--answer and --yes do not attest without a terminal: exit 5, nothing after it runs', async () => {
    const r = await exec('--answer', 'confirm-backup=done');
    expect(r.code, r.stderr).toBe(5);
    expect(r.stdout + r.stderr).toContain('--attest confirm-backup');
    expect(existsSync(marker)).toBe(false);
  });

  it('--attest <step> attests it explicitly', async () => {
    const r = await exec('--attest', 'confirm-backup');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(existsSync(marker)).toBe(true);
  });
});
