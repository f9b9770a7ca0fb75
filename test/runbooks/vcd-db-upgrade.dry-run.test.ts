/**
 * Dry-run of vcd-db-upgrade: the whole plan per branch (backup already confirmed or not, start the
 * service now or later, single-cell group), secrets masked, the operator's running-tasks query
 * bound (never spliced), the active-cell prompt answered "n", and every numbered step and
 * prerequisite of seed 000 referenced by a step's `source`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/planner/plan-types.js';
import { commandOf, itValidatesAndPrintsItsPlan, running, shippedRunbook, sqlOf, step, text } from './dry-run.js';

const ID = 'vcd-db-upgrade';
const SECRETS = { VCD_SYSADMIN_PASSWORD: 'sysadmin-pw-never-shown-7', VCD_DB_PASSWORD: 'db-pw-never-shown-8' };

const tmp = mkdtempSync(join(tmpdir(), 'runbook-vcd-dry-'));
const rb = shippedRunbook(ID, { env: SECRETS, hide: tmp });
const { cli, plan, inventory: INVENTORY } = rb;
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A single-cell server group without a database binding (other_cells and database are optional). */
const SINGLE_CELL_INVENTORY = join(tmp, 'single-cell.yaml');
writeFileSync(
  SINGLE_CELL_INVENTORY,
  `name: single-cell VMware Cloud Director (example)
hosts:
  vcd-cell-01: { address: 192.0.2.11, user: root }
roles:
  upgrade_cell: vcd-cell-01
  other_cells: []
  database: []
`,
);

const BRANCHES: Record<string, string[]> = {
  'backup confirmed by the utility prompt, start now': ['-i', INVENTORY],
  'backup completed (--backup-completed)': ['-i', INVENTORY, '-p', 'backup_completed=true'],
  'start the service later': ['-i', INVENTORY, '-p', 'start_service_now=n'],
  'single-cell group, no database binding': ['-i', SINGLE_CELL_INVENTORY],
};

const ALL_STEPS = [
  'check-upgrade-cell-stopped',
  'show-other-cells-status',
  'quiesce-other-cells',
  'wait-other-cells-idle',
  'shutdown-other-cells',
  'stop-other-cells-service',
  'check-no-running-tasks',
  'confirm-database-backup',
  'run-upgrade',
  'start-upgrade-cell-service',
  'wait-upgrade-cell-active',
  'upgrade-other-cells',
  'start-other-cells',
  'wait-other-cells-active',
];

