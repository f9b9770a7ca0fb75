/**
 * horizon-daas-db-failover, task 2.6 / 3.7: the two capability UPDATEs run in one transaction and
 * each checks its own affected-row count before the commit. Run here against a real PostgreSQL
 * through the PostgreSQL target, with the statements exactly as the plan has them.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { materializeBinds, type RenderedSql, type RuntimeValues } from '../../src/core/template.js';
import { PostgresTarget } from '../../src/targets/postgres.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { shippedRunbook, sqlOf, step } from './dry-run.js';

let pg: PgServer;

beforeAll(async () => {
  pg = await startPostgres({ address: '127.0.63.1' });
  await pg.createDatabase('fdb');
}, 120_000);
afterAll(async () => {
  await pg?.stop();
});

const horizon = shippedRunbook('horizon-daas-db-failover');
/** These statements bind plain values only: a secret or a step's value would be a test mistake. */
const NO_RUN_TIME_VALUES: RuntimeValues = {
  secret: (name) => {
    throw new Error(`unexpected secret ${name}`);
  },
  ref: (ref) => {
    throw new Error(`unexpected reference ${ref}`);
  },
};

/** The planned statements of a step (example inventory: A = dc1-sp-a, B = dc1-sp-b). */
async function plannedStatements(stepId: string): Promise<RenderedSql[]> {
  return sqlOf(step(await horizon.plan(['-i', horizon.inventory]), stepId)).statements;
}

async function runStep(statements: RenderedSql[]) {
  const target = new PostgresTarget(
    'fdb',
    { host: pg.host, port: pg.port, database: 'fdb', user: pg.user, sslmode: 'disable' },
    pg.password,
    10_000,
  );
  try {
    return await target.query(
      statements.map((s) => ({ text: s.text, values: materializeBinds(s.binds, NO_RUN_TIME_VALUES) })),
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
  await runStep(await plannedStatements('t2-update-capabilities'));
  expect(await flags()).toEqual([
    { name: 'dc1-sp-a', capabilities: 63 },
    { name: 'dc1-sp-b', capabilities: 255 },
  ]);
}, 60_000);

it('an UPDATE that touches no row (B renamed) fails before the commit: A keeps its flags', async () => {
  await seed(['dc1-sp-a', 'dc1-sp-b-renamed']);
  await expect(runStep(await plannedStatements('t2-update-capabilities'))).rejects.toThrow(
    /expected exactly 1 appliance row named B, updated 0/,
  );
  expect(await flags()).toEqual([
    { name: 'dc1-sp-a', capabilities: 255 },
    { name: 'dc1-sp-b-renamed', capabilities: 63 },
  ]);
}, 60_000);

it('an UPDATE that touches two rows (a duplicate name) fails before the commit', async () => {
  await seed(['dc1-sp-a', 'dc1-sp-a', 'dc1-sp-b']);
  await expect(runStep(await plannedStatements('t2-update-capabilities'))).rejects.toThrow(/named A, updated 2/);
  expect((await flags()).map((r) => r.capabilities)).toEqual([255, 255, 63]);
}, 60_000);
