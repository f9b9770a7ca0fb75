/**
 * PostgreSQL with pg: one client per database entry, reused by every step. Values always travel
 * as bind parameters. A step's statements run in one transaction when asked; a statement
 * timeout bounds each step. The entry comes resolved (url, service, PG* defaults: inventory/libpq.ts);
 * here sslmode is applied as libpq does (prefer: TLS first, plain if the server has none) and the
 * password is looked up as libpq does (inventory secret, PGPASSWORD, PGPASSFILE or ~/.pgpass),
 * only when the server asks for one.
 */
import pg from 'pg';
import pgPass from 'pgpass';
import { readConfigFile } from '../core/input-file.js';
import { RunbookError } from '../core/errors.js';
import type { DatabaseEntry } from '../inventory/inventory.js';
import type { SqlOptions, SqlResult, SqlStatement, SqlTarget } from './types.js';

const changesSessionTimeout = /statement_timeout|\breset\s+all\b|\bdiscard\s+all\b/i;

export class PostgresTarget implements SqlTarget {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  /** The statement_timeout this session has now, when this code set it last. */
  private sessionTimeoutMs: number | undefined;
  /**
   * One query at a time on the session: checks run in parallel (preconditions on one database)
   * would otherwise interleave their BEGIN...COMMIT on the one connection, and pg deprecates it.
   */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly entry: DatabaseEntry,
    private readonly password: string | undefined,
    private readonly connectTimeoutMs: number,
  ) {}

  /** The TLS settings of one attempt: null = no TLS. */
  private ssl(tls: boolean): pg.ClientConfig['ssl'] | null {
    const mode = this.entry.sslmode;
    if (!tls) return null;
    if (mode === 'allow' || mode === 'prefer' || mode === 'require') return { rejectUnauthorized: false };
    const ca = this.entry.sslrootcert ? readConfigFile(this.entry.sslrootcert, 'sslrootcert file') : undefined;
    return { rejectUnauthorized: true, ...(ca ? { ca } : {}), ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}) };
  }

  /** libpq's order of attempts: allow tries plain first, prefer TLS first, the others one way only. */
  private attempts(): boolean[] {
    switch (this.entry.sslmode) {
      case 'disable':
        return [false];
      case 'allow':
        return [false, true];
      case 'prefer':
        return [true, false];
      default:
        return [true];
    }
  }

  private clientConfig(tls: boolean): pg.ClientConfig {
    const ssl = this.ssl(tls);
    return {
      host: this.entry.host,
      port: this.entry.port,
      database: this.entry.database,
      user: this.entry.user,
      // Asked only if the server wants a password; our own lookup keeps pg's deprecated one quiet.
      password: () => this.lookUpPassword(),
      ...(ssl ? { ssl } : {}),
      connectionTimeoutMillis: this.connectTimeoutMs,
      application_name: 'runbook',
    };
  }

  private async lookUpPassword(): Promise<string> {
    const e = this.entry;
    const found =
      this.password ??
      process.env.PGPASSWORD ??
      (await new Promise<string | undefined>((resolve) =>
        pgPass({ host: e.host, port: e.port, database: e.database, user: e.user }, resolve),
      ));
    if (found !== undefined) return found;
    const file = process.env.PGPASSFILE ?? '~/.pgpass';
    throw new NoPasswordError(
      `the server asks for a password for user ${e.user} and none was supplied: set PGPASSWORD, add "${e.host}:${e.port}:${e.database}:${e.user}:<password>" to ${file} (mode 0600), or give the entry password: {env: NAME} in the inventory`,
    );
  }

  private connect(): Promise<pg.Client> {
    this.connecting ??= (async () => {
      let lastError: unknown;
      for (const tls of this.attempts()) {
        const client = new pg.Client({ ...this.clientConfig(tls), keepAlive: true });
        client.on('error', () => {
          this.client = undefined;
          this.connecting = undefined;
          this.sessionTimeoutMs = undefined;
        });
        try {
          await client.connect();
          this.client = client;
          return client;
        } catch (error) {
          lastError = error;
          await client.end().catch(() => undefined);
          if (error instanceof NoPasswordError) break;
        }
      }
      this.connecting = undefined;
      throw this.connectionError(lastError);
    })();
    return this.connecting;
  }

  private connectionError(error: unknown): RunbookError {
    const e = this.entry;
    const noPassword = error instanceof NoPasswordError;
    return new RunbookError(
      'connection',
      `cannot connect to database ${this.name} (${e.user}@${e.host}:${e.port}/${e.database}, sslmode ${e.sslmode}): ${(error as Error).message}`,
      {
        hint: noPassword
          ? 'Nothing was run on the database.'
          : 'Check the address, port, user and password source (PGPASSWORD, ~/.pgpass or the inventory), sslmode, and pg_hba.conf on the server.',
        cause: error,
      },
    );
  }

  query(statements: SqlStatement[], options: SqlOptions): Promise<SqlResult> {
    const turn = this.queue.then(() => this.queryAlone(statements, options));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async queryAlone(statements: SqlStatement[], options: SqlOptions): Promise<SqlResult> {
    if (options.signal.aborted) throw new Error('cancelled before it started');
    // One statement is its own transaction (autocommit): BEGIN and COMMIT around it would only
    // cost two round trips, refuse what cannot run in a transaction block (VACUUM, CREATE INDEX
    // CONCURRENTLY) and differ from the dry-run, which shows them only around several statements.
    const transaction = options.transaction && statements.length > 1;
    const client = await this.connect();
    const onAbort = () => {
      // Cancel the running statement from a second connection, as psql does on Ctrl-C.
      const pid = (client as unknown as { processID?: number }).processID;
      if (pid) void this.cancelBackend(pid);
    };
    options.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.applyStatementTimeout(client, options.timeoutMs);
      if (transaction) await client.query('BEGIN');
      let last: pg.QueryResult | undefined;
      for (const s of statements) {
        // A statement of the runbook's own may change the setting: send it again next time.
        if (changesSessionTimeout.test(s.text)) this.sessionTimeoutMs = undefined;
        last = await client.query({ text: s.text, values: s.values });
      }
      if (transaction) await client.query('COMMIT');
      return {
        rows: last?.rows ?? [],
        fields: last?.fields.map((f) => f.name) ?? [],
        rowCount: last?.rowCount ?? null,
        command: last?.command ?? '',
      };
    } catch (error) {
      if (transaction) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      options.signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The step's timeout as a session setting, sent only when it differs from the last one: most
   * steps share a timeout, and each SET is a round trip. Set outside any transaction so that a
   * rollback cannot undo it.
   */
  private async applyStatementTimeout(client: pg.Client, timeoutMs: number): Promise<void> {
    const wanted = Math.max(1, Math.floor(timeoutMs));
    if (this.sessionTimeoutMs === wanted) return;
    this.sessionTimeoutMs = undefined;
    await client.query(`SET statement_timeout = ${wanted}`);
    this.sessionTimeoutMs = wanted;
  }

  private async cancelBackend(pid: number): Promise<void> {
    const canceller = new pg.Client(this.clientConfig(Boolean((this.client as unknown as { ssl?: unknown } | undefined)?.ssl)));
    try {
      await canceller.connect();
      await canceller.query('SELECT pg_cancel_backend($1)', [pid]);
    } catch {
      // Best effort: the statement timeout still bounds the statement.
    } finally {
      await canceller.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.client?.end().catch(() => undefined);
  }
}

/** The server wants a password and no source has one: said once, with what to set. */
class NoPasswordError extends Error {}
