/**
 * `runbook smoke` of every shipped runbook, as an operator's CI runs it: the smoke command of
 * fixtures/ci/github-actions-smoke.yml as written (the package's example inventory for the
 * parameters, its seed for the schema), one real PostgreSQL database per runbook.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { runCli } from '../cli/run-cli.js';

const shipped = readdirSync(join(process.cwd(), 'src', 'runbooks'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''));
/** Runbooks with SQL to smoke-test; the others have none and say so. */
const withSql = ['horizon-daas-db-failover', 'vcd-db-upgrade'];
/** The workflow's smoke runs: each runbook with SQL, once per example inventory (Horizon: both paths). */
const runs = [
  { runbook: 'horizon-daas-db-failover', inventory: 'horizon-daas-db-failover' },
  { runbook: 'horizon-daas-db-failover', inventory: 'horizon-daas-db-failover-tenant' },
  { runbook: 'vcd-db-upgrade', inventory: 'vcd-db-upgrade' },
];

let pg: PgServer;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

const url = (db: string) => `postgres://${pg.user}:${encodeURIComponent(pg.password)}@${pg.host}:${pg.port}/${db}`;
const seedOf = (id: string) => join('fixtures', 'smoke', `${id}.sql`);
const inventoryOf = (id: string) => join('fixtures', 'inventories', `${id}.yaml`);

const workflow = parse(readFileSync(join('fixtures', 'ci', 'github-actions-smoke.yml'), 'utf8'));
const smokeStep = (workflow.jobs.smoke.steps as Array<{ name?: string; run?: string }>).find((s) => s.name === 'smoke');

/** The workflow's smoke command for a runbook and an inventory, the installed package being this checkout. */
function workflowSmokeArgs(id: string, inventory = id): string[] {
  const words = (smokeStep?.run ?? '')
    .replaceAll('${{ matrix.runbook }}', id)
    .replaceAll('${{ matrix.inventory }}', inventory)
    .replaceAll('$RUNBOOK_HOME', process.cwd())
    .trim()
    .split(/\s+/);
  expect(words[0]).toBe('runbook');
  return words.slice(1);
}

const withoutSeed = (args: string[]) => args.filter((w, i) => w !== '--seed' && args[i - 1] !== '--seed');

async function smoke(id: string, db: string, inventory = id) {
  await pg.createDatabase(db);
  return runCli([...workflowSmokeArgs(id, inventory), '--state-dir', join(pg.baseDir, 'state')], {
    env: { RUNBOOK_SMOKE_DATABASE_URL: url(db) },
  });
}

describe.each(runs)('smoke $runbook with $inventory', ({ runbook, inventory }) => {
  it('runs its SQL against the shipped seed and succeeds', async () => {
    const r = await smoke(runbook, inventory.replace(/-/g, '_'), inventory);
    expect(r.stderr, r.stdout).toBe('');
    expect(r.stdout).toContain('run succeeded');
    expect(r.stdout).not.toContain('nothing to smoke-test');
    expect(r.stdout).not.toMatch(/✘/);
    expect(r.code).toBe(0);
  });
});

it('vcd-db-upgrade: the smoke run really checks for running tasks', async () => {
  await pg.query('vcd_db_upgrade', "insert into runbook_fixture_vcd_running_tasks values (99, 'vappDeploy', 'running')");
  const r = await runCli([...withoutSeed(workflowSmokeArgs('vcd-db-upgrade')), '--state-dir', join(pg.baseDir, 'state')], {
    env: { RUNBOOK_SMOKE_DATABASE_URL: url('vcd_db_upgrade') },
  });
  expect(r.stdout).toMatch(/check-no-running-tasks failed/);
  expect(r.code).toBe(1);
});

it('a stand-in for a step the runbook does not have is an error with file and line, before anything runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-smoke-'));
  const seed = join(dir, 'seed.sql');
  writeFileSync(seed, 'create table t (x int);\n-- smoke: instead of no-such-step on secondary_fdb\nselect 1;\n');
  await pg.createDatabase('standin_error');
  const r = await runCli(
    [
      'smoke',
      'horizon-daas-db-failover',
      '-i',
      inventoryOf('horizon-daas-db-failover'),
      '--seed',
      seed,
      '--state-dir',
      join(pg.baseDir, 'state'),
    ],
    { env: { RUNBOOK_SMOKE_DATABASE_URL: url('standin_error') } },
  );
  expect(r.code).toBe(3);
  expect(r.stderr).toContain(`${seed}:2`);
  expect(r.stderr).toContain('unknown step "no-such-step"');
  expect(await pg.query('standin_error', "select count(*)::int as n from pg_tables where tablename = 't'")).toEqual([{ n: 0 }]);
});

