/**
 * The record of a run for a change ticket, built from its journal alone: who, when, where,
 * parameters, and every step with its commands, output excerpt, verification, answers,
 * durations and outcome. Everything in it comes from the (already redacted) journal.
 */
import type { RunEvent } from '../engine/events.js';
import { collapseIdentical } from '../core/collapse.js';
import type { JournalRecord } from './journal.js';
import { analyzeRun, type RunState, type StoredRun } from './read.js';

const EXCERPT_CHARS = 2000;

export interface ReportStep {
  id: string;
  title: string;
  kind: string | null;
  phase: 'main' | 'rollback';
  outcome: 'succeeded' | 'failed' | 'skipped' | 'interrupted' | 'unknown' | 'marked done' | 'refused' | 'not run';
  message: string;
  started: string | null;
  finished: string | null;
  durationMs: number | null;
  attempts: number;
  targets: string[];
  /**
   * What ran, identical per-host commands collapsed: one entry per distinct text, with every
   * target that ran it (empty for a step that runs on this machine).
   */
  commands: Array<{ targets: string[]; lines: string[] }>;
  exitCode: number | null;
  value: unknown;
  output: Array<{ target: string | null; stream: 'stdout' | 'stderr'; excerpt: string; truncated: boolean }>;
  verification: Array<{ target: string | null; status: string; message: string }>;
  checks: Array<{ target: string | null; status: string; message: string }>;
  confirmation: { mode: string; answer: string; by: string } | null;
  answers: Array<{ target: string | null; prompt: string; answer: string }>;
  /** A detached step's program on each target, as the journal last saw it. */
  detached: DetachedProgram[];
  notes: string[];
}

export interface DetachedProgram {
  target: string | null;
  /** `left running`: this session stopped following it (Ctrl-C, timeout, connection, prompt). */
  state: 'running' | 'left running' | 'finished' | 'killed';
  pid: number;
  /** The program's log on its target. */
  log: string;
  /** Why it was left running, or how it was killed. */
  message: string | null;
}

export interface RunReport {
  /** 2: `steps[].commands` collapsed ({targets, lines}); 1 had one {target, lines} per target. */
  reportVersion: 2;
  runId: string;
  runbook: { id: string; title: string | null; version: string; hash: string; file: string } | null;
  inventory: { file: string; hash: string } | null;
  state: RunState;
  started: string | null;
  finished: string | null;
  sessions: Array<{
    mode: string;
    operator: string;
    started: string;
    selection: { from: string | null; only: string | null; forced: boolean };
    finished: string | null;
    status: string | null;
    message: string | null;
  }>;
  parameters: Array<{ name: string; value: unknown }>;
  targets: Record<string, string[]>;
  /** --limit of the run: the only hosts acted on. */
  limit: { requested: string[]; hosts: string[] } | null;
  preconditions: Array<{ title: string; target: string | null; status: string; message: string }>;
  steps: ReportStep[];
  notes: string[];
}

/** A journal record of one type. */
type RecordOf<T extends JournalRecord['type']> = Extract<JournalRecord, { type: T }>;

/** What the reducers fill in while the journal is read, record after record. */
interface ReportDraft {
  sessions: RunReport['sessions'];
  preconditions: RunReport['preconditions'];
  notes: string[];
  /** The step's entry, created (from the plan when it has the step) on first mention. */
  stepOf(id: string): ReportStep;
}

/**
 * One reducer per journal record type. The map is typed over every type, so a new record type
 * is a compile error here until someone decides what the report says about it.
 */
