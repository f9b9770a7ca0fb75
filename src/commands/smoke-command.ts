/**
 * `runbook smoke <id> --database-url URL`: the SQL parts of a runbook (SQL preconditions, SQL
 * steps and their SQL verifications), non-interactively, against one database given by URL and
 * optionally seeded from a schema file. Every database role of the runbook is bound to that
 * database; host and HTTP roles get placeholders that are never contacted, because only SQL runs.
 * Operators run it in their CI against a PostgreSQL service container.
 */
import { stringify } from 'yaml';
import { RunbookError } from '../core/errors.js';
import { jsonLine } from '../engine/events.js';
import type { RunSummary } from '../engine/executor.js';
import type { Plan, PlannedStep } from '../planner/plan-types.js';
import { parseInventory } from '../inventory/inventory.js';
import { pgClient } from '../targets/pg-client.js';
import type { CommandContext } from './context.js';
import { runPrepared, type ExecOptions } from './session.js';
import { checkInputs } from './input-checks.js';
import { preparePlan, printWarnings } from './prepare.js';
import { applyStandIns, readSmokeSeed, type SmokeSeed } from './smoke-seed.js';

export interface SmokeOptions extends ExecOptions {
  databaseUrl?: string;
  seed?: string[];
  /** Succeed even when the runbook has no SQL to run (otherwise that fails the smoke test). */
  allowNoSql?: boolean;
}

const PASSWORD_ENV = 'RUNBOOK_SMOKE_DATABASE_PASSWORD';

export async function smokeCommand(id: string, options: SmokeOptions, ctx: CommandContext): Promise<RunSummary> {
  const url = options.databaseUrl ?? ctx.env.RUNBOOK_SMOKE_DATABASE_URL ?? ctx.env.DATABASE_URL;
  if (!url)
    throw new RunbookError('usage', 'smoke needs --database-url (or RUNBOOK_SMOKE_DATABASE_URL)', {
      hint: 'e.g. --database-url postgres://postgres:postgres@localhost:5432/smoke',
    });
  const db = parseDatabaseUrl(url);
  const env = { ...ctx.env, ...(db.password !== undefined ? { [PASSWORD_ENV]: db.password } : {}) };
  const smokeCtx: CommandContext = { ...ctx, env, interactive: false };
  // The runbook, the operator's inventory and parameters, every stage's problems at once.
  const { runbook, inventory: given } = await checkInputs(id, options, smokeCtx);
  const inventoryText = stringify({
    name: `smoke run against ${db.host}:${db.port}/${db.database}`,
    parameters: given?.parameters ?? {},
    answers: given?.answers ?? {},
    ...smokeTargets(runbook.spec.targets, db, hostVarsUsed(runbook.source.text)),
  });
  const inventoryLoaded = parseInventory('(smoke inventory)', inventoryText);
  const prepared = await preparePlan(runbook.file, { ...options, inventory: undefined, inventoryLoaded }, smokeCtx);
  printWarnings(prepared, ctx);
  const seeds = (options.seed ?? []).map(readSmokeSeed);
  const plan = sqlOnly(
    applyStandIns(
      prepared.plan,
      seeds.flatMap((s) => s.standIns),
    ),
  );
  if (sqlThatMayRun(plan) === 0) return nothingToSmokeTest(plan, options, ctx);
  for (const s of seeds) await seed(url, s);
  const summary = await runPrepared({ ...prepared, plan }, { ...options, yes: true }, smokeCtx, 'exec');
  const ran = plan.preconditions.length + summary.steps.filter((s) => s.status === 'succeeded' || s.status === 'failed').length;
  if (summary.exitCode === 0 && ran === 0) return nothingToSmokeTest(plan, options, ctx, summary);
  return summary;
}

/** SQL preconditions and SQL steps not already skipped by the plan. */
function sqlThatMayRun(plan: Plan): number {
  return plan.preconditions.length + plan.steps.filter((s) => s.kind === 'sql' && s.condition.decided !== 'skip').length;
}

/**
 * A smoke run that executes no SQL tests nothing: it must not pass for a green smoke test in CI.
 * With --allow-no-sql it says so and succeeds.
 */
function nothingToSmokeTest(plan: Plan, options: SmokeOptions, ctx: CommandContext, summary?: RunSummary): RunSummary {
  const message = `nothing to smoke-test: ${plan.runbook.id} ran no SQL (no SQL precondition, and its ${plan.steps.length} steps are not SQL or were skipped with these parameters)`;
  if (!options.allowNoSql)
    throw new RunbookError('step-failed', message, {
      hint: 'Smoke-test a runbook that has SQL steps, set the parameters that select them, or pass --allow-no-sql to accept this.',
    });
  if (ctx.json) ctx.stdout.write(jsonLine({ type: 'smoke-nothing-to-test', runbook: plan.runbook.id, message }));
  else ctx.print(message);
  return summary ?? { status: 'succeeded', exitCode: 0, message, steps: [] };
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
  const kept: Plan = {
    ...plan,
    preconditions: plan.preconditions.filter((c) => c.kind === 'sql'),
    steps: plan.steps.map(keep),
    rollback: plan.rollback.map(keep),
    // Only the smoke database's password and the secrets the SQL itself binds are needed: no
    // host or endpoint is contacted.
    secrets: [],
  };
  const used = secretsIn([kept.preconditions, kept.steps.filter((s) => s.condition.decided !== 'skip'), kept.rollback]);
  return { ...kept, secrets: plan.secrets.filter((s) => s.name.startsWith('inventory.smoke-') || used.has(s.name)) };
}

/** Names of the secrets a part of a plan refers to (`{ secret: name }` anywhere in it). */
function secretsIn(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) secretsIn(v, found);
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      if (k === 'secret' && typeof v === 'string') found.add(v);
      else secretsIn(v, found);
    }
  return found;
}

async function seed(url: string, { file, schema }: SmokeSeed): Promise<void> {
  const client = pgClient(url);
  try {
    await client.connect();
    await client.query(schema);
  } catch (error) {
    throw new RunbookError('connection', `cannot seed the smoke database from ${file}: ${(error as Error).message}`, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}
