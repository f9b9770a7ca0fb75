/**
 * horizon-daas-db-failover, task 2.6 / 3.7: the two capability UPDATEs run in one transaction and
 * each checks its own affected-row count before the commit. Run here against a real PostgreSQL
 * through the PostgreSQL target, with the statements exactly as the plan has them.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresTarget } from '../../src/targets/postgres.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';

interface Statement {
  text: string;
  binds: Array<{ value?: string | number | boolean | null }>;
}

let pg: PgServer;

beforeAll(async () => {
  pg = await startPostgres({ address: '127.0.63.1' });
  await pg.createDatabase('fdb');
}, 120_000);
afterAll(async () => {
  await pg?.stop();
});

/** The planned statements of a step (example inventory: A = dc1-sp-a, B = dc1-sp-b). */
function plannedStatements(stepId: string): Statement[] {
  const out = execFileSync(
    process.execPath,
    ['bin/runbook.js', 'plan', 'horizon-daas-db-failover', '--json', '-i', 'fixtures/inventories/horizon-daas-db-failover.yaml'],
    { encoding: 'utf8' },
  );
  const plan = JSON.parse(out) as { steps: Array<{ id: string; action: { instances: Array<{ data: { statements: Statement[] } }> } }> };
  return plan.steps.find((s) => s.id === stepId)!.action.instances[0]!.data.statements;
}

async function runStep(statements: Statement[]) {
  const target = new PostgresTarget(
    'fdb',
    { host: pg.host, port: pg.port, database: 'fdb', user: pg.user, sslmode: 'disable' },
    pg.password,
    10_000,
  );
  try {
    return await target.query(
      statements.map((s) => ({ text: s.text, values: s.binds.map((b) => b.value ?? null) })),
      { transaction: true, timeoutMs: 10_000, signal: new AbortController().signal },
    );
  } finally {
    await target.close();
  }
}

async function seed(names: string[]): Promise<void> {
  await pg.query('fdb', 'drop table if exists appliance; create table appliance (name text not null, capabilities integer not null)');
  for (const n of names) await pg.query('fdb', 'insert into appliance values ($1, $2)', [n, n.includes('-b') ? 63 : 255]);
}

const flags = () => pg.query('fdb', 'select name, capabilities from appliance order by name');

it('moves the flags when each UPDATE touches exactly one row', async () => {
  await seed(['dc1-sp-a', 'dc1-sp-b']);
  await runStep(plannedStatements('t2-update-capabilities'));
  expect(await flags()).toEqual([
    { name: 'dc1-sp-a', capabilities: 63 },
    { name: 'dc1-sp-b', capabilities: 255 },
  ]);
}, 60_000);

it('an UPDATE that touches no row (B renamed) fails before the commit: A keeps its flags', async () => {
  await seed(['dc1-sp-a', 'dc1-sp-b-renamed']);
  await expect(runStep(plannedStatements('t2-update-capabilities'))).rejects.toThrow(/expected exactly 1 appliance row named B, updated 0/);
  expect(await flags()).toEqual([
    { name: 'dc1-sp-a', capabilities: 255 },
    { name: 'dc1-sp-b-renamed', capabilities: 63 },
  ]);
}, 60_000);

it('an UPDATE that touches two rows (a duplicate name) fails before the commit', async () => {
  await seed(['dc1-sp-a', 'dc1-sp-a', 'dc1-sp-b']);
  await expect(runStep(plannedStatements('t2-update-capabilities'))).rejects.toThrow(/named A, updated 2/);
  expect((await flags()).map((r) => r.capabilities)).toEqual([255, 255, 63]);
}, 60_000);
