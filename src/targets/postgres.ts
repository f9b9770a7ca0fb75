/**
 * PostgreSQL with pg: one client per database entry, reused by every step. Values always travel
 * as bind parameters. A step's statements run in one transaction when asked; a statement
 * timeout bounds each step. PG* environment variables and ~/.pgpass are honoured by pg itself.
 */
import pg from 'pg';
import { RunbookError } from '../errors.js';
import type { DatabaseEntry } from '../runbook/inventory.js';
import type { SqlOptions, SqlResult, SqlStatement, SqlTarget } from './types.js';
import { readFileSync } from 'node:fs';

const changesSessionTimeout = /statement_timeout|\breset\s+all\b|\bdiscard\s+all\b/i;

export class PostgresTarget implements SqlTarget {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  /** The statement_timeout this session has now, when this code set it last. */
  private sessionTimeoutMs: number | undefined;

  constructor(
    readonly name: string,
    private readonly entry: DatabaseEntry,
    private readonly password: string | undefined,
    private readonly connectTimeoutMs: number,
  ) {}

  private ssl(): pg.ClientConfig['ssl'] {
    const mode = this.entry.sslmode;
    if (!mode || mode === 'disable' || mode === 'prefer') return undefined;
    const ca = this.entry.sslrootcert ? readFileSync(this.entry.sslrootcert, 'utf8') : undefined;
    if (mode === 'require') return { rejectUnauthorized: false };
    return { rejectUnauthorized: true, ...(ca ? { ca } : {}), ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}) };
  }

  private clientConfig(): pg.ClientConfig {
    const ssl = this.ssl();
    return {
      host: this.entry.host,
      port: this.entry.port,
      database: this.entry.database,
      ...(this.entry.user ? { user: this.entry.user } : {}),
      ...(this.password !== undefined ? { password: this.password } : {}),
      ...(ssl ? { ssl } : {}),
      connectionTimeoutMillis: this.connectTimeoutMs,
      application_name: 'runbook',
    };
  }

  private connect(): Promise<pg.Client> {
    this.connecting ??= (async () => {
      const client = new pg.Client({ ...this.clientConfig(), keepAlive: true });
      client.on('error', () => {
        this.client = undefined;
        this.connecting = undefined;
        this.sessionTimeoutMs = undefined;
      });
      try {
        await client.connect();
      } catch (error) {
        this.connecting = undefined;
        throw new RunbookError(
          'connection',
          `cannot connect to database ${this.name} (${this.entry.host}:${this.entry.port}/${this.entry.database}): ${(error as Error).message}`,
          {
            hint: 'Check the address, port, user and password source (PGPASSWORD, ~/.pgpass or the inventory), and pg_hba.conf on the server.',
            cause: error,
          },
        );
      }
      this.client = client;
      return client;
    })();
    return this.connecting;
  }

  async query(statements: SqlStatement[], options: SqlOptions): Promise<SqlResult> {
    const client = await this.connect();
    const onAbort = () => {
      // Cancel the running statement from a second connection, as psql does on Ctrl-C.
      const pid = (client as unknown as { processID?: number }).processID;
      if (pid) void this.cancelBackend(pid);
    };
    options.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.applyStatementTimeout(client, options.timeoutMs);
      if (options.transaction) await client.query('BEGIN');
      let last: pg.QueryResult | undefined;
      for (const s of statements) {
        // A statement of the runbook's own may change the setting: send it again next time.
        if (changesSessionTimeout.test(s.text)) this.sessionTimeoutMs = undefined;
        last = await client.query({ text: s.text, values: s.values });
      }
      if (options.transaction) await client.query('COMMIT');
      return {
        rows: last?.rows ?? [],
        fields: last?.fields.map((f) => f.name) ?? [],
        rowCount: last?.rowCount ?? null,
        command: last?.command ?? '',
      };
    } catch (error) {
      if (options.transaction) await client.query('ROLLBACK').catch(() => undefined);
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
    const canceller = new pg.Client(this.clientConfig());
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
