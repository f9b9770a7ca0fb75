/**
 * vcd-db-upgrade end to end in the lab: three cells (real sshd each, the fakes of `upgrade` and
 * `cell-management-tool` bound at /opt/vmware/vcloud-director) and a real PostgreSQL holding a
 * table of running tasks that the test's running_tasks_query reads (the runbook has no default
 * query: the vendor schema is not public). The real engine runs the runbook in-process; a
 * scripted operator confirms the steps and carries out the manual ones (the per-cell upgrade is
 * `markCellUpgraded`). The fakes behave like the vendor's tools, not like the runbook expects:
 * jobs end by the clock (or never), the utility prints progress dots without newlines over real
 * time, and its exit code on a cancel is not trusted (the vendor's are unconfirmed).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { provisionVcd, readVcdState, markCellUpgraded, readCommands, type VcdLabOptions } from '../../fixtures/lab/vcd/provision.js';
import { startSshLab, type SshLab } from '../harness/sshd.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { RunSummary } from '../../src/engine/executor.js';
import { completed, outputOf, runInLab, statusOf, type LabRunOptions, type Manual } from './run-in-lab.js';

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
    fs.mkdirSync(trees[c], { recursive: true });
  }
  [lab, pg] = await Promise.all([
    startSshLab({
      hosts: CELLS.map((name, i) => ({ name, address: `127.0.61.${i + 1}`, mounts: { '/opt/vmware/vcloud-director': trees[name]! } })),
    }),
    startPostgres(),
  ]);
  await pg.query('postgres', `create role vcloud_readonly login password '${DB_PASSWORD}'`);
  await pg.createDatabase('vcloud', 'vcloud_readonly');
  // The lab's stand-in for the vendor's task table, read by the query the inventory gives.
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

/** Provisions the server group: cell1 already upgraded (stopped), cell2 running with jobs that end in 2 s and 4 s, cell3 stopped. */
function provision(extra: Partial<VcdLabOptions> = {}, cells?: VcdLabOptions['cells'], cell2Jobs: Array<number | null> = [2, 4]): void {
  provisionVcd({
    sharedDir: lab.host('cell1').sharedDir,
    sysadmin: SYSADMIN,
    cells: cells ?? [
      {
        name: 'cell1',
        treeDir: trees.cell1!,
        stateDir: lab.host('cell1').stateDir,
        upgraded: true,
        running: false,
        primaryIP: '10.10.0.11',
      },
      {
        name: 'cell2',
        treeDir: trees.cell2!,
        stateDir: lab.host('cell2').stateDir,
        running: true,
        jobs: cell2Jobs,
        primaryIP: '10.10.0.12',
      },
      { name: 'cell3', treeDir: trees.cell3!, stateDir: lab.host('cell3').stateDir, running: false, primaryIP: '10.10.0.13' },
    ],
    ...extra,
  });
}

const TASKS_QUERY = "select task_id from runbook_fixture_vcd_running_tasks where state = 'running'";

