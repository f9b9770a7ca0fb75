/**
 * The PostgreSQL target against a real server: the statement timeout is sent once per session
 * and still bounds every step, also after a statement of the runbook's own changed it; several
 * statements share one transaction, a single one runs on its own (autocommit).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresTarget } from '../../src/targets/postgres.js';
import type { SqlOptions } from '../../src/targets/types.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';

let pg: PgServer;
let target: PostgresTarget;

beforeAll(async () => {
  pg = await startPostgres();
  target = new PostgresTarget(
    'db',
    { host: pg.host, port: pg.port, database: 'postgres', user: pg.user, sslmode: 'prefer' },
    pg.password,
    10_000,
  );
}, 120_000);

afterAll(async () => {
  await target?.close();
  await pg?.stop();
});

const options = (timeoutMs: number, transaction = false): SqlOptions => ({
  timeoutMs,
  transaction,
  signal: new AbortController().signal,
});
const sql = (text: string) => [{ text, values: [] }];
const timeoutNow = async () => (await target.query(sql("select current_setting('statement_timeout') as t"), options(1000))).rows[0]?.t;

describe('PostgreSQL target', () => {
  it('bounds each step by its own timeout', async () => {
    expect(await timeoutNow()).toBe('1s');
    await expect(target.query(sql('select pg_sleep(3)'), options(500))).rejects.toThrow(/statement timeout/);
    expect((await target.query(sql('select pg_sleep(0.2) as slept'), options(5000))).rowCount).toBe(1);
    expect(await timeoutNow()).toBe('1s');
  });

  // The same timeout each time: without noticing the change, the target would not send it again.
  it.each([
    ['a plain statement', 'set statement_timeout = 0', false],
    ['a statement in a committed transaction', 'set statement_timeout = 0', true],
    ['reset all', 'reset all', false],
  ])('sets the timeout again after %s of the runbook changed it', async (_name, statement, transaction) => {
    await target.query(sql(statement), options(500, transaction));
    await expect(target.query(sql('select pg_sleep(3)'), options(500))).rejects.toThrow(/statement timeout/);
  });

  it('runs a single statement without BEGIN/COMMIT around it (what cannot run in a transaction block runs)', async () => {
    await target.query(sql('create table if not exists vacuumed(id int)'), options(5000, true));
    const result = await target.query(sql('vacuum vacuumed'), options(5000, true));
    expect(result.command).toBe('VACUUM');
  });

  it('runs several statements in one transaction: a failure undoes the ones before it', async () => {
    await target.query(sql('create table if not exists undone(id int)'), options(5000, true));
    const statements = [...sql('insert into undone values (1)'), ...sql('select 1/0')];
    await expect(target.query(statements, options(5000, true))).rejects.toThrow(/division by zero/);
    expect((await target.query(sql('select count(*)::int as n from undone'), options(5000))).rows[0]?.n).toBe(0);
  });
});
