/**
 * Reading a journal back: the records of a run, and what they say: its state, the steps that
 * completed (with the values later steps may use), and the step whose outcome is unknown
 * because it started and never recorded an end.
 */
import type { RunEvent } from '../engine/events.js';
import type { Plan, PlannedStep } from '../planner/plan-types.js';
import type { Scalar } from '../core/template.js';
import { checkJournal, type JournalIntegrity } from './chain.js';
import type { JournalRecord } from './journal.js';

export type RunState = 'running' | 'succeeded' | 'failed' | 'aborted' | 'interrupted' | 'unknown';

export interface StoredRun {
  runId: string;
  plan: Plan | null;
  /** The records that check out (up to the first altered line). */
  records: JournalRecord[];
  /** What the chain and the plan digest say about the journal. */
  integrity: JournalIntegrity;
  /** The chain value after the last record that checks out (where appending goes on). */
  chain: string;
}

type Started = Extract<RunEvent, { type: 'run-started' }>;
type StepStarted = Extract<RunEvent, { type: 'step-started' }>;

export interface CompletedStep {
  status: 'succeeded' | 'failed' | 'skipped' | 'interrupted';
  value?: Scalar;
  stdout?: string;
  exitCode?: number | null;
  /** How it came to count as completed. */
  how: 'finished' | 'skipped' | 'marked done' | 'verified';
}

export interface RunAnalysis {
  runId: string;
  started: Started | null;
  /** The first session's start (the original exec). */
  first: Started | null;
  sessions: number;
  /** State from the records alone: a run without an end is `unknown` until a live lock says it runs. */
  state: RunState;
  lastStep: string | null;
  finishedAt: string | null;
  completed: Map<string, CompletedStep>;
  /** The step that started but never recorded an end, in the last session that ran steps. */
  unknown: { step: StepStarted; finishedTargets: string[]; succeededTargets: string[] } | null;
  /**
   * The step the run stopped at because it failed or was interrupted, and the targets on which
   * it had succeeded: resume runs it again on the other targets only.
   */
  stoppedAt: { stepId: string; succeededTargets: string[] } | null;
  /** A rollback ran: the run is over, resume would not make sense. */
  rolledBack: boolean;
  preconditionsPassed: boolean;
}

/**
 * A run as stored: the plan's text and the journal's lines (events.jsonl, or the rows of the
 * shared store joined by newlines), checked against the chain.
 */
export function storedRun(runId: string, planText: string | null, eventsText: string): StoredRun {
  const checked = checkJournal(eventsText.split('\n'), planText, eventsText === '' || eventsText.endsWith('\n'));
  let plan: Plan | null = null;
  try {
    plan = planText === null ? null : (JSON.parse(planText) as Plan);
  } catch {
    plan = null;
  }
  return { runId, plan, records: checked.records, integrity: checked.integrity, chain: checked.chain };
}

export function analyzeRun(run: StoredRun): RunAnalysis {
  const completed = new Map<string, CompletedStep>();
  let started: Started | null = null;
  let first: Started | null = null;
  let sessions = 0;
  let state: RunState = 'unknown';
  let lastStep: string | null = null;
  let finishedAt: string | null = null;
  let open: RunAnalysis['unknown'] = null;
  let rolledBack = false;
  let preconditionsPassed = false;
  // A failed step is only "completed" when the run went on past it (on-failure: continue).
  let failedPending: { id: string; outcome: CompletedStep; succeededTargets: string[] } | null = null;
  const movePastFailure = () => {
    if (failedPending) completed.set(failedPending.id, failedPending.outcome);
    failedPending = null;
  };

  for (const r of run.records) {
    switch (r.type) {
      case 'run-started':
        sessions++;
        started = r;
        first ??= r;
        state = 'unknown';
        finishedAt = null;
        failedPending = null;
        break;
      case 'preconditions-finished':
        if (r.failed === 0) preconditionsPassed = true;
        break;
      case 'step-started': {
        movePastFailure();
        lastStep = r.stepId;
        // A retry keeps what earlier attempts achieved: a target that succeeded stays done.
        const kept: string[] = open?.step.stepId === r.stepId ? open.succeededTargets : [];
        if (r.phase === 'main') open = { step: r, finishedTargets: [], succeededTargets: kept };
        break;
      }
      case 'instance-finished':
        if (open && open.step.stepId === r.stepId && r.target) {
          open.finishedTargets.push(r.target);
          if (r.status === 'succeeded') open.succeededTargets.push(r.target);
        }
        break;
      case 'step-skipped':
        movePastFailure();
        lastStep = r.stepId;
        // Steps left out by --from/--only are left out again on resume; condition skips are facts.
        if (r.cause === 'condition') completed.set(r.stepId, { status: 'skipped', how: 'skipped' });
        break;
      case 'step-finished': {
        if (!open || open.step.stepId !== r.stepId) break; // a rollback step
        // Lost connection: the step stays of unknown outcome, for resume to settle.
        if (r.status === 'unknown') break;
        const succeededTargets = open.succeededTargets;
        open = null;
        const outcome: CompletedStep = {
          status: r.status,
          how: 'finished',
          ...(r.value !== undefined ? { value: r.value } : {}),
          ...(r.stdout !== undefined ? { stdout: r.stdout } : {}),
          ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
        };
        if (r.status === 'failed' || r.status === 'interrupted') failedPending = { id: r.stepId, outcome, succeededTargets };
        else completed.set(r.stepId, outcome);
        break;
      }
      case 'rollback-started':
        rolledBack = true;
        break;
      case 'unknown-outcome':
        if (open && open.step.stepId === r.stepId) open = null;
        if (r.decision === 'done')
          completed.set(r.stepId, { status: 'succeeded', how: r.by === 'verification' ? 'verified' : 'marked done' });
        break;
      case 'run-finished':
        state = r.status;
        finishedAt = r.time;
        break;
      // Listed rather than `default`, so that a new record type is a lint error here until
      // someone decides whether resume must know it.
      case 'journal-started':
      case 'preconditions-started':
      case 'check-finished':
      case 'confirmation':
      case 'instance-started':
      case 'output':
      case 'interrupt-requested':
      case 'resume-forced':
      case 'lock-taken-over':
      case 'torn-line-dropped':
      case 'detached-started':
      case 'detached-progress':
      case 'detached-left':
      case 'detached-reattached':
      case 'detached-killed':
        break;
    }
  }
  return {
    runId: run.runId,
    started,
    first,
    sessions,
    state,
    lastStep,
    finishedAt,
    completed,
    unknown: open,
    stoppedAt: failedPending ? { stepId: failedPending.id, succeededTargets: failedPending.succeededTargets } : null,
    rolledBack,
    preconditionsPassed,
  };
}

/** The planned step with this id (main steps first, then rollback steps). */
export function findStep(plan: Plan, id: string): PlannedStep | undefined {
  return plan.steps.find((s) => s.id === id) ?? plan.rollback.find((s) => s.id === id);
}
