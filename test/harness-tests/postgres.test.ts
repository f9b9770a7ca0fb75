import * as fs from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { canConnect } from '../harness/util.js';

describe('postgres harness', () => {
  let server: PgServer;
  beforeAll(async () => {
    const t0 = Date.now();
    server = await startPostgres({ address: '127.0.12.1' });
    console.log(`postgres started in ${Date.now() - t0} ms on ${server.host}:${server.port}`);
  });
  afterAll(async () => {
    const t0 = Date.now();
    await server?.stop();
    console.log(`postgres stopped in ${Date.now() - t0} ms`);
  });

  it('answers queries and creates databases', async () => {
    await server.createDatabase('appdb');
    await server.query('appdb', 'create table t(id int primary key, v text)');
    await server.query('appdb', 'insert into t values ($1, $2)', [1, 'one']);
    expect(await server.query('appdb', 'select v from t where id = 1')).toEqual([{ v: 'one' }]);
    const c = new pg.Client({ connectionString: server.url('appdb') });
    await c.connect();
    expect((await c.query('select current_user as u')).rows[0]).toEqual({ u: server.user });
    await c.end();
  });

  it('requires the password and listens on its address only', async () => {
    const c = new pg.Client({ host: server.host, port: server.port, user: server.user, password: 'wrong', database: 'postgres' });
    await expect(c.connect()).rejects.toThrow(/password authentication failed/);
    expect(await canConnect('127.0.12.2', server.port)).toBe(false);
  });

  it('halt and start keep the data', async () => {
    await server.halt();
    expect(await canConnect(server.host, server.port)).toBe(false);
    await server.start();
    expect(await server.query('appdb', 'select count(*)::int as n from t')).toEqual([{ n: 1 }]);
    expect(fs.existsSync(server.dataDir)).toBe(true);
  });
});