describe(`${ID} dry-run`, () => {
  itValidatesAndPrintsItsPlan(rb, BRANCHES);

  it('keeps the steps in the order of the procedure', async () => {
    const p = await plan(['-i', INVENTORY]);
    expect(p.steps.map((s) => s.id)).toEqual(ALL_STEPS);
    expect(p.rollback.map((s) => s.id)).toEqual(['explain-upgrade-abort', 'explain-restart-cells', 'unquiesce-other-cells']);
  });

  it('attests the backup right before the irreversible upgrade, which needs the upgrade cell typed', async () => {
    const p = await plan(['-i', INVENTORY]);
    const ids = p.steps.map((s) => s.id);
    expect(ids.indexOf('confirm-database-backup')).toBe(ids.indexOf('run-upgrade') - 1);
    expect(ids.indexOf('confirm-database-backup')).toBeGreaterThan(ids.indexOf('stop-other-cells-service'));
    const upgrade = step(p, 'run-upgrade');
    expect(upgrade.destructive).toBe(true);
    expect(upgrade.confirm.mode).toBe('typed');
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY]);
    expect(r.stdout).toContain('attested by the operator');
  });

  it('passes --backup-completed only when backup_completed is true', async () => {
    const asked = await plan(['-i', INVENTORY]);
    const skipped = await plan(['-i', INVENTORY, '-p', 'backup_completed=true']);
    const env = (p: Plan) => commandOf(step(p, 'run-upgrade')).env;
    expect(text(env(asked).find((e) => e.name === 'BACKUP_COMPLETED')?.value)).toBe('false');
    expect(text(env(skipped).find((e) => e.name === 'BACKUP_COMPLETED')?.value)).toBe('true');
    const cmd = text(commandOf(step(asked, 'run-upgrade')).command);
    expect(cmd).toContain('true) set -- --backup-completed;;');
    expect(cmd).toContain('/opt/vmware/vcloud-director/bin/upgrade "$@" $UPGRADE_OPTIONS');
    // The backup prompt (asked only without --backup-completed) is answered y: the operator attested the backup.
    const prompts = commandOf(step(asked, 'run-upgrade')).pty?.answers ?? [];
    expect(prompts.some((a) => /backup/.test(a.prompt) && text(a.answer) === 'y')).toBe(true);
  });

  it('answers n at the active-cell prompt and stops with the guidance (rollback explains)', async () => {
    const p0 = await plan(['-i', INVENTORY]);
    const answers = commandOf(step(p0, 'run-upgrade')).pty?.answers ?? [];
    const active = answers.find((a) => a.prompt.includes('ontinue with the upgrade'));
    expect(active && text(active.answer)).toBe('n');
    expect(step(p0, 'run-upgrade').onFailure.rollback).toEqual(['explain-upgrade-abort', 'explain-restart-cells']);
    const p = await plan(['-i', INVENTORY]);
    const explain = text(commandOf(step(p, 'explain-upgrade-abort')).command);
    expect(explain).toContain('<steps.run-upgrade.stdout>');
    expect(explain).toMatch(/vShield\|NSX/);
    expect(explain).toContain('Nothing was changed.');
    expect(explain).toContain('retry from step 1');
  });

  it('answers "Start it now?" with start_service_now, and starts the service itself only when told n', async () => {
    for (const answer of ['y', 'n']) {
      const p = await plan(['-i', INVENTORY, '-p', `start_service_now=${answer}`]);
      const answers = commandOf(step(p, 'run-upgrade')).pty?.answers ?? [];
      const start = answers.find((a) => /now/.test(a.prompt) && /\[Yy\]/.test(a.prompt));
      expect(start && text(start.answer)).toBe(answer);
      expect(running(p.steps).includes('start-upgrade-cell-service')).toBe(answer === 'n');
      expect(running(p.steps)).toContain('wait-upgrade-cell-active');
    }
  });

  it('binds the running-tasks query as a parameter, read-only, never spliced into the SQL', async () => {
    const p = await plan(['-i', INVENTORY, '-p', "running_tasks_query=select id from jobs where state = 'RUNNING'"]);
    const statements = sqlOf(step(p, 'check-no-running-tasks')).statements;
    expect(statements[0]?.text).toBe('set transaction read only');
    expect(statements[1]?.text).toContain('query_to_xml($1,');
    expect(statements[1]?.text).not.toContain('jobs');
    expect(JSON.stringify(statements[1]?.binds)).toContain('select id from jobs');
  });

  it('masks the sysadmin password at every cell management tool prompt', async () => {
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY]);
    expect(r.stdout).toContain('on prompt /[Pp]assword: *$/ answer "***"');
    expect(r.stdout).not.toContain(SECRETS.VCD_SYSADMIN_PASSWORD);
    expect(r.stdout).toMatch(/sysadmin_password = \*\*\*/);
  });

  it('refuses extra options that carry shell syntax or contradict the flow (nothing run)', async () => {
    for (const bad of [
      '--enable-ceip false; rm -rf /',
      '--backup-completed',
      '$(id)',
      '--maintenance-cell 192.0.2.12',
      '--installer-path=/tmp/x.bin',
      '--unattended-upgrade',
      '--enable-ceip false --unatt',
    ]) {
      const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY, '-p', `extra_upgrade_options=${bad}`]);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(
        `--param extra_upgrade_options: parameter "extra_upgrade_options": ${JSON.stringify(bad)} does not match /`,
      );
    }
  });

  it('references every numbered step and prerequisite of seed 000 in some step source', async () => {
    const p = await plan(['-i', INVENTORY]);
    const sources = [...p.steps, ...p.rollback].map((s) => s.source ?? '');
    for (const s of p.steps) expect(s.source, s.id).toMatch(/^seed 000, /);
    const seedSteps = [
      /prerequisite 1\b/, // backup
      /prerequisite 2\b/, // all cells stopped
      /introduction paragraph 2/, // no running tasks
      /procedure steps 1\b/, // run upgrade (+ NSX abort)
      /procedure steps 1, 2\b/, // y to the upgrade
      /procedure steps 1, 2, 3\b/, // y to the backup / --backup-completed
      /and 4\b/, // active cell: n, retry
      /Résultats/, // "Start it now?"
      /Que faire ensuite \(démarrez le service ultérieurement/,
      /Que faire ensuite \(mettre à niveau les autres membres/,
      /Que faire ensuite \(démarrer les services des autres membres/,
    ];
    for (const re of seedSteps)
      expect(
        sources.some((s) => re.test(s)),
        String(re),
      ).toBe(true);
  });
});
