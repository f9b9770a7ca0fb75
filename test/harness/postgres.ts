/**
 * A throwaway PostgreSQL 15 cluster on loopback for tests: initdb + pg_ctl as the unprivileged
 * `postgres` user, in a temporary directory, scram-sha-256 auth with a generated superuser password,
 * listening on one 127.x.y.z address only, unix socket in the temp dir, fsync off.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import pg from 'pg';
import { canBind, findFreePort, reapStale, registerCleanup, releasePort, reservePort, run, waitFor } from './util.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface StartPostgresOptions {
  /** Loopback address to listen on (default 127.0.0.1). */
  address?: string;
  /** Exact port; default: a free port (see preferPort). */
  port?: number;
  /** Try this port first and fall back to a free one from 15432 up (used for "5432 if free"). */
  preferPort?: number;
  /** Base directory (created, chowned to postgres); default a new /tmp/runbook-pg-XXXXXX. */
  dataDir?: string;
  /** Superuser name (default "postgres"). */
  user?: string;
  /** Superuser password (default: random). */
  password?: string;
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string | number | boolean>;
}

export interface PgServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The base directory; the cluster is in `${baseDir}/data`, the unix socket in baseDir. */
  baseDir: string;
  dataDir: string;
  socketDir: string;
  logPath: string;
  url(db?: string): string;
  /** libpq key=value connection string (what slon/slonik/psql take). */
  conninfo(db?: string, overrides?: { user?: string; password?: string }): string;
  createDatabase(name: string, owner?: string): Promise<void>;
  query<R extends Record<string, unknown> = Record<string, unknown>>(db: string, sql: string, params?: unknown[]): Promise<R[]>;
  /** Whether the server is running (see halt/start). */
  readonly running: boolean;
  /** Takes the server down (immediate shutdown, like a crash) but keeps its data. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same address and port. */
  start(): Promise<void>;
  /** Stops the server and removes all its files. */
  stop(): Promise<void>;
}

