/**
 * SQL step cost: runbooks of 1 and 201 read-only `sql` steps against one database, beside psql
 * running 1 and 201 statements in one session. Per extra step = (T201 - T1) / 200, with the
 * cache of validated runbooks warm and cold (the first run after an edit), and two diagnostics:
 * the journal on tmpfs (fsync is free there) and the dry-runs (load, validate, plan only).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PgServer } from '../../../test/harness/postgres.js';
import { CLI, TMP, log } from '../context.js';
import { journalPhases, type JournalPhases } from '../lab.js';
import {
  measure,
  median,
  medianCpu,
  medianWall,
  roundRobin,
  round,
  secondsSpread,
  spread,
  type Measurement,
  type SecondsSpread,
} from '../measure.js';

const QUERY = 'select count(*) as n from items where id <= 10';
const PASSWORD = 'bench-pw-1';
const ENV = { BENCH_DB_PASSWORD: PASSWORD, PGPASSWORD: PASSWORD };
const COUNTS = [1, 201] as const;
type Count = (typeof COUNTS)[number];

export interface SqlResults {
  runbook_ms_per_step: number | null;
  runbook_ms_per_step_cache_cold: number | null;
  psql_ms_per_statement: number | null;
  runbook_ms_per_step_paired: { median: number | null; min: number | null; max: number | null };
  runbook_201_cpu_s: number | null;
  detail: Record<string, SecondsSpread>;
  journal: Omit<JournalPhases, 'steps'>;
  breakdown: SqlBreakdown | null;
}

export interface SqlBreakdown {
  journal_on_tmpfs_ms_per_step: number | null;
  dryrun_ms_per_step: number | null;
  n: number;
  runbook_201_bytes: number;
}

interface SqlFiles {
  inventory: string;
  runbook: Record<Count, string>;
  psqlScript: Record<Count, string>;
}

/** The runbook and inventory of the 201-step SQL runbook (used again by the profiles). */
export const sql201Files = (): { runbook: string; inventory: string; env: Record<string, string> } => ({
  runbook: path.join(TMP, 'sql', 'bench-sql-201.yaml'),
  inventory: path.join(TMP, 'sql', 'inventory.yaml'),
  env: ENV,
});

async function createDatabase(pg: PgServer): Promise<void> {
  await pg.query('postgres', `create role bench login password '${PASSWORD}'`);
  await pg.createDatabase('bench', 'bench');
  await pg.query('bench', 'create table items(id int primary key, v text)');
  await pg.query('bench', "insert into items select g, 'item ' || g from generate_series(1, 1000) g");
  await pg.query('bench', 'alter table items owner to bench');
  await pg.query('bench', 'analyze items');
}

function writeSqlFiles(pg: PgServer): SqlFiles {
  const dir = path.join(TMP, 'sql');
  mkdirSync(dir, { recursive: true });
  const inventory = path.join(dir, 'inventory.yaml');
  writeFileSync(
    inventory,
    [
      'name: bench database',
      'databases:',
      `  benchdb: { host: ${pg.host}, port: ${pg.port}, database: bench, user: bench, password: { env: BENCH_DB_PASSWORD } }`,
      'roles:',
      '  db: benchdb',
      '',
    ].join('\n'),
  );
  const step = (i: number): string =>
    [
      `  - id: check-${i + 1}`,
      `    title: Verification ${i + 1}`,
      '    kind: sql',
      '    target: db',
      '    readOnly: true',
      `    sql: ${QUERY}`,
      '    expect: { rows: 1 }',
    ].join('\n');
  const files: SqlFiles = { inventory, runbook: { 1: '', 201: '' }, psqlScript: { 1: '', 201: '' } };
  for (const count of COUNTS) {
    files.runbook[count] = path.join(dir, `bench-sql-${count}.yaml`);
    const header = [
      `id: bench-sql-${count}`,
      `title: Benchmark ${count} SQL verification step(s)`,
      'version: 1.0.0',
      'source: { document: bench/src/workloads/sql.ts }',
      'targets:',
      '  db: { type: database }',
      'steps:',
    ];
    writeFileSync(files.runbook[count], [...header, ...Array.from({ length: count }, (_, i) => step(i)), ''].join('\n'));
    files.psqlScript[count] = path.join(dir, `psql-${count}.sql`);
    writeFileSync(files.psqlScript[count], `${QUERY};\n`.repeat(count));
  }
  return files;
}

