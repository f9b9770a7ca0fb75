/**
 * `runbook smoke <id> --database-url URL`: the SQL parts of a runbook (SQL preconditions, SQL
 * steps and their SQL verifications), non-interactively, against one database given by URL and
 * optionally seeded from a schema file. Every database role of the runbook is bound to that
 * database; host and HTTP roles get placeholders that are never contacted, because only SQL runs.
 * Operators run it in their CI against a PostgreSQL service container.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { stringify } from 'yaml';
import { RunbookError } from '../errors.js';
import type { RunSummary } from '../engine/executor.js';
import type { Plan, PlannedStep } from '../planner/plan-types.js';
import { findRunbook } from '../runbook/catalog.js';
import { loadInventory, parseInventory } from '../runbook/inventory.js';
import type { CommandContext } from './context.js';
import { runPrepared, type ExecOptions } from './exec-commands.js';
import { printWarnings } from './plan-commands.js';
import { preparePlan } from './prepare.js';

export interface SmokeOptions extends ExecOptions {
  databaseUrl?: string;
  seed?: string[];
}

const PASSWORD_ENV = 'RUNBOOK_SMOKE_DATABASE_PASSWORD';

export async function smokeCommand(id: string, options: SmokeOptions, ctx: CommandContext): Promise<RunSummary> {
  const url = options.databaseUrl ?? ctx.env.RUNBOOK_SMOKE_DATABASE_URL ?? ctx.env.DATABASE_URL;
  if (!url)
    throw new RunbookError('usage', 'smoke needs --database-url (or RUNBOOK_SMOKE_DATABASE_URL)', {
      hint: 'e.g. --database-url postgres://postgres:postgres@localhost:5432/smoke',
    });
  const db = parseDatabaseUrl(url);
  const runbook = findRunbook(id, ctx.runbookDirs);
  const given = options.inventory ? loadInventory(options.inventory) : null;
  const inventoryText = stringify({
    name: `smoke run against ${db.host}:${db.port}/${db.database}`,
    parameters: given?.parameters ?? {},
    answers: given?.answers ?? {},
    ...smokeTargets(runbook.spec.targets, db, hostVarsUsed(runbook.source.text)),
  });
  const inventoryLoaded = parseInventory('(smoke inventory)', inventoryText);
  const env = { ...ctx.env, ...(db.password !== undefined ? { [PASSWORD_ENV]: db.password } : {}) };
  const smokeCtx: CommandContext = { ...ctx, env, interactive: false };
  const prepared = await preparePlan(runbook.file, { ...options, inventory: undefined, inventoryLoaded }, smokeCtx);
  printWarnings(prepared, ctx);
  for (const file of options.seed ?? []) await seed(url, file);
  return runPrepared({ ...prepared, plan: sqlOnly(prepared.plan) }, { ...options, yes: true }, smokeCtx, 'exec');
}

interface DatabaseUrl {
  host: string;
  port: number;
  database: string;
  user: string | undefined;
  password: string | undefined;
  sslmode: string | undefined;
}

function parseDatabaseUrl(text: string): DatabaseUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RunbookError('usage', 'the database URL is not a URL', { hint: 'Expected postgres://user:password@host:port/database' });
  }
  if (!/^postgres(ql)?:$/.test(url.protocol))
    throw new RunbookError('usage', `unsupported database URL scheme ${url.protocol}`, { hint: 'Use postgres://...' });
  return {
    host: decodeURIComponent(url.hostname) || 'localhost',
    port: Number(url.port || 5432),
    database: decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres',
    user: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    sslmode: url.searchParams.get('sslmode') ?? undefined,
  };
}

/** Host facts the runbook refers to: placeholder hosts carry them so that every step plans. */
function hostVarsUsed(text: string): Record<string, string> {
  const names = [...text.matchAll(/\{\{\s*host\.vars\.([\w-]+)/g)].map((m) => m[1] ?? '');
  return Object.fromEntries(names.map((n) => [n, '<not used in a smoke run>']));
}

function smokeTargets(targets: Record<string, { type: string }>, db: DatabaseUrl, vars: Record<string, string>) {
  const hosts: Record<string, unknown> = {};
  const databases: Record<string, unknown> = {};
  const endpoints: Record<string, unknown> = {};
  const roles: Record<string, string> = {};
  for (const [role, def] of Object.entries(targets)) {
    const name = `smoke-${role}`;
    roles[role] = name;
    if (def.type === 'database') {
      databases[name] = {
        host: db.host,
        port: db.port,
        database: db.database,
        ...(db.user ? { user: db.user } : {}),
        ...(db.password !== undefined ? { password: { env: PASSWORD_ENV } } : {}),
        ...(db.sslmode ? { sslmode: db.sslmode } : {}),
      };
    } else if (def.type === 'hosts') hosts[name] = { address: `${role}.smoke.invalid`, vars };
    else endpoints[name] = { url: `https://${role}.smoke.invalid` };
  }
  return { hosts, databases, endpoints, roles };
}

/** Keeps what touches the database; everything else is skipped with the reason shown. */
export function sqlOnly(plan: Plan): Plan {
  const keep = (step: PlannedStep): PlannedStep => {
    const verify = step.verify?.kind === 'sql' ? step.verify : null;
    if (step.kind === 'sql' || (step.kind === 'prompt' && step.id in plan.answers)) return { ...step, verify };
    return { ...step, verify: null, condition: { decided: 'skip', text: 'smoke run: not a SQL step', runtime: null } };
  };
  return {
    ...plan,
    preconditions: plan.preconditions.filter((c) => c.kind === 'sql'),
    steps: plan.steps.map(keep),
    rollback: plan.rollback.map(keep),
    // Only database secrets are needed: no host or endpoint is contacted.
    secrets: plan.secrets.filter((s) => s.name.startsWith('params.') || s.name.startsWith('inventory.smoke-')),
  };
}

async function seed(url: string, file: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new RunbookError('connection', `cannot seed the smoke database from ${file}: ${(error as Error).message}`, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}
