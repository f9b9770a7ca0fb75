/**
 * vcd-db-upgrade end to end in the lab: three cells (real sshd each, the fakes of `upgrade` and
 * `cell-management-tool` bound at /opt/vmware/vcloud-director) and a real PostgreSQL holding the
 * runbook's fixture table of running tasks. The real engine runs the runbook in-process; a
 * scripted operator confirms the steps and carries out the manual ones (the per-cell upgrade is
 * `markCellUpgraded`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { provisionVcd, readVcdState, markCellUpgraded, type VcdLabOptions } from '../../fixtures/lab/vcd/provision.js';
import { startSshLab, type SshLab } from '../harness/sshd.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { RunSummary } from '../../src/engine/executor.js';
import { completed, outputOf, runInLab, statusOf, type Manual } from './run-in-lab.js';

const ID = 'vcd-db-upgrade';
const CELLS = ['cell1', 'cell2', 'cell3'] as const;
const SYSADMIN = { user: 'administrator', password: 'VMw@re-lab-1!' };
const DB_PASSWORD = 'vcd-ro-lab-pw';

let lab: SshLab;
let pg: PgServer;
let dir: string;
const trees: Record<string, string> = {};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-vcd-lab-'));
  fs.chmodSync(dir, 0o755);
  for (const c of CELLS) {
    trees[c] = path.join(dir, c);
    fs.mkdirSync(trees[c]!, { recursive: true });
  }
  [lab, pg] = await Promise.all([
    startSshLab({
      hosts: CELLS.map((name, i) => ({ name, address: `127.0.61.${i + 1}`, mounts: { '/opt/vmware/vcloud-director': trees[name]! } })),
    }),
    startPostgres(),
  ]);
  await pg.query('postgres', `create role vcloud_readonly login password '${DB_PASSWORD}'`);
  await pg.createDatabase('vcloud', 'vcloud_readonly');
  // The runbook's default running-tasks query reads this fixture table (not the vendor schema).
  await pg.query('vcloud', 'create table runbook_fixture_vcd_running_tasks(task_id int primary key, state text not null)');
  await pg.query('vcloud', "insert into runbook_fixture_vcd_running_tasks values (1, 'success'), (2, 'error')");
  await pg.query('vcloud', 'alter table runbook_fixture_vcd_running_tasks owner to vcloud_readonly');
}, 180_000);

afterAll(async () => {
  await Promise.all([lab?.stop(), pg?.stop()]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await pg.query('vcloud', "delete from runbook_fixture_vcd_running_tasks where state = 'running'");
});

/** Provisions the server group: cell1 already upgraded (stopped), cell2 running with jobs, cell3 stopped. */
function provision(extra: Partial<VcdLabOptions> = {}, cells?: VcdLabOptions['cells']): void {
  provisionVcd({
    sharedDir: lab.host('cell1').sharedDir,
    sysadmin: SYSADMIN,
    drainPerStatus: 5,
    cells: cells ?? [
      {
        name: 'cell1',
        treeDir: trees.cell1!,
        stateDir: lab.host('cell1').stateDir,
        upgraded: true,
        running: false,
        primaryIP: '10.10.0.11',
      },
      { name: 'cell2', treeDir: trees.cell2!, stateDir: lab.host('cell2').stateDir, running: true, jobCount: 2, primaryIP: '10.10.0.12' },
      { name: 'cell3', treeDir: trees.cell3!, stateDir: lab.host('cell3').stateDir, running: false, primaryIP: '10.10.0.13' },
    ],
    ...extra,
  });
}