const reducers: { [T in JournalRecord['type']]: (draft: ReportDraft, r: RecordOf<T>) => void } = {
  'run-started': (d, r) => {
    d.sessions.push({
      mode: r.mode,
      operator: r.operator,
      started: r.time,
      selection: r.selection,
      finished: null,
      status: null,
      message: null,
    });
  },
  'run-finished': (d, r) => {
    const s = d.sessions.at(-1);
    if (s) Object.assign(s, { finished: r.time, status: r.status, message: r.message });
  },
  'check-finished': (d, r) => {
    const result = { target: r.target, status: r.status, message: r.message };
    if (r.phase === 'precondition') d.preconditions.push({ title: r.title, ...result });
    else if (r.stepId) (r.phase === 'verify' ? d.stepOf(r.stepId).verification : d.stepOf(r.stepId).checks).push(result);
  },
  confirmation: (d, r) => {
    const s = d.stepOf(r.stepId);
    s.confirmation = { mode: r.mode, answer: r.answer, by: r.by };
    if (r.answer === 'declined') Object.assign(s, { outcome: 'refused', message: 'refused by the operator: not run' });
  },
  'step-started': (d, r) => {
    const s = d.stepOf(r.stepId);
    s.attempts = Math.max(s.attempts, r.attempt);
    s.started ??= r.time;
    s.targets = r.targets;
    s.commands = collapseCommands(r.commands);
    s.outcome = 'unknown';
    s.message = 'started, no recorded end';
  },
  output: (d, r) => appendOutput(d.stepOf(r.stepId), r),
  'instance-finished': (d, r) => {
    for (const x of r.answers ?? []) d.stepOf(r.stepId).answers.push({ target: r.target, ...x });
    setDetached(d, r, 'finished', null, 'running');
  },
  'step-skipped': (d, r) => {
    Object.assign(d.stepOf(r.stepId), { outcome: 'skipped', message: r.reason });
  },
  'step-finished': (d, r) => {
    Object.assign(d.stepOf(r.stepId), {
      outcome: r.status,
      message: r.message,
      finished: r.time,
      durationMs: r.durationMs,
      exitCode: r.exitCode ?? null,
      value: r.value ?? null,
    });
  },
  'rollback-started': (d, r) => {
    d.notes.push(`step ${r.stepId} failed; rollback: ${r.rollback.join(', ')}`);
  },
  'resume-forced': (d, r) => {
    d.notes.push(`resumed with --force although ${r.changed.join(' and ')} changed (${r.time})`);
  },
  'lock-taken-over': (d, r) => {
    d.notes.push(`took over the stale lock of run ${r.lock.runId} (pid ${r.lock.pid} on ${r.lock.host} was gone) (${r.time})`);
  },
  'unknown-outcome': (d, r) => {
    const s = d.stepOf(r.stepId);
    s.notes.push(`outcome unknown after an interruption: ${r.decision} (decided by ${r.by}: ${r.message})`);
    if (r.decision === 'done')
      Object.assign(s, { outcome: r.by === 'verification' ? 'succeeded' : 'marked done', message: r.message, finished: r.time });
  },
  'interrupt-requested': (d, r) => {
    d.notes.push(`${r.message} (${r.time})`);
  },
  'detached-started': (d, r) => {
    const programs = d.stepOf(r.stepId).detached;
    const entry: DetachedProgram = { target: r.target, state: 'running', pid: r.pid, log: `${r.dir}/log`, message: null };
    programs.splice(0, programs.length, ...programs.filter((p) => p.target !== r.target), entry);
  },
  'detached-left': (d, r) => setDetached(d, r, 'left running', r.message),
  'detached-reattached': (d, r) => setDetached(d, r, 'running', null),
  'detached-killed': (d, r) => setDetached(d, r, 'killed', r.message),
  // Nothing in the report: bookkeeping of the journal and of how far a detached log was read.
  'journal-started': ignore,
  'preconditions-started': ignore,
  'preconditions-finished': ignore,
  'instance-started': ignore,
  'torn-line-dropped': ignore,
  'detached-progress': ignore,
};

function ignore(): void {}

/** The new state of a step's detached program on a target (only from `from` when given). */
function setDetached(
  d: ReportDraft,
  r: { stepId: string; target: string | null },
  state: DetachedProgram['state'],
  message: string | null,
  from?: DetachedProgram['state'],
): void {
  const program = d.stepOf(r.stepId).detached.find((p) => p.target === r.target);
  if (program && (from === undefined || program.state === from)) Object.assign(program, { state, message });
}