function confValue(v: string | number | boolean): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return `'${v.replace(/'/g, "''")}'`;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const line = (await fsp.readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no "postgres" system user: install postgresql-15 (.ci/install-system-deps.sh)');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

const asPostgres = (cmd: string, args: string[], cwd: string) =>
  run('/usr/sbin/runuser', ['-u', 'postgres', '--', path.join(PG_BIN, cmd), ...args], {
    cwd,
    env: { PATH: `${PG_BIN}:/usr/bin:/bin`, LANG: 'C', LC_ALL: 'C' },
    timeout: 120_000,
  });

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PgServer> {
  const address = opts.address ?? '127.0.0.1';
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) throw new Error(`PostgreSQL must listen on loopback, got ${address}`);
  if (process.getuid?.() !== 0) throw new Error('startPostgres must run as root (it uses runuser -u postgres)');
  reapStale();
  const ids = await postgresIds();
  const user = opts.user ?? 'postgres';
  const password = opts.password ?? randomBytes(12).toString('hex');

  let port: number;
  if (opts.port !== undefined) {
    port = opts.port;
    reservePort(address, port);
  } else if (opts.preferPort !== undefined && reservePort(address, opts.preferPort)) {
    port = opts.preferPort;
    if (!(await canBind(address, port))) {
      releasePort(address, port);
      port = await findFreePort([address], 15432);
    }
  } else {
    port = await findFreePort([address], 15432);
  }

  const baseDir = opts.dataDir ?? (await fsp.mkdtemp('/tmp/runbook-pg-'));
  await fsp.mkdir(baseDir, { recursive: true });
  await fsp.chown(baseDir, ids.uid, ids.gid);
  await fsp.chmod(baseDir, 0o700);
  const dataDir = path.join(baseDir, 'data');
  const logPath = path.join(baseDir, 'postgres.log');
  let running = false;
  let removed = false;
  const cleanup = registerCleanup(() => ({
    pgDataDirs: removed ? [] : [dataDir],
    dirs: removed ? [] : [baseDir],
    ports: [[address, port]],
  }));
  const pools = new Map<string, pg.Pool>();

  const pgStart = async () => {
    await asPostgres('pg_ctl', ['-D', dataDir, '-l', logPath, '-w', '-t', '60', '-s', 'start'], baseDir).catch(async (e: Error) => {
      const log = await fsp.readFile(logPath, 'utf8').catch(() => '');
      throw new Error(`${e.message}\n--- ${logPath} ---\n${log.slice(-4000)}`);
    });
    running = true;
  };
  const endPools = async () => {
    const all = [...pools.values()];
    pools.clear();
    await Promise.all(all.map((p) => p.end().catch(() => undefined)));
  };

  try {
    const pwfile = path.join(baseDir, 'pwfile');
    await fsp.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    await fsp.chown(pwfile, ids.uid, ids.gid);
    await asPostgres(
      'initdb',
      [
        '-D',
        dataDir,
        '-U',
        user,
        `--pwfile=${pwfile}`,
        '--auth-local=scram-sha-256',
        '--auth-host=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
        '--no-instructions',
      ],
      baseDir,
    );
    await fsp.rm(pwfile, { force: true });
    const settings: Record<string, string | number | boolean> = {
      listen_addresses: address,
      port,
      unix_socket_directories: baseDir,
      fsync: false,
      full_page_writes: false,
      shared_buffers: '32MB',
      max_connections: 100,
      password_encryption: 'scram-sha-256',
      logging_collector: false,
      log_min_messages: 'warning',
      ...(opts.settings ?? {}),
    };
    await fsp.appendFile(
      path.join(dataDir, 'postgresql.conf'),
      `\n# test/harness/postgres.ts\n${Object.entries(settings)
        .map(([k, v]) => `${k} = ${confValue(v)}`)
        .join('\n')}\n`,
    );
    await fsp.writeFile(
      path.join(dataDir, 'pg_hba.conf'),
      [
        '# test/harness/postgres.ts: password (scram) auth only; TCP from loopback only',
        'local all all scram-sha-256',
        'host all all 127.0.0.0/8 scram-sha-256',
        '',
      ].join('\n'),
    );
    await pgStart();
    cleanup.update();
  } catch (e) {
    removed = true;
    await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-s', 'stop'], baseDir).catch(() => undefined);
    await fsp.rm(baseDir, { recursive: true, force: true });
    releasePort(address, port);
    cleanup.unregister();
    throw e;
  }

  const conn = (db: string) => ({ host: address, port, user, password, database: db });
  const server: PgServer = {
    host: address,
    port,
    user,
    password,
    baseDir,
    dataDir,
    socketDir: baseDir,
    logPath,
    get running() {
      return running;
    },
    url: (db = 'postgres') =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${address}:${port}/${encodeURIComponent(db)}`,
    conninfo: (db = 'postgres', o = {}) =>
      `host=${address} port=${port} dbname=${db} user=${o.user ?? user} password=${o.password ?? password}`,
    createDatabase: async (name, owner) => {
      const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
      await server.query('postgres', `CREATE DATABASE ${ident(name)}${owner ? ` OWNER ${ident(owner)}` : ''}`);
    },
    query: async <R extends Record<string, unknown>>(db: string, sql: string, params?: unknown[]) => {
      let pool = pools.get(db);
      if (!pool) {
        pool = new pg.Pool({ ...conn(db), max: 2, idleTimeoutMillis: 2000 });
        pool.on('error', () => undefined); // server went down under an idle client
        pools.set(db, pool);
      }
      const res = await pool.query(sql, params);
      return res.rows as R[];
    },
    halt: async () => {
      if (!running) return;
      await endPools();
      await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-s', 'stop'], baseDir);
      running = false;
    },
    start: async () => {
      if (running) return;
      await pgStart();
    },
    stop: async () => {
      if (removed) return;
      await endPools();
      if (running) {
        await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-s', 'stop'], baseDir).catch(() => undefined);
        running = false;
      }
      removed = true;
      await fsp.rm(baseDir, { recursive: true, force: true });
      releasePort(address, port);
      cleanup.unregister();
    },
  };
  await waitFor('PostgreSQL to accept queries', () => server.query('postgres', 'select 1').then(() => true), { timeoutMs: 30_000 });
  return server;
}

/** True when the directory looks like a cluster this module created (used by tests). */
export function isClusterDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'data', 'PG_VERSION'));
}
