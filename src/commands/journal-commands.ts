/** `runbook runs` (recorded runs, their state, locks; breaking a stale lock) and `runbook report`. */
import { RunbookError } from '../core/errors.js';
import type { LockInfo } from '../journal/lock.js';
import { analyzeRun, type RunState, type StoredRun } from '../journal/read.js';
import { buildReport, renderReportMarkdown } from '../journal/report.js';
import { openStateStore, type StateOptions, type StateStore } from '../journal/store.js';
import type { CommandContext } from './context.js';

export interface RunsOptions extends StateOptions {
  breakLock?: string;
  force?: boolean;
}

export interface RunRow {
  id: string;
  runbook: string;
  version: string | null;
  started: string | null;
  finished: string | null;
  operator: string | null;
  state: RunState;
  lastStep: string | null;
  sessions: number;
  /** What the journal's chain says: intact, intact but for a torn last line (a crash), or altered. */
  journal: 'intact' | 'torn last line' | 'altered';
  /** Why it counts as altered (then state and steps come from the records before the first bad line). */
  problems: string[];
}

function journalCheck(run: StoredRun): Pick<RunRow, 'journal' | 'problems'> {
  const { problems, torn } = run.integrity;
  return { journal: problems.length ? 'altered' : torn !== null ? 'torn last line' : 'intact', problems };
}

/** The journal's state, corrected by the locks: a run without an end is running if its holder lives. */
export function stateOf(run: StoredRun, locks: LockInfo[]): RunState {
  const a = analyzeRun(run);
  if (a.state !== 'unknown' || !a.started) return a.state;
  return locks.some((l) => l.runId === run.runId && !l.stale) ? 'running' : 'unknown';
}

async function withStore<T>(options: StateOptions, ctx: CommandContext, fn: (store: StateStore) => Promise<T>): Promise<T> {
  const store = await openStateStore(options, ctx.env);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export async function runsCommand(options: RunsOptions, ctx: CommandContext): Promise<RunRow[]> {
  return withStore(options, ctx, async (store) => {
    if (options.breakLock) {
      const broken = await store.breakLock(options.breakLock, options.force ?? false);
      if (ctx.json) ctx.print(JSON.stringify({ broken }));
      else
        ctx.print(
          `Broke lock ${broken.id} of run ${broken.runId} (pid ${broken.pid} on ${broken.host}, ${broken.user}, since ${broken.since}).`,
        );
      return [];
    }
    const [runs, locks] = await Promise.all([store.listRuns(), store.locks()]);
    const rows = runs
      .map((run): RunRow => {
        const a = analyzeRun(run);
        return {
          id: run.runId,
          runbook: a.first?.runbook.id ?? run.plan?.runbook.id ?? '?',
          version: a.first?.runbook.version ?? null,
          started: a.first?.time ?? null,
          finished: a.finishedAt,
          operator: a.started?.operator ?? null,
          state: stateOf(run, locks),
          lastStep: a.lastStep,
          sessions: a.sessions,
          ...journalCheck(run),
        };
      })
      .sort((x, y) => String(x.started).localeCompare(String(y.started)));
    if (ctx.json) {
      ctx.print(JSON.stringify({ store: store.where, runs: rows, locks }, null, 2));
      return rows;
    }
    if (!rows.length) ctx.print(`No runs recorded in ${store.where}.`);
    else printTable(ctx, rows);
    for (const r of rows.filter((row) => row.journal === 'altered'))
      ctx.print(ctx.style.red(`Run ${r.id}: its journal was altered: ${r.problems.join('; ')}. It cannot be resumed.`));
    for (const l of locks) {
      ctx.print(
        `${l.stale ? 'Stale lock' : 'Lock'} ${l.id}: run ${l.runId}, pid ${l.pid} on ${l.host} (${l.user}) since ${l.since}${l.stale ? ` — its process is gone; break it with: runbook runs --break-lock ${l.id}` : ''}`,
      );
    }
    return rows;
  });
}

function printTable(ctx: CommandContext, rows: RunRow[]): void {
  const label = (r: RunRow) =>
    (r.state === 'unknown' ? 'unknown (crashed)' : r.state) +
    (r.journal === 'altered' ? ', JOURNAL ALTERED' : r.journal === 'torn last line' ? ', last line torn' : '');
  const table = [
    ['RUN ID', 'RUNBOOK', 'STARTED', 'OPERATOR', 'STATE', 'LAST STEP'],
    ...rows.map((r) => [r.id, r.runbook, r.started ?? '', r.operator ?? '', label(r), r.lastStep ?? '']),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const [i, row] of table.entries()) {
    const line = row
      .map((c, j) => c.padEnd(widths[j]!))
      .join('  ')
      .trimEnd();
    ctx.print(i === 0 ? ctx.style.bold(line) : line);
  }
}

export interface ReportOptions extends StateOptions {
  format?: 'md' | 'json';
}

export async function reportCommand(runId: string, options: ReportOptions, ctx: CommandContext): Promise<void> {
  await withStore(options, ctx, async (store) => {
    const run = await store.readRun(runId);
    if (!run)
      throw new RunbookError('usage', `no run ${runId} in ${store.where}`, {
        hint: `runbook runs${store.option} lists the recorded runs.`,
      });
    const report = buildReport(run, stateOf(run, await store.locks()));
    const format = options.format ?? (ctx.json ? 'json' : 'md');
    const { journal, problems } = journalCheck(run);
    // A report of an altered journal says so first: it covers only the records before the first bad line.
    const warning =
      journal === 'altered'
        ? `> **Warning: this run's journal was altered** (${problems.join('; ')}). This report covers only the records before that point.\n\n`
        : journal === 'torn last line'
          ? `> Note: the journal's last line was cut off when the run died mid-write; it is not part of this report.\n\n`
          : '';
    ctx.stdout.write(
      format === 'json' ? JSON.stringify({ ...report, journal, problems }, null, 2) + '\n' : warning + renderReportMarkdown(report),
    );
  });
}