/** Hands a record to the reducer of its type. */
function reduce<T extends JournalRecord['type']>(draft: ReportDraft, r: RecordOf<T>): void {
  reducers[r.type](draft, r);
}

/** A step of the report before anything happened to it: its plan entry, or just its id. */
function blankStep(run: StoredRun, id: string): ReportStep {
  const planned = run.plan?.steps.find((p) => p.id === id) ?? run.plan?.rollback.find((p) => p.id === id);
  return {
    id,
    title: planned?.title ?? id,
    kind: planned?.kind ?? null,
    phase: planned?.phase ?? 'main',
    outcome: 'not run',
    message: '',
    started: null,
    finished: null,
    durationMs: null,
    attempts: 0,
    targets: [],
    commands: [],
    exitCode: null,
    value: null,
    output: [],
    verification: [],
    checks: [],
    confirmation: null,
    answers: [],
    detached: [],
    notes: [],
  };
}

export function buildReport(run: StoredRun, state: RunState): RunReport {
  const steps = new Map<string, ReportStep>();
  const stepOf = (id: string): ReportStep => {
    let s = steps.get(id);
    if (!s) steps.set(id, (s = blankStep(run, id)));
    return s;
  };
  const draft: ReportDraft = { sessions: [], preconditions: [], notes: [], stepOf };
  for (const step of run.plan?.steps ?? []) stepOf(step.id);
  for (const r of run.records) reduce(draft, r);

  const { first, finishedAt } = analyzeRun(run);
  return {
    reportVersion: 2,
    runId: run.runId,
    runbook: first ? { ...first.runbook, title: run.plan?.runbook.title ?? null } : null,
    inventory: first?.inventory ?? null,
    state,
    started: first?.time ?? null,
    finished: finishedAt,
    sessions: draft.sessions,
    parameters: first?.parameters ?? [],
    targets: Object.fromEntries(
      Object.entries(run.plan?.targets ?? {}).map(([role, t]) => [role, t.entries.map((e) => `${e.name} (${e.where})`)]),
    ),
    limit: run.plan?.limit ?? null,
    preconditions: draft.preconditions,
    steps: [...steps.values()],
    notes: draft.notes,
  };
}

/** Identical per-host commands once, with all their targets, as the dry-run shows them. */
function collapseCommands(commands: Array<{ target: string | null; lines: string[] }>): ReportStep['commands'] {
  return collapseIdentical(commands, (c) => c.lines).map((g) => ({
    targets: g.members.flatMap((m) => (m.target ? [m.target] : [])),
    lines: g.lines,
  }));
}

function appendOutput(step: ReportStep, r: Extract<RunEvent, { type: 'output' }>): void {
  let o = step.output.find((x) => x.target === r.target && x.stream === r.stream);
  if (!o) step.output.push((o = { target: r.target, stream: r.stream, excerpt: '', truncated: false }));
  o.excerpt += r.text;
  if (o.excerpt.length > EXCERPT_CHARS) {
    o.excerpt = o.excerpt.slice(-EXCERPT_CHARS);
    o.truncated = true;
  }
}

const cell = (v: unknown) =>
  String(v ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
const duration = (ms: number | null) => (ms === null ? '' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);
const fence = (text: string) => {
  const ticks = '`'.repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));
  return `${ticks}\n${text.replace(/\n$/, '')}\n${ticks}`;
};