it('horizon-daas-db-failover: the smoke run really changed the seeded FDB (flags moved from A to B)', async () => {
  const rows = await pg.query(
    'horizon_daas_db_failover',
    "select name, capabilities & 192 as flags from appliance where name like 'dc1-sp-_' order by name",
  );
  expect(rows).toEqual([
    { name: 'dc1-sp-a', flags: 0 },
    { name: 'dc1-sp-b', flags: 192 },
    { name: 'dc1-sp-c', flags: 0 },
  ]);
});

it('horizon-daas-db-failover, tenant path: task 3 moved the tenant flags in the master SP FDB and re-made the tenant Slony set', async () => {
  const db = 'horizon_daas_db_failover_tenant';
  const flags = await pg.query(db, "select name, capabilities & 192 as flags from appliance where name like 'dc1-%' order by name");
  // The service-provider rows are untouched: task 2 did not run.
  expect(flags).toEqual([
    { name: 'dc1-sp-a', flags: 192 },
    { name: 'dc1-sp-b', flags: 0 },
    { name: 'dc1-sp-c', flags: 0 },
    { name: 'dc1-t1001-a', flags: 0 },
    { name: 'dc1-t1001-b', flags: 192 },
  ]);
  // The stand-in of the tenant's re-initialisation (task 3.9) made B the origin again.
  expect(await pg.query(db, 'select set_origin from _slony.sl_set')).toEqual([{ set_origin: 2 }]);
});

it('horizon-daas-db-failover, tenant path: the run goes through the tenant SQL of tasks 1 and 3', async () => {
  const r = await smoke('horizon-daas-db-failover', 'horizon_tenant_steps', 'horizon-daas-db-failover-tenant');
  expect(r.code, r.stderr).toBe(0);
  for (const title of [
    'Task 1.4: drop the Slony schema in the secondary EDB (tenant)',
    'Task 1.4: drop the Slony schema in the secondary AVDB (tenant)',
    'Task 3.7: move the master role flags from A to B (master SP appliance FDB)',
    'smoke stand-in for: Task 3.9',
    'Task 3.10: the secondary tenant FDB is the Slony master',
  ])
    expect(r.stdout).toContain(title);
  expect(r.stdout).toMatch(/● t3-reinit-slony: smoke stand-in for: Task 3\.9/);
  expect(r.stdout).toMatch(/⤼ t2-reinit-slony: .* skipped \(condition false: params\.appliance_kind == "service-provider"\)/);
});

describe.each(shipped.filter((id) => !withSql.includes(id)))('smoke %s (no SQL)', (id) => {
  it('says there was nothing to smoke-test and fails, unless --allow-no-sql', async () => {
    const db = id.replace(/-/g, '_');
    const r = await smoke(id, db);
    expect(r.stderr).toContain(`cannot read the smoke seed ${process.cwd()}/${seedOf(id)}: file not found`);
    expect(r.code).toBe(3);
    const noSeed = withoutSeed(workflowSmokeArgs(id));
    const unseeded = await runCli([...noSeed, '--state-dir', join(pg.baseDir, 'state')], { env: { RUNBOOK_SMOKE_DATABASE_URL: url(db) } });
    expect(unseeded.code).toBe(1);
    expect(unseeded.stderr).toMatch(/nothing to smoke-test/);
    expect(unseeded.stdout).not.toContain('all steps completed');
    const allowed = await runCli([...noSeed, '--allow-no-sql', '--state-dir', join(pg.baseDir, 'state')], {
      env: { RUNBOOK_SMOKE_DATABASE_URL: url(db) },
    });
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(/nothing to smoke-test/);
  });
});

it('every shipped runbook is smoke-tested here and in the example CI workflow', () => {
  expect(shipped.sort()).toEqual([
    'bomgar-failover-upgrade',
    'horizon-daas-db-failover',
    'opengauss-cm-upgrade',
    'timesten-online-upgrade',
    'vcd-db-upgrade',
  ]);
  expect(workflow.jobs.smoke.strategy.matrix.include).toEqual(runs);
  expect([...new Set(runs.map((r) => r.runbook))].sort()).toEqual([...withSql].sort());
  for (const id of withSql) expect(existsSync(seedOf(id)), seedOf(id)).toBe(true);
  for (const { inventory } of runs) expect(existsSync(inventoryOf(inventory)), inventoryOf(inventory)).toBe(true);
});
