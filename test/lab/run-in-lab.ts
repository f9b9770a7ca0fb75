/**
 * Runs a shipped runbook in-process against a lab, as `runbook exec --yes --allow-destructive`
 * would, with a scripted operator: every confirmation is given, each manual step runs the lab
 * action the test supplies (standing in for the person), prompts are pre-answered, and "retry or
 * abort?" is answered abort. Returns everything the test may look at.
 */
import * as path from 'node:path';
import type { CommandContext } from '../../src/commands/context.js';
import { preparePlan } from '../../src/commands/prepare.js';
import { EventBus, type RunEvent } from '../../src/engine/events.js';
import { executePlan, type RunSummary } from '../../src/engine/executor.js';
import { collectSecrets } from '../../src/engine/secrets.js';
import { openConnections } from '../../src/targets/connections.js';
import { createOperatorIO } from '../../src/ui/operator.js';

/** What the operator does at each manual step, by step id. */
export type Manual = Record<string, () => Promise<void> | void>;

export interface LabRun {
  /** Null when the run threw (a failed precondition). */
  summary: RunSummary | null;
  error: Error | null;
  events: RunEvent[];
  /** Manual steps carried out, in order. */
  done: string[];
  /** Manual steps with the instructions the operator was shown. */
  manual: Array<{ stepId: string; instructions: string }>;
  /** Typed confirmations of destructive steps: step id and the expected text. */
  typed: Array<[string, string | null]>;
  /** Messages of the "retry or abort?" questions (answered abort). */
  retries: string[];
  /** The run's id (a resume keeps the id of the run it resumes). */
  runId: string;
}

export interface LabRunOptions {
  inventory: string;
  /** Added to the environment (secrets). */
  env?: Record<string, string>;
  /** Answers to prompt steps, as `--answer id=value`. */
  answers?: Record<string, string>;
  manual?: Manual;
  /**
   * `runbook resume` of an earlier lab run: its completed steps (with their values) are not run
   * again and the preconditions are not checked again; the run goes on from its failed step.
   */
  resumeOf?: LabRun;
  /**
   * Run as without a terminal: manual steps go to the real non-interactive operator (as
   * `--yes --allow-destructive`, with `attested` as `--attest <step>`) instead of the script.
   */
  nonInteractive?: { attested?: string[] };
  /** Shorter limits for some steps (ms by step id), e.g. a 1 h drain wait in a lab test. */
  stepTimeouts?: Record<string, number>;
  /**
   * The runbook process dies (as kill -9) at the first event for which this returns true: the run
   * is stopped at once and nothing after that event is recorded, so a step whose action had already
   * taken effect but whose end was not yet journaled is run again by a resume of this run.
   */
  killAt?: (event: RunEvent) => boolean;
  /**
   * Called synchronously with each event before the run goes on: what it does (e.g. a write with
   * spawnSync) has happened before the next step starts.
   */
  onEvent?: (event: RunEvent) => void;
}

/** The steps an earlier run completed, as `runbook resume` hands them to the executor. */
function completedSteps(run: LabRun): Map<string, { status: 'succeeded' | 'skipped'; value?: string | number | boolean }> {
  const done = new Map<string, { status: 'succeeded' | 'skipped'; value?: string | number | boolean }>();
  for (const e of run.events) {
    if (e.type === 'step-finished' && (e.status === 'succeeded' || e.status === 'skipped'))
      done.set(e.stepId, { status: e.status, ...(e.value !== undefined ? { value: e.value } : {}) });
  }
  return done;
}

export async function runInLab(runbookId: string, options: LabRunOptions): Promise<LabRun> {
  const env = { ...process.env, ...options.env };
  const ctx = {
    json: true,
    runbookDirs: [path.join(process.cwd(), 'src', 'runbooks')],
    env,
    interactive: false,
    print: () => undefined,
    printError: () => undefined,
  } as unknown as CommandContext;
  const answer = Object.entries(options.answers ?? {}).map(([k, v]) => `${k}=${v}`);
  const prepared = await preparePlan(runbookId, { inventory: options.inventory, ...(answer.length ? { answer } : {}) }, ctx);
  for (const step of prepared.plan.steps) step.timeoutMs = options.stepTimeouts?.[step.id] ?? step.timeoutMs;
  const secrets = await collectSecrets(prepared.plan, env, null);
  const unattended = options.nonInteractive
    ? createOperatorIO({ interactive: false, yes: true, allowDestructive: true, attested: options.nonInteractive.attested ?? [] })
    : null;
  const runId = options.resumeOf?.runId ?? `lab-${Date.now()}`;
  const result: LabRun = { summary: null, error: null, events: [], done: [], manual: [], typed: [], retries: [], runId };
  const bus = new EventBus((t) => secrets.redact(t));
  const stop = new AbortController();
  const kill = new AbortController();
  bus.on((e) => {
    if (kill.signal.aborted) return;
    result.events.push(e);
    options.onEvent?.(e);
    if (options.killAt?.(e)) {
      kill.abort();
      stop.abort();
    }
  });
  const connections = openConnections({ inventory: prepared.inventory!, secrets, acceptNewHostKeys: false });
  try {
    result.summary = await executePlan({
      plan: prepared.plan,
      runId,
      operator: 'lab-operator',
      connections,
      secrets,
      bus,
      io: {
        async confirmDone(stepId, instructions, how) {
          if (unattended) return unattended.confirmDone(stepId, instructions, how);
          result.done.push(stepId);
          result.manual.push({ stepId, instructions });
          await options.manual?.[stepId]?.();
          return true;
        },
        ask: () => Promise.reject(new Error('unexpected prompt: the test pre-answers every prompt')),
        retryOrAbort: async (message) => {
          result.retries.push(message);
          return 'abort';
        },
      },
      confirmer: {
        confirm: async (step, expected) => {
          if (step.destructive) result.typed.push([step.id, expected]);
          return { confirmed: true, by: 'flag' as const };
        },
      },
      stopSignal: stop.signal,
      killSignal: kill.signal,
      mode: 'exec',
      runPreconditions: !options.resumeOf,
      ...(options.resumeOf ? { completed: completedSteps(options.resumeOf) } : {}),
    });
  } catch (error) {
    result.error = error as Error;
  } finally {
    await connections.closeAll();
  }
  return result;
}

/** A run that must not throw (no precondition failing): its summary, events and manual steps. */
export function completed(r: LabRun): { summary: RunSummary; events: RunEvent[]; done: string[] } {
  if (r.error) throw r.error;
  return { summary: r.summary!, events: r.events, done: r.done };
}

/** A step's status in the run summary. */
export const statusOf = (summary: RunSummary | null, id: string) => summary?.steps.find((s) => s.id === id)?.status;

/** All a step printed (every target or one, both streams or one), in order. */
export function outputOf(events: RunEvent[], stepId: string, target?: string, stream?: 'stdout' | 'stderr'): string {
  return events
    .filter(
      (e): e is Extract<RunEvent, { type: 'output' }> =>
        e.type === 'output' &&
        e.stepId === stepId &&
        (target === undefined || e.target === target) &&
        (stream === undefined || e.stream === stream),
    )
    .map((e) => e.text)
    .join('');
}
