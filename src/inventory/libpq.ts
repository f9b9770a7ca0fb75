/**
 * A database entry resolved the way libpq (psql) resolves a connection, so that an inventory means
 * what an operator's PG* habits say: the entry's own fields first, then its `url:` or `service:`
 * (pg_service.conf), then the PG* environment variables, then libpq's defaults. The password is
 * not resolved here: it stays a secret reference, or comes from PGPASSWORD / .pgpass at connect.
 */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { readOptionalConfigFile } from '../core/input-file.js';

export const sslModes = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof sslModes)[number];

/** What a database entry says, every field optional (the inventory schema's shape). */
export interface DatabaseFields {
  url?: string | undefined;
  service?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  database?: string | undefined;
  user?: string | undefined;
  sslmode?: SslMode | undefined;
  sslrootcert?: string | undefined;
}

/** A connection every field of which is known, and where each came from when it was not written. */
export interface ResolvedDatabase {
  host: string;
  port: number;
  database: string;
  user: string;
  sslmode: SslMode;
  sslrootcert?: string;
}

export class ConninfoError extends Error {
  constructor(
    message: string,
    /** The entry field the problem is in (url, service). */
    readonly field: string,
  ) {
    super(message);
  }
}

type Fields = Omit<DatabaseFields, 'url' | 'service'>;

/** `postgresql://[user@]host[:port][/dbname][?sslmode=...&sslrootcert=...]`; a password is refused. */
export function parseDatabaseUrl(text: string): Fields {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConninfoError(`"${text}" is not a URL: expected postgresql://user@host:port/database`, 'url');
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:')
    throw new ConninfoError(`a database url starts with postgresql://, not ${url.protocol}//`, 'url');
  if (url.password)
    throw new ConninfoError(
      'the url contains a password: a password is never written in the inventory (use password: {env: NAME}, PGPASSWORD or ~/.pgpass)',
      'url',
    );
  if (url.hostname.includes(',')) throw new ConninfoError('several hosts in one url are not supported: make one entry per host', 'url');
  const q = url.searchParams;
  const out: Fields = {};
  const host = q.get('host') ?? decodeURIComponent(url.hostname.replace(/^\[|\]$/g, ''));
  if (host) out.host = host;
  const port = q.get('port') ?? url.port;
  if (port) out.port = portNumber(port, 'url');
  const database = q.get('dbname') ?? decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database) out.database = database;
  const user = q.get('user') ?? decodeURIComponent(url.username);
  if (user) out.user = user;
  const sslmode = q.get('sslmode');
  if (sslmode) out.sslmode = sslModeOf(sslmode, 'url');
  const sslrootcert = q.get('sslrootcert');
  if (sslrootcert) out.sslrootcert = sslrootcert;
  return out;
}

function portNumber(text: string, field: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConninfoError(`port "${text}" is not a port number`, field);
  return n;
}

function sslModeOf(text: string, field: string): SslMode {
  if (!(sslModes as readonly string[]).includes(text))
    throw new ConninfoError(`sslmode "${text}" is not one of ${sslModes.join(', ')}`, field);
  return text as SslMode;
}

/** The pg_service.conf files libpq reads, in order: PGSERVICEFILE or ~/.pg_service.conf, then the system one. */
function serviceFiles(env: NodeJS.ProcessEnv): string[] {
  return [env.PGSERVICEFILE ?? join(homedir(), '.pg_service.conf'), join(env.PGSYSCONFDIR ?? '/etc/postgresql-common', 'pg_service.conf')];
}

/** One `[name]` section of the first service file that has it (libpq does not merge files). */
export function readService(name: string, env: NodeJS.ProcessEnv): Fields {
  const files = serviceFiles(env);
  for (const file of files) {
    const text = readOptionalConfigFile(file, 'PostgreSQL service file');
    if (text === undefined) continue;
    let inSection = false;
    let found = false;
    const out: Fields = {};
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const section = /^\[(.+)\]$/.exec(line);
      if (section) {
        inSection = section[1] === name;
        found ||= inSection;
        continue;
      }
      const eq = line.indexOf('=');
      if (!inSection || eq < 0) continue;
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim();
      if (key === 'host' || key === 'hostaddr') out.host ??= value;
      if (key === 'port') out.port = portNumber(value, 'service');
      if (key === 'dbname') out.database = value;
      if (key === 'user') out.user = value;
      if (key === 'sslmode') out.sslmode = sslModeOf(value, 'service');
      if (key === 'sslrootcert') out.sslrootcert = value;
    }
    if (found) return out;
  }
  throw new ConninfoError(`service "${name}" is in none of ${files.join(', ')}`, 'service');
}

const defined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;

/** Entry fields, then url/service, then PG* variables, then libpq's defaults. */
export function resolveDatabase(entry: DatabaseFields, env: NodeJS.ProcessEnv): ResolvedDatabase {
  const fromEnv = defined<Fields>({
    host: env.PGHOST,
    port: env.PGPORT ? portNumber(env.PGPORT, 'PGPORT') : undefined,
    database: env.PGDATABASE,
    user: env.PGUSER,
    sslmode: env.PGSSLMODE ? sslModeOf(env.PGSSLMODE, 'PGSSLMODE') : undefined,
    sslrootcert: env.PGSSLROOTCERT,
  });
  const service = entry.service ?? (entry.url ? undefined : env.PGSERVICE);
  const fromLink = entry.url ? parseDatabaseUrl(entry.url) : service ? readService(service, env) : {};
  const { url: _url, service: _service, ...own } = entry;
  const merged = { ...fromEnv, ...defined(fromLink), ...defined(own) };
  const user = merged.user ?? userInfo().username;
  return {
    host: merged.host ?? 'localhost',
    port: merged.port ?? 5432,
    database: merged.database ?? user,
    user,
    sslmode: merged.sslmode ?? 'prefer',
    ...(merged.sslrootcert ? { sslrootcert: merged.sslrootcert } : {}),
  };
}