function writeInventory(opts: { others?: string[]; database?: boolean; params?: Record<string, string | boolean> } = {}): string {
  const others = opts.others ?? ['cell2', 'cell3'];
  const hosts = lab.hosts
    .map((h) => `  ${h.name}: { address: ${h.address}, port: ${h.port}, user: ${lab.user}, identityFile: ${lab.clientKeyPath} }`)
    .join('\n');
  const params = Object.entries(opts.params ?? {})
    .map(([k, v]) => `  ${k}: ${typeof v === 'string' ? `'${v}'` : v}`)
    .join('\n');
  const file = path.join(dir, `inventory-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(
    file,
    `name: vcd lab
ssh:
  knownHostsFile: ${lab.knownHostsPath}
hosts:
${hosts}
databases:
  vcd-db: { host: ${pg.host}, port: ${pg.port}, database: vcloud, user: vcloud_readonly, password: { env: VCD_DB_PASSWORD }, sslmode: disable }
roles:
  upgrade_cell: cell1
  other_cells: [${others.join(', ')}]
  database: ${opts.database === false ? '[]' : 'vcd-db'}
parameters:
  sysadmin_user: ${SYSADMIN.user}
${params}
`,
  );
  return file;
}

async function run(inventory: string, manual: Manual = {}): Promise<{ summary: RunSummary; events: RunEvent[]; done: string[] }> {
  return completed(
    await runInLab(ID, { inventory, env: { VCD_SYSADMIN_PASSWORD: SYSADMIN.password, VCD_DB_PASSWORD: DB_PASSWORD }, manual }),
  );
}

const status = statusOf;
const output = (events: RunEvent[], stepId: string) => outputOf(events, stepId);
const upgradeOthers: Manual = {
  'upgrade-other-cells': () => {
    markCellUpgraded(lab.host('cell1').sharedDir, 'cell2', trees.cell2);
    markCellUpgraded(lab.host('cell1').sharedDir, 'cell3', trees.cell3);
  },
};

describe(`${ID} in the lab`, () => {
  it('upgrades the database: quiesces and stops cell2, answers the prompts, the utility starts cell1, then the other cells start', async () => {
    provision();
    const { summary, events, done } = await run(writeInventory(), upgradeOthers);
    expect(summary.status, summary.message).toBe('succeeded');
    expect(done).toEqual(['confirm-database-backup', 'upgrade-other-cells']);
    expect(status(summary, 'run-upgrade')).toBe('succeeded');
    expect(status(summary, 'run-upgrade-backup-completed')).toBe('skipped');
    expect(status(summary, 'start-upgrade-cell-service')).toBe('skipped');
    const vcd = readVcdState(lab.host('cell1').sharedDir);
    expect(vcd.db.upgraded).toBe(true);
    expect(vcd.db.schemaVersion).toBe(vcd.toVersion);
    expect(vcd.db.upgradedBy).toBe('cell1');
    expect(Object.values(vcd.cells).map((c) => [c.name, c.service, c.version])).toEqual([
      ['cell1', 'running', vcd.toVersion],
      ['cell2', 'running', vcd.toVersion],
      ['cell3', 'running', vcd.toVersion],
    ]);
    // cell2 was quiesced, drained and shut down before the upgrade; nothing ran on cell3 but status.
    const ev = vcd.events.map((e) => `${e.host}:${e.event}`);
    expect(ev.indexOf('cell2:quiesce:true')).toBeGreaterThanOrEqual(0);
    expect(ev.indexOf('cell2:shutdown')).toBeGreaterThan(ev.indexOf('cell2:quiesce:true'));
    expect(ev.indexOf('cell1:database-upgraded')).toBeGreaterThan(ev.indexOf('cell2:shutdown'));
    expect(ev.slice(ev.indexOf('cell1:database-upgraded'))).toEqual(
      expect.arrayContaining(['cell1:service-start', 'cell2:service-start', 'cell3:service-start']),
    );
    // The answers typed at the utility's prompts, and the password never in any event.
    const answered = events.flatMap((e) => (e.type === 'instance-finished' && e.stepId === 'run-upgrade' ? (e.answers ?? []) : []));
    expect(answered.map((a) => a.answer)).toEqual(['y', 'y', 'y']);
    expect(JSON.stringify(events)).not.toContain(SYSADMIN.password);
    expect(JSON.stringify(events)).not.toContain(DB_PASSWORD);
  }, 120_000);

  it('single cell with --backup-completed, service started later by the runbook', async () => {
    provision({}, [{ name: 'cell1', treeDir: trees.cell1!, stateDir: lab.host('cell1').stateDir, upgraded: true }]);
    const inventory = writeInventory({ others: [], database: false, params: { backup_completed: true, start_service_now: 'n' } });
    const { summary, events } = await run(inventory);
    expect(summary.status, summary.message).toBe('succeeded');
    expect(status(summary, 'run-upgrade')).toBe('skipped');
    expect(status(summary, 'run-upgrade-backup-completed')).toBe('succeeded');
    expect(status(summary, 'start-upgrade-cell-service')).toBe('succeeded');
    const answered = events.flatMap((e) =>
      e.type === 'instance-finished' && e.stepId === 'run-upgrade-backup-completed' ? (e.answers ?? []) : [],
    );
    expect(answered.map((a) => a.answer)).toEqual(['y', 'n']); // upgrade: y; Start it now?: n
    const vcd = readVcdState(lab.host('cell1').sharedDir);
    expect(vcd.db.upgraded).toBe(true);
    expect((vcd.db.options as Record<string, unknown>)['backup-completed']).toBe(true);
    expect(vcd.cells.cell1?.service).toBe('running');
  }, 120_000);

  it('active cell detected (a cell missing from the inventory still runs): answers n, stops with the guidance, nothing changed', async () => {
    const ghostTree = path.join(dir, 'ghost-tree');
    const ghostState = path.join(dir, 'ghost-state');
    fs.mkdirSync(ghostState, { recursive: true });
    provision({}, [
      { name: 'cell1', treeDir: trees.cell1!, stateDir: lab.host('cell1').stateDir, upgraded: true },
      { name: 'cell2', treeDir: trees.cell2!, stateDir: lab.host('cell2').stateDir },
      { name: 'cell3', treeDir: trees.cell3!, stateDir: lab.host('cell3').stateDir },
      { name: 'cell9', treeDir: ghostTree, stateDir: ghostState, running: true, primaryIP: '10.10.0.19' },
    ]);
    const { summary, events } = await run(writeInventory());
    expect(summary.status).toBe('failed');
    expect(status(summary, 'run-upgrade')).toBe('failed');
    expect(status(summary, 'explain-upgrade-abort')).toBe('succeeded');
    const answered = events.flatMap((e) => (e.type === 'instance-finished' && e.stepId === 'run-upgrade' ? (e.answers ?? []) : []));
    expect(answered.map((a) => a.answer)).toEqual(['y', 'y', 'n']);
    expect(output(events, 'explain-upgrade-abort')).toContain('detected an active cell');
    expect(output(events, 'explain-upgrade-abort')).toContain('retry from step 1');
    const vcd = readVcdState(lab.host('cell1').sharedDir);
    expect(vcd.db.upgraded).toBe(false);
    expect(vcd.db.schemaVersion).toBe(vcd.fromVersion);
    expect(summary.steps.map((s) => s.id)).not.toContain('wait-upgrade-cell-active');
  }, 120_000);

  it('incompatible NSX Manager: the utility cancels, the runbook says nothing was changed and stops', async () => {
    provision({ nsxCompatible: false });
    const { summary, events } = await run(writeInventory());
    expect(summary.status).toBe('failed');
    expect(status(summary, 'run-upgrade')).toBe('failed');
    expect(output(events, 'explain-upgrade-abort')).toContain('Nothing was changed.');
    expect(output(events, 'explain-upgrade-abort')).toContain('NSX Manager');
    const vcd = readVcdState(lab.host('cell1').sharedDir);
    expect(vcd.db.upgraded).toBe(false);
    expect(vcd.events.some((e) => e.event === 'database-upgraded')).toBe(false);
    expect(vcd.cells.cell1?.service).toBe('stopped');
  }, 120_000);

  it('a running task in the database stops the run before the upgrade utility runs', async () => {
    provision();
    await pg.query('vcloud', "insert into runbook_fixture_vcd_running_tasks values (3, 'running')");
    const { summary } = await run(writeInventory());
    expect(summary.status).toBe('failed');
    expect(status(summary, 'check-no-running-tasks')).toBe('failed');
    expect(summary.steps.map((s) => s.id)).not.toContain('run-upgrade');
    expect(readVcdState(lab.host('cell1').sharedDir).db.upgraded).toBe(false);
  }, 120_000);
});