/** `runbook exec` of a SQL runbook; every run of one case shares a state directory, as an operator's runs do. */
function runbookExec(files: SqlFiles, count: Count, stateDir: string, env: Record<string, string> = {}): () => Promise<Measurement> {
  return () =>
    measure('node', [CLI, 'exec', files.runbook[count], '-i', files.inventory, '--yes', '--state-dir', stateDir], {
      env: { ...ENV, ...env },
      label: `runbook ${count} SQL steps`,
    });
}

function psql(pg: PgServer, files: SqlFiles, count: Count): () => Promise<Measurement> {
  const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', pg.host, '-p', String(pg.port), '-U', 'bench', '-d', 'bench'];
  return () => measure('psql', [...args, '-f', files.psqlScript[count]], { env: ENV, label: `psql ${count} statements` });
}

const perExtraStep = (t1: number, t201: number): number | null => round(((t201 - t1) / 200) * 1000, 2);

export async function runSql(pg: PgServer, quick: boolean): Promise<SqlResults> {
  log('SQL: 1 and 201 verification queries, runbook (cache warm and cold) vs psql');
  await createDatabase(pg);
  const files = writeSqlFiles(pg);
  const state = path.join(TMP, 'sql-state');
  const noCache = { RUNBOOK_NO_CACHE: '1' };
  const m = await roundRobin(
    {
      runbook_1: runbookExec(files, 1, path.join(state, '1')),
      runbook_201: runbookExec(files, 201, path.join(state, '201')),
      runbook_1_cache_cold: runbookExec(files, 1, path.join(state, '1-cold'), noCache),
      runbook_201_cache_cold: runbookExec(files, 201, path.join(state, '201-cold'), noCache),
      psql_1: psql(pg, files, 1),
      psql_201: psql(pg, files, 201),
    },
    () => (quick ? 3 : 7),
  );
  const wall = (k: string): number[] => m[k]!.map((x) => x.wall_s);
  // Paired by repetition: the runs of one round ran back to back.
  const paired = spread(wall('runbook_201').map((t, i) => ((t - wall('runbook_1')[i]!) / 200) * 1000));
  const results: SqlResults = {
    runbook_ms_per_step: perExtraStep(medianWall(m.runbook_1!), medianWall(m.runbook_201!)),
    runbook_ms_per_step_cache_cold: perExtraStep(medianWall(m.runbook_1_cache_cold!), medianWall(m.runbook_201_cache_cold!)),
    psql_ms_per_statement: round(((medianWall(m.psql_201!) - medianWall(m.psql_1!)) / 200) * 1000, 3),
    runbook_ms_per_step_paired: { median: round(paired.median, 2), min: round(paired.min, 2), max: round(paired.max, 2) },
    runbook_201_cpu_s: round(medianCpu(m.runbook_201!)),
    detail: Object.fromEntries(Object.entries(m).map(([k, list]) => [k, secondsSpread(list)])),
    journal: (({ steps: _steps, ...rest }) => rest)(journalPhases(path.join(state, '201'))),
    breakdown: await sqlBreakdown(files, quick),
  };
  log(
    `  runbook ${results.runbook_ms_per_step} ms/step (cache cold ${results.runbook_ms_per_step_cache_cold}), psql ${results.psql_ms_per_statement} ms/statement`,
  );
  return results;
}

async function sqlBreakdown(files: SqlFiles, quick: boolean): Promise<SqlBreakdown | null> {
  if (!existsSync('/dev/shm')) return null;
  log('  SQL breakdown: journal on tmpfs, and dry-runs');
  const shm = mkdtempSync('/dev/shm/runbook-bench-');
  try {
    const dry = (count: Count) => () =>
      measure('node', [CLI, 'exec', files.runbook[count], '--dry-run', '-i', files.inventory], {
        env: ENV,
        label: `dry-run ${count} SQL steps`,
      });
    const reps = quick ? 2 : 5;
    const m = await roundRobin(
      {
        tmpfs_1: runbookExec(files, 1, path.join(shm, '1')),
        tmpfs_201: runbookExec(files, 201, path.join(shm, '201')),
        dryrun_1: dry(1),
        dryrun_201: dry(201),
      },
      () => reps,
      () => false,
    );
    const med = (k: string): number => median(m[k]!.map((x) => x.wall_s));
    return {
      journal_on_tmpfs_ms_per_step: perExtraStep(med('tmpfs_1'), med('tmpfs_201')),
      dryrun_ms_per_step: perExtraStep(med('dryrun_1'), med('dryrun_201')),
      n: reps,
      runbook_201_bytes: statSync(files.runbook[201]).size,
    };
  } finally {
    rmSync(shm, { recursive: true, force: true });
  }
}
