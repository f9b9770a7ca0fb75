/** The example runbook, every step kind, end to end against real sshd, PostgreSQL and HTTP. */
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { exampleEnv, useExampleLab } from './example-lab.js';

const RUNBOOK = join(process.cwd(), 'fixtures', 'example', 'example-maintenance.yaml');

const lab = useExampleLab();

const cli = (args: string[]) => runCli(args, { env: exampleEnv(lab), timeoutMs: 30_000 });
/** The example runbook run unattended, its two prompts answered. */
const execExample = (inventory: string, stateDir: string) =>
  cli([
    'exec',
    RUNBOOK,
    '-i',
    inventory,
    '--yes',
    '--allow-destructive',
    '--answer',
    'choose-restart=rolling',
    '--answer',
    'sign-off=done',
    '--state-dir',
    stateDir,
  ]);

describe('example runbook end to end', () => {
  it('runs every step kind against the lab with scripted answers', async () => {
    // The lab user edits the file, as the appliance's own user would.
    for (const h of lab.ssh.hosts) {
      writeFileSync(join(h.stateDir, 'app.properties'), 'app.release=1.0.0\nlegacy.mode=on\nother=1\n');
      chmodSync(join(h.stateDir, 'app.properties'), 0o666);
    }
    const stateDir = join(lab.dir, 'state');
    const r = await execExample(lab.inventoryPath, stateDir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('run succeeded');
    expect(r.stdout).toMatch(/restart-all: .* skipped/);
    for (const h of lab.ssh.hosts) {
      expect(readFileSync(join(h.stateDir, 'maintenance.log'), 'utf8')).toBe('planned maintenance\n');
      expect(readFileSync(join(h.stateDir, 'app.properties'), 'utf8')).toBe('app.release=2.5.0\nother=1\n');
      expect(readdirSync(h.stateDir).some((f) => f.startsWith('app.properties.runbook-') && f.endsWith('.bak'))).toBe(true);
    }
    const rows = await lab.pg.query('app', "select value from settings where key = 'release'");
    expect(rows).toEqual([{ value: '2.5.0' }]);
    // The secret never reaches the terminal or the journal.
    expect(r.stdout).not.toContain(lab.dbPassword);
    const runs = readdirSync(join(stateDir, 'runs'));
    expect(runs).toHaveLength(1);
    const journal = readFileSync(join(stateDir, 'runs', runs[0]!, 'events.jsonl'), 'utf8');
    expect(journal).not.toContain(lab.dbPassword);
    const events = journal
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    // The plan's digest opens the journal, then the run's start.
    expect(events.slice(0, 2).map((e) => e.type)).toEqual(['journal-started', 'run-started']);
    expect(events.at(-1)).toMatchObject({ type: 'run-finished', status: 'succeeded' });
  });

  it('refuses to confirm without a terminal and without --yes, touching nothing', async () => {
    const r = await cli([
      'exec',
      RUNBOOK,
      '-i',
      lab.inventoryPath,
      '--answer',
      'choose-restart=rolling',
      '--state-dir',
      join(lab.dir, 'state2'),
    ]);
    expect(r.code).toBe(5);
    // Said before anything runs, for every step at once (pre-flight).
    expect(r.stderr).toContain('nothing was run');
    expect(r.stderr).toMatch(/steps announce, .*configure.* need a confirmation and there is no terminal to ask: --yes/);
    expect(r.stderr).toContain('manual step sign-off needs the operator');
    expect(r.stderr).toContain('step purge-cache is destructive: --yes --allow-destructive');
  });

  it('stops on an unknown host key before running anything', async () => {
    const inv = lab.writeInventory({ knownHosts: null });
    const marker = join(lab.ssh.host('app1').stateDir, 'maintenance.log');
    const before = existsSync(marker) ? readFileSync(marker, 'utf8') : '';
    const r = await execExample(inv, join(lab.dir, 'state3'));
    expect(r.code).toBe(7);
    // Both hosts are reached at once: either may be the first whose key is found unknown.
    expect(r.stderr).toMatch(/host key of app\d .* is unknown: ssh-ed25519 SHA256:/);
    expect(r.stderr).toContain('--accept-new-host-keys');
    expect(existsSync(marker) ? readFileSync(marker, 'utf8') : '').toBe(before);
  });
});
