/**
 * A PostgreSQL client for runbook's own use, not a step's target: the shared state store
 * (journal/pg-store.ts and its sync worker) and the smoke command's seeding. The pg driver is
 * imported in targets/ only (docs/architecture.md).
 */
import pg from 'pg';

export type PgClient = pg.Client;

/** A client for a libpq connection URL, not yet connected. */
export function pgClient(url: string, applicationName?: string): PgClient {
  return new pg.Client({ connectionString: url, ...(applicationName !== undefined ? { application_name: applicationName } : {}) });
}