function writeInventory(opts: { others?: string[]; database?: boolean; params?: Record<string, string | boolean> } = {}): string {
  const others = opts.others ?? ['cell2', 'cell3'];
  const hosts = lab.hosts
    .map((h) => `  ${h.name}: { address: ${h.address}, port: ${h.port}, user: ${lab.user}, identityFile: ${lab.clientKeyPath} }`)
    .join('\n');
  const given = { ...(opts.database === false ? {} : { running_tasks_query: TASKS_QUERY }), ...opts.params };
  const params = Object.entries(given)
    .map(([k, v]) => `  ${k}: ${typeof v === 'string' ? JSON.stringify(v) : v}`)
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

const ENV = { VCD_SYSADMIN_PASSWORD: SYSADMIN.password, VCD_DB_PASSWORD: DB_PASSWORD };
const labRun = (inventory: string, more: Partial<LabRunOptions> = {}) => runInLab(ID, { inventory, env: ENV, ...more });

async function run(inventory: string, manual: Manual = {}): Promise<{ summary: RunSummary; events: RunEvent[]; done: string[] }> {
  return completed(await labRun(inventory, { manual }));
}

const status = statusOf;
const output = (events: RunEvent[], stepId: string) => outputOf(events, stepId);
const shared = () => lab.host('cell1').sharedDir;
const vcdEvents = () => readVcdState(shared()).events.map((e) => `${e.host}:${e.event}`);
const upgradeOthers: Manual = {
  'upgrade-other-cells': () => {
    markCellUpgraded(shared(), 'cell2', trees.cell2);
    markCellUpgraded(shared(), 'cell3', trees.cell3);
  },
};
/** The cells as the test left them before the run: cell2 running, active, not quiesced. */
const cell2Untouched = () => {
  const c = readVcdState(shared()).cells.cell2!;
  expect([c.service, c.isActive, c.quiesced]).toEqual(['running', true, false]);
  expect(vcdEvents().filter((e) => e.startsWith('cell2:'))).toEqual([]);
};

describe(`${ID} in the lab`, () => {
  it('upgrades the database: cell2 drains by the clock and stops, the backup is attested last, typed confirmation, positive completion', async () => {
    provision();
    let eventsAtBackup: string[] = [];
    const r = await labRun(writeInventory(), {
      manual: {
        ...upgradeOthers,
        'confirm-database-backup': () => {
          eventsAtBackup = vcdEvents();
        },
      },
    });
    const { summary, events, done } = completed(r);
    expect(summary.status, summary.message).toBe('succeeded');
    expect(done).toEqual(['confirm-database-backup', 'upgrade-other-cells']);
    // The backup is the last state before the schema change: attested after cell2 was drained and stopped.
    expect(eventsAtBackup).toEqual(expect.arrayContaining(['cell2:quiesce:true', 'cell2:shutdown']));
    expect(eventsAtBackup).not.toContain('cell1:database-upgraded');
    const order = summary.steps.map((s) => s.id);
    expect(order.indexOf('confirm-database-backup')).toBe(order.indexOf('run-upgrade') - 1);
    expect(status(summary, 'run-upgrade')).toBe('succeeded');
    expect(status(summary, 'start-upgrade-cell-service')).toBe('skipped');
    // The irreversible upgrade asks for the upgrade cell's name.
    expect(r.typed).toContainEqual(['run-upgrade', 'cell1']);
    const vcd = readVcdState(shared());
    expect(vcd.db.upgraded).toBe(true);
    expect(vcd.db.schemaVersion).toBe(vcd.toVersion);
    expect(vcd.db.upgradedBy).toBe('cell1');
    expect(Object.values(vcd.cells).map((c) => [c.name, c.service, c.version])).toEqual([
      ['cell1', 'running', vcd.toVersion],
      ['cell2', 'running', vcd.toVersion],
      ['cell3', 'running', vcd.toVersion],
    ]);
    // The utility's progress came as dots without newlines over real time, and its completion message.
    expect(output(events, 'run-upgrade')).toMatch(/Started executing task at [^\n]+\r?\n\.{5}Successfully ran upgrade task/);
    expect(output(events, 'run-upgrade')).toContain('Upgrade complete');
    const answered = events.flatMap((e) => (e.type === 'instance-finished' && e.stepId === 'run-upgrade' ? (e.answers ?? []) : []));
    expect(answered.map((a) => a.answer)).toEqual(['y', 'y', 'y']);
    expect(JSON.stringify(events)).not.toContain(SYSADMIN.password);
    expect(JSON.stringify(events)).not.toContain(DB_PASSWORD);
  }, 240_000);

  it('without a terminal, --answer does not attest the backup: the run stops before the upgrade; --attest does', async () => {
    provision();
    const inventory = writeInventory();
    const r = await labRun(inventory, { answers: { 'confirm-database-backup': 'done' }, nonInteractive: {}, manual: upgradeOthers });
    expect(r.error?.message ?? r.summary?.message).toMatch(/confirm-database-backup must be attested/);
    expect(readVcdState(shared()).db.upgraded).toBe(false);
    expect(vcdEvents()).not.toContain('cell1:database-upgraded');
    // What the aborted run left: cell2 stopped. Start it again, then attest explicitly.
    provision();
    const ok = await labRun(inventory, {
      nonInteractive: { attested: ['confirm-database-backup'] },
      answers: { 'upgrade-other-cells': 'done' },
    });
    expect(ok.summary?.status, ok.summary?.message ?? ok.error?.message).not.toBe('aborted');
    expect(readVcdState(shared()).db.upgraded).toBe(true);
  }, 240_000);

  it('refuses upgrade options that contradict the flow (also abbreviated): nothing is run', async () => {
    provision();
    const before = readCommands(lab.host('cell1').stateDir).length;
    for (const bad of [
      '--maintenance-cell 10.10.0.12 --private-key-path /opt/vmware/vcloud-director/etc/id_rsa',
      '--installer-path /tmp/vcd.bin --private-key-path /opt/vmware/vcloud-director/etc/id_rsa',
      '--unattended-upgrade',
      '--unatt',
      '--backup',
    ]) {
      await expect(labRun(writeInventory({ params: { extra_upgrade_options: bad } })), bad).rejects.toThrow(/extra_upgrade_options/);
    }
    cell2Untouched();
    expect(readCommands(lab.host('cell1').stateDir).length).toBe(before);
  }, 120_000);

  it('no running-tasks query for a bound database, or one that does not run: the preconditions stop the run before any cell is touched', async () => {
    provision();
    const none = await labRun(writeInventory({ params: { running_tasks_query: '' } }));
    expect(none.error?.message).toMatch(/precondition/);
    cell2Untouched();
    const typo = await labRun(writeInventory({ params: { running_tasks_query: 'select task_id from runbook_fixture_vcd_runing_tasks' } }));
    expect(typo.error?.message).toMatch(/precondition/);
    cell2Untouched();
  }, 120_000);

  it('a running task in the database stops the run before the upgrade, and says how to bring the stopped cells back', async () => {
    provision();
    await pg.query('vcloud', "insert into runbook_fixture_vcd_running_tasks values (3, 'running')");
    const { summary, events } = await run(writeInventory());
    expect(summary.status).toBe('failed');
    expect(status(summary, 'check-no-running-tasks')).toBe('failed');
    expect(summary.steps.map((s) => s.id)).not.toContain('run-upgrade');
    expect(readVcdState(shared()).db.upgraded).toBe(false);
    expect(output(events, 'explain-restart-cells')).toMatch(/service vmware-vcd start/);
    expect(output(events, 'explain-restart-cells')).toContain('cell2');
  }, 120_000);

  it('incompatible NSX Manager, cancel exit code 0: the step fails, nothing changed, and the run says how to restart the other cells', async () => {
    provision({ nsxCompatible: false, cancelExitCode: 0 });
    const { summary, events } = await run(writeInventory());
    expect(summary.status).toBe('failed');
    expect(status(summary, 'run-upgrade')).toBe('failed');
    expect(output(events, 'explain-upgrade-abort')).toContain('Nothing was changed.');
    expect(output(events, 'explain-upgrade-abort')).toContain('NSX Manager');
    expect(output(events, 'explain-restart-cells')).toMatch(/service vmware-vcd start/);
    expect(output(events, 'explain-restart-cells')).toMatch(/\ncell2\ncell3\n/);
    expect(output(events, 'explain-restart-cells')).toMatch(/do not start cell1/i);
    const vcd = readVcdState(shared());
    expect(vcd.db.upgraded).toBe(false);
    expect(vcd.cells.cell1?.service).toBe('stopped');
  }, 120_000);

  it('the utility refuses (tasks the query did not see) and exits 0: without its completion message the step fails', async () => {
    provision({ runningTasks: 2, cancelExitCode: 0 });
    const { summary, events } = await run(writeInventory());
    expect(summary.status).toBe('failed');
    expect(status(summary, 'run-upgrade')).toBe('failed');
    expect(output(events, 'explain-upgrade-abort')).toMatch(/tasks are running/);
    expect(summary.steps.map((s) => s.id)).not.toContain('wait-upgrade-cell-active');
    expect(readVcdState(shared()).db.upgraded).toBe(false);
  }, 120_000);

  it('a job that never ends: the drain wait times out and the runbook un-quiesces the cell it quiesced', async () => {
    provision({}, undefined, [1, null]);
    const r = await labRun(writeInventory(), { stepTimeouts: { 'wait-other-cells-idle': 25_000 } });
    const { summary, events } = completed(r);
    expect(summary.status).toBe('failed');
    expect(status(summary, 'wait-other-cells-idle')).toBe('failed');
    expect(status(summary, 'unquiesce-other-cells')).toBe('succeeded');
    const c = readVcdState(shared()).cells.cell2!;
    expect([c.service, c.quiesced, c.isActive]).toEqual(['running', false, true]);
    expect(vcdEvents()).toContain('cell2:quiesce:false');
    expect(output(events, 'unquiesce-other-cells')).toMatch(/takes new jobs again/);
  }, 180_000);

  it('single cell with --backup-completed, service started later by the runbook', async () => {
    provision({}, [{ name: 'cell1', treeDir: trees.cell1!, stateDir: lab.host('cell1').stateDir, upgraded: true }]);
    const inventory = writeInventory({ others: [], database: false, params: { backup_completed: true, start_service_now: 'n' } });
    const { summary, events } = await run(inventory);
    expect(summary.status, summary.message).toBe('succeeded');
    expect(status(summary, 'run-upgrade')).toBe('succeeded');
    expect(status(summary, 'start-upgrade-cell-service')).toBe('succeeded');
    const answered = events.flatMap((e) => (e.type === 'instance-finished' && e.stepId === 'run-upgrade' ? (e.answers ?? []) : []));
    expect(answered.map((a) => a.answer)).toEqual(['y', 'n']); // upgrade: y; Start it now?: n
    const vcd = readVcdState(shared());
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
    const vcd = readVcdState(shared());
    expect(vcd.db.upgraded).toBe(false);
    expect(vcd.db.schemaVersion).toBe(vcd.fromVersion);
    expect(summary.steps.map((s) => s.id)).not.toContain('wait-upgrade-cell-active');
  }, 120_000);
});
