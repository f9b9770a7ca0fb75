/**
 * libpq conventions for database entries: url/service/PG* resolution, sslmode prefer (TLS first,
 * plain when the server has none) against a real PostgreSQL with a certificate made by openssl,
 * a "no password supplied" message that says what to set, and ~/.pgpass read without pg's
 * DeprecationWarning.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { parseInventory, type DatabaseEntry } from '../../src/inventory/inventory.js';
import { resolveDatabase } from '../../src/inventory/libpq.js';
import { PostgresTarget } from '../../src/targets/postgres.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { runCli } from '../cli/run-cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'runbook-libpq-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('database entries resolved as libpq resolves them', () => {
  it('takes the entry, then its url, then PG* variables, then the defaults', () => {
    const env = { PGHOST: 'envhost', PGPORT: '6000', PGDATABASE: 'envdb', PGUSER: 'envuser', PGSSLMODE: 'require' };
    expect(resolveDatabase({}, env)).toEqual({ host: 'envhost', port: 6000, database: 'envdb', user: 'envuser', sslmode: 'require' });
    expect(resolveDatabase({ url: 'postgresql://app@db.example:5433/vcloud?sslmode=verify-full', database: 'other' }, env)).toEqual({
      host: 'db.example',
      port: 5433,
      database: 'other',
      user: 'app',
      sslmode: 'verify-full',
    });
    const user = userInfo().username;
    expect(resolveDatabase({}, {})).toEqual({ host: 'localhost', port: 5432, database: user, user, sslmode: 'prefer' });
  });

  it('reads a service from PGSERVICEFILE, the entry still winning', () => {
    const file = join(tmp, 'pg_service.conf');
    writeFileSync(file, '# services\n[other]\nhost=wrong\n[vcd]\nhost=10.0.0.5\nport=5444\ndbname=vcloud\nuser=vcloud\nsslmode=disable\n');
    expect(resolveDatabase({ service: 'vcd', user: 'ro' }, { PGSERVICEFILE: file, PGHOST: 'envhost' })).toEqual({
      host: '10.0.0.5',
      port: 5444,
      database: 'vcloud',
      user: 'ro',
      sslmode: 'disable',
    });
  });

  it('reports a password in a url, and an unknown service, with file, line and field', () => {
    const text = 'databases:\n  a: { url: "postgresql://u:secret-pw@h/db" }\n  b: { service: nope }\n';
    let error: unknown;
    try {
      parseInventory('inv.yaml', text, { PGSERVICEFILE: join(tmp, 'none.conf'), PGSYSCONFDIR: tmp });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const diagnostics = (error as ValidationError).diagnostics;
    expect(diagnostics.map((d) => [d.line, d.path])).toEqual([
      [2, 'databases.a.url'],
      [3, 'databases.b.service'],
    ]);
    expect(diagnostics[0]?.message).toMatch(/contains a password: a password is never written in the inventory/);
    expect(JSON.stringify(diagnostics)).not.toContain('secret-pw');
    expect(diagnostics[1]?.message).toMatch(/service "nope" is in none of/);
  });
});

describe('libpq conventions against a real PostgreSQL', () => {
  let pg: PgServer;
  const saved = { PGPASSWORD: process.env.PGPASSWORD, PGPASSFILE: process.env.PGPASSFILE };
  const targets: PostgresTarget[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
  }, 120_000);

  afterEach(async () => {
    for (const t of targets.splice(0)) await t.close();
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  });

  afterAll(async () => {
    await pg?.stop();
  });

  const entry = (over: Partial<DatabaseEntry> = {}): DatabaseEntry => ({
    host: pg.host,
    port: pg.port,
    database: 'postgres',
    user: pg.user,
    sslmode: 'prefer',
    ...over,
  });
  const target = (e: DatabaseEntry, password?: string) => {
    const t = new PostgresTarget('db', e, password, 10_000);
    targets.push(t);
    return t;
  };
  const usesTls = async (t: PostgresTarget) =>
    (
      await t.query([{ text: 'select ssl from pg_stat_ssl where pid = pg_backend_pid()', values: [] }], {
        timeoutMs: 5000,
        transaction: false,
        signal: new AbortController().signal,
      })
    ).rows[0]?.ssl;

  async function setTls(on: boolean): Promise<void> {
    if (on) {
      const { uid, gid } = statSync(pg.dataDir);
      const cert = join(pg.dataDir, 'runbook-test.crt');
      const key = join(pg.dataDir, 'runbook-test.key');
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert],
        {
          stdio: 'ignore',
        },
      );
      chmodSync(key, 0o600);
      for (const f of [cert, key]) chownSync(f, uid, gid);
      await pg.query('postgres', `alter system set ssl_cert_file = '${cert}'`);
      await pg.query('postgres', `alter system set ssl_key_file = '${key}'`);
    }
    await pg.query('postgres', `alter system set ssl = ${on ? 'on' : 'off'}`);
    await pg.query('postgres', 'select pg_reload_conf()');
  }

  it('sslmode prefer uses TLS when the server offers it, and falls back to plain when it does not', async () => {
    await setTls(true);
    expect(await usesTls(target(entry(), pg.password))).toBe(true);
    expect(await usesTls(target(entry({ sslmode: 'disable' }), pg.password))).toBe(false);
    expect(await usesTls(target(entry({ sslmode: 'require' }), pg.password))).toBe(true);
    await setTls(false);
    expect(await usesTls(target(entry(), pg.password))).toBe(false);
    await expect(usesTls(target(entry({ sslmode: 'require' }), pg.password))).rejects.toThrow(/does not support SSL/);
  });

  it('a FIFO as sslrootcert or as the service file fails at once with its name, nothing hangs', async () => {
    const fifo = join(tmp, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const runbook = join(tmp, 'fifo-rb.yaml');
    writeFileSync(
      runbook,
      'id: fifo-sql\ntitle: FIFO sql\nversion: 1.0.0\ntargets: { db: { type: database } }\nsteps:\n  - { id: one, title: one, kind: sql, target: db, readOnly: true, sql: "select 1" }\n',
    );
    const server = `host: ${pg.host}, port: ${pg.port}, database: postgres, user: ${pg.user}, password: { env: FIFO_TEST_PW }`;
    // Read when connecting (the step fails), or when the inventory is read (bad input, exit 3).
    const cases: Array<[string, string, Record<string, string>, number]> = [
      ['sslrootcert file', `{ ${server}, sslmode: verify-full, sslrootcert: ${fifo} }`, {}, 1],
      ['PostgreSQL service file', `{ service: lab, password: { env: FIFO_TEST_PW } }`, { PGSERVICEFILE: fifo }, 3],
    ];
    for (const [use, db, env, code] of cases) {
      const inventory = join(tmp, `fifo-${use.replace(/\W/g, '-')}.yaml`);
      writeFileSync(inventory, `databases:\n  db: ${db}\nroles: { db: db }\n`);
      const r = await runCli(['exec', runbook, '-i', inventory, '--yes', '--state-dir', join(tmp, 'state')], {
        env: { FIFO_TEST_PW: pg.password, ...env },
        timeoutMs: 30_000,
      });
      expect(r.timedOut, use).toBe(false);
      expect(r.stdout + r.stderr, use).toContain(`cannot read the ${use} ${fifo}: a named pipe (FIFO), not a regular file`);
      expect(r.code, use).toBe(code);
    }
  });

  it('says that no password was supplied and what to set', async () => {
    delete process.env.PGPASSWORD;
    process.env.PGPASSFILE = join(tmp, 'missing.pgpass');
    await expect(usesTls(target(entry()))).rejects.toThrow(
      new RegExp(`none was supplied: set PGPASSWORD, add "${pg.host}:${pg.port}:postgres:${pg.user}:<password>" to .*missing\\.pgpass`),
    );
  });

  it('checks at once on one database take turns: whole transactions, no pg queue warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const t = target(entry(), pg.password);
      const options = { timeoutMs: 5000, transaction: true, signal: new AbortController().signal };
      const slow = [
        { text: 'select pg_sleep(0.2)', values: [] },
        { text: 'select txid_current() as txid', values: [] },
      ];
      const results = await Promise.all([t.query(slow, options), t.query(slow, options), t.query(slow, options)]);
      // Three transactions, each whole: three different transaction ids.
      expect(new Set(results.map((r) => r.rows[0]?.txid)).size).toBe(3);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.message)).toEqual([]);
  });

  it('reads PGPASSFILE without a DeprecationWarning from pg', async () => {
    delete process.env.PGPASSWORD;
    const file = join(tmp, 'pgpass');
    writeFileSync(file, `${pg.host}:${pg.port}:*:${pg.user}:${pg.password}\n`, { mode: 0o600 });
    process.env.PGPASSFILE = file;
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      expect(await usesTls(target(entry()))).toBe(false);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.message)).toEqual([]);
  });
});