export function renderReportMarkdown(r: RunReport): string {
  const out: string[] = [];
  out.push(`# Run ${r.runId}`, '');
  out.push('| | |', '|---|---|');
  if (r.runbook)
    out.push(
      `| Runbook | ${cell(r.runbook.title ?? r.runbook.id)} (\`${r.runbook.id}\` ${cell(r.runbook.version)}, sha256 ${r.runbook.hash.slice(0, 12)}) |`,
    );
  if (r.inventory) out.push(`| Inventory | ${cell(r.inventory.file)} (sha256 ${r.inventory.hash.slice(0, 12)}) |`);
  if (r.limit) out.push(`| Limited to | ${cell(r.limit.hosts.join(', '))} (--limit ${cell(r.limit.requested.join(','))}) |`);
  out.push(`| Outcome | **${r.state}** |`, `| Started | ${r.started ?? ''} |`, `| Finished | ${r.finished ?? ''} |`);
  const operators = [...new Set(r.sessions.map((s) => s.operator))];
  out.push(`| Operator | ${cell(operators.join(', '))} |`, '');
  out.push('## Sessions', '', '| Mode | Operator | Started | Finished | Status | Selection |', '|---|---|---|---|---|---|');
  for (const s of r.sessions) {
    const sel = [
      s.selection.from ? `--from ${s.selection.from}` : '',
      s.selection.only ? `--only ${s.selection.only}` : '',
      s.selection.forced ? 'forced' : '',
    ]
      .filter(Boolean)
      .join(', ');
    out.push(`| ${s.mode} | ${cell(s.operator)} | ${s.started} | ${s.finished ?? ''} | ${s.status ?? 'no recorded end'} | ${cell(sel)} |`);
  }
  out.push('', '## Where', '');
  for (const [role, entries] of Object.entries(r.targets)) out.push(`- **${role}**: ${entries.join(', ')}`);
  out.push('', '## Parameters', '', '| Name | Value |', '|---|---|');
  for (const p of r.parameters) out.push(`| ${cell(p.name)} | ${cell(p.value)} |`);
  if (r.preconditions.length) {
    out.push('', '## Preconditions', '', '| Check | Target | Result |', '|---|---|---|');
    for (const p of r.preconditions) out.push(`| ${cell(p.title)} | ${cell(p.target ?? '')} | ${p.status}: ${cell(p.message)} |`);
  }
  out.push('', '## Steps');
  for (const s of r.steps) {
    out.push('', `### ${s.id}: ${s.title}`, '', `- Outcome: **${s.outcome}**${s.message ? ` (${s.message})` : ''}`);
    if (s.started)
      out.push(
        `- Started ${s.started}${s.finished ? `, finished ${s.finished}` : ''}${s.durationMs !== null ? `, ${duration(s.durationMs)}` : ''}${s.attempts > 1 ? `, ${s.attempts} attempts` : ''}`,
      );
    if (s.targets.length) out.push(`- Targets: ${s.targets.join(', ')}`);
    if (s.exitCode !== null) out.push(`- Exit code: ${s.exitCode}`);
    if (s.value !== null && s.value !== undefined) out.push(`- Value: \`${cell(s.value)}\``);
    if (s.confirmation) out.push(`- Confirmation (${s.confirmation.mode}): ${s.confirmation.answer} by ${s.confirmation.by}`);
    for (const x of s.answers) out.push(`- Answered${x.target ? ` on ${x.target}` : ''}: "${cell(x.prompt)}" -> ${cell(x.answer)}`);
    for (const v of s.verification) out.push(`- Verification${v.target ? ` on ${v.target}` : ''}: ${v.status}: ${cell(v.message)}`);
    for (const c of s.checks) out.push(`- Check${c.target ? ` on ${c.target}` : ''}: ${c.status}: ${cell(c.message)}`);
    for (const p of s.detached)
      out.push(
        `- Detached program${p.target ? ` on ${p.target}` : ''}: ${p.state}${p.message ? ` (${cell(p.message)})` : ''}, pid ${p.pid}, log \`${p.log}\``,
      );
    for (const n of s.notes) out.push(`- Note: ${n}`);
    if (s.commands.length) {
      out.push('', 'Commands:', '');
      out.push(fence(s.commands.map((c) => (c.targets.length ? `# on ${c.targets.join(', ')}\n` : '') + c.lines.join('\n')).join('\n')));
    }
    for (const o of s.output) {
      if (!o.excerpt.trim()) continue;
      out.push(
        '',
        `Output${o.target ? ` of ${o.target}` : ''} (${o.stream}${o.truncated ? `, last ${EXCERPT_CHARS} characters` : ''}):`,
        '',
        fence(o.excerpt),
      );
    }
  }
  if (r.notes.length) {
    out.push('', '## Notes', '');
    for (const n of r.notes) out.push(`- ${n}`);
  }
  return out.join('\n') + '\n';
}
