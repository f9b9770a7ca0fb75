/**
 * Runs a plan: preconditions first (all of them, read-only), then each step: condition,
 * confirmation, fan-out over its targets with retries, verification, failure policy, rollback.
 * Every fact goes out as an event; listeners render it and journal it.
 */
import { setMaxListeners } from 'node:events';
import { EXIT, RunbookError, type ExitCode } from '../core/errors.js';
import { evaluateAtRunTime, type StepOutcome } from '../planner/conditions.js';
import { notSelected } from '../planner/selection.js';
import type { Plan, PlannedStep } from '../planner/plan-types.js';
import { bindDeferred, materializeParts, type RuntimeValues } from '../core/template.js';
import { getStepKind } from '../steps/registry.js';
import type { ActionInstance, ActionResult, DetachedRecord, OperatorIO, PlannedAction, RunContext, StepKind } from '../steps/types.js';
import type { Connections } from '../targets/types.js';
import type { EventBus, SkipCause, StepStatus } from './events.js';
import { onlyResult, spread, summarizeFanOut, type FanOutResult } from './fan-out.js';
import { preflight, type UnattendedFlags } from './preflight.js';
import type { SecretStore } from './secrets.js';

export interface Confirmer {
  /** Asks before a step that changes something; resolves false when the operator declines. */
  confirm(step: PlannedStep, expected: string | null): Promise<{ confirmed: boolean; by: 'operator' | 'flag' }>;
}

export interface ExecuteOptions {
  plan: Plan;
  runId: string;
  operator: string;
  connections: Connections;
  secrets: SecretStore;
  bus: EventBus;
  io: OperatorIO;
  confirmer: Confirmer;
  /** Stops new work (first Ctrl-C). */
  stopSignal: AbortSignal;
  /** Cancels running commands (second Ctrl-C or after the grace period). */
  killSignal: AbortSignal;
  mode: 'exec' | 'check';
  runPreconditions: boolean;
  /**
   * Without a terminal: what --yes and --allow-destructive answer. Every confirmation, manual
   * and prompt step the run may reach is checked against them before anything runs.
   */
  unattended?: UnattendedFlags | null;
  /**
   * Resume: for a step interrupted in an earlier session, the targets on which it had already
   * succeeded. It runs again on the other targets only.
   */
  doneTargets?: Map<string, ReadonlySet<string>>;
  /** Steps already completed (resume), with their outcomes. */
  completed?: Map<string, StepOutcome & { stdout?: string; exitCode?: number | null }>;
  /** Only steps from this id on (earlier ones are treated as done by the operator). */
  from?: string | null;
  only?: string | null;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Detached steps: a terminal to ask on, and the programs to re-attach to (resume, attach). */
  detached?: DetachedOptions;
}

export interface DetachedOptions {
  interactive: boolean;
  /** By step id, then target (null for the operator's machine): the program already running. */
  reattach?: Map<string, Map<string | null, DetachedRecord>>;
  /** The operator confirmed killing the re-attached programs. */
  kill?: boolean;
  /** End the session once this step is judged (runbook attach). */
  stopAfter?: string;
}

export interface RunSummary {
  status: 'succeeded' | 'failed' | 'aborted' | 'interrupted';
  exitCode: number;
  message: string;
  steps: Array<{ id: string; status: StepStatus | 'not run'; message: string; durationMs: number }>;
}

/** Sleeps until `ms` pass or the signal aborts; the listener goes either way (no leak across many waits). */
const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

export async function executePlan(options: ExecuteOptions): Promise<RunSummary> {
  return new Execution(options).run();
}

/**
 * Runs a step's verification alone, for resume: the step started in an earlier session and
 * never recorded an end, so its verification decides whether it took effect. Null without one.
 */
export async function verifyStep(options: ExecuteOptions, stepId: string): Promise<VerifyOutcome | null> {
  const step = options.plan.steps.find((s) => s.id === stepId);
  return step?.verify ? new Execution(options).verifyOnly(step.verify, step.id) : null;
}

export interface VerifyOutcome {
  /** Passed only when it passed on every target. */
  result: ActionResult;
  /** The targets on which it passed, when it checks them one by one. */
  passedOn: string[];
}

type Outcome = StepOutcome & { stdout?: string; exitCode?: number | null };

/** How a step that stops the run ends it. */
interface RunEnd {
  status: RunSummary['status'];
  exitCode: ExitCode;
  message: string;
}

type Executed = 'succeeded' | 'declined' | 'left-running' | { status: 'failed' | 'interrupted' | 'unknown'; fan: FanOutResult };

class Execution {
  private readonly outcomes = new Map<string, Outcome>();
  private readonly summary: RunSummary['steps'] = [];
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly o: ExecuteOptions) {
    for (const [id, outcome] of o.completed ?? []) this.outcomes.set(id, outcome);
    this.sleep = o.sleep ?? defaultSleep;
    // Every command running at once listens to these (a fan-out over 50 hosts, a dozen
    // preconditions) and stops listening when it ends: many listeners here are no leak.
    setMaxListeners(0, o.stopSignal, o.killSignal);
  }

  private values(): RuntimeValues {
    return {
      secret: (name) => this.o.secrets.require(name.includes('.') ? name : `params.${name}`),
      ref: (ref) => {
        const [head, id, field] = ref.split('.');
        if (head === 'run') return id === 'id' ? this.o.runId : this.o.operator;
        const outcome = id === undefined ? undefined : this.outcomes.get(id);
        if (!outcome)
          throw new RunbookError('step-failed', `{{ ${ref} }}: step "${id}" has not run`, {
            hint: 'The runbook uses the result of a step that was skipped or not reached.',
          });
        const v =
          field === 'value'
            ? outcome.value
            : field === 'status'
              ? outcome.status
              : field === 'stdout'
                ? outcome.stdout?.trim()
                : outcome.exitCode;
        if (v === undefined || v === null)
          throw new RunbookError('step-failed', `{{ ${ref} }} has no value`, { hint: `Step "${id}" did not produce a ${field}.` });
        return v;
      },
    };
  }

  async verifyOnly(verify: PlannedAction, stepId: string): Promise<VerifyOutcome> {
    const each = await this.runInstances(verify, stepId, 'verify', this.o.killSignal);
    return {
      result: aggregate(each.map((e) => e.result)),
      passedOn: each.flatMap((e) => (e.result.status === 'succeeded' && e.target !== null ? [e.target] : [])),
    };
  }

  async run(): Promise<RunSummary> {
    try {
      if (this.o.mode === 'exec') this.preflight();
      if (this.o.runPreconditions) await this.preconditions();
      if (this.o.mode === 'check') return this.finish('succeeded', EXIT.ok, 'all preconditions passed');
      for (const step of this.o.plan.steps) {
        if (this.o.stopSignal.aborted) return this.finish('interrupted', EXIT.interrupted, `interrupted before step ${step.id}`);
        const end = await this.step(step);
        if (end) return this.finish(end.status, end.exitCode, end.message);
        if (step.id === this.o.detached?.stopAfter)
          return this.finish(
            'interrupted',
            EXIT.ok,
            `step ${step.id} was re-attached and judged; go on with runbook resume ${this.o.runId}`,
          );
      }
      // Steps under `onFailure: continue` that failed, in this session or an earlier one.
      const failed = this.summary.filter((s) => s.status === 'failed').map((s) => s.id);
      if (failed.length)
        return this.finish(
          'failed',
          EXIT.failed,
          `every step ran, but ${failed.length} failed and the run went on past ${failed.length === 1 ? 'it' : 'them'} (onFailure: continue): ${failed.join(', ')}`,
        );
      return this.finish('succeeded', EXIT.ok, 'all steps completed');
    } catch (error) {
      if (error instanceof RunbookError) {
        const status = error.code === 'aborted' ? 'aborted' : error.code === 'interrupted' ? 'interrupted' : 'failed';
        this.finish(status, error.exitCode, error.message);
        throw error;
      }
      throw error;
    }
  }

  private finish(status: RunSummary['status'], exitCode: number, message: string): RunSummary {
    this.o.bus.emit({ type: 'run-finished', status, message, exitCode });
    return { status, exitCode, message, steps: this.summary };
  }

  /** Stops before anything runs when the run would need an answer nobody gave. */
  private preflight(): void {
    const { problems, answered } = preflight({
      plan: this.preflightPlan(),
      selection: { from: this.o.from ?? null, only: this.o.only ?? null },
      completed: new Set(this.o.completed?.keys() ?? []),
      unattended: this.o.unattended ?? null,
    });
    for (const [id, outcome] of answered) this.outcomes.set(id, outcome);
    if (problems.length)
      throw new RunbookError(
        'aborted',
        `the run needs ${problems.length === 1 ? 'an answer' : `${problems.length} answers`} it does not have; nothing was run:\n` +
          problems.map((p) => `  - ${p}`).join('\n'),
        { hint: 'Give the flags or answers named above (or run on a terminal), then run again.' },
      );
  }

  /** The plan as the pre-flight sees it: a re-attached step asks nothing, and attach stops after its step. */
  private preflightPlan(): Plan {
    const d = this.o.detached;
    if (!d?.reattach && !d?.stopAfter) return this.o.plan;
    const cut = d.stopAfter ? this.o.plan.steps.findIndex((s) => s.id === d.stopAfter) : -1;
    const steps = (cut >= 0 ? this.o.plan.steps.slice(0, cut + 1) : this.o.plan.steps).map((s) =>
      d.reattach?.has(s.id) ? { ...s, confirm: { ...s.confirm, mode: 'none' as const } } : s,
    );
    return { ...this.o.plan, steps };
  }

  private async preconditions(): Promise<void> {
    const checks = this.o.plan.preconditions;
    if (!checks.length) return;
    this.o.bus.emit({ type: 'preconditions-started', count: checks.length });
    const results = await Promise.all(checks.map((c) => this.runInstances(c, null, 'precondition', this.o.killSignal)));
    const failed = results.filter((each) => each.some((e) => e.result.status === 'failed')).length;
    this.o.bus.emit({ type: 'preconditions-finished', failed });
    const unreachable = [...new Set(results.flat().flatMap((e) => (e.result.connection ? [e.target ?? 'the operator machine'] : [])))];
    if (unreachable.length)
      throw new RunbookError(
        'connection',
        `cannot check the preconditions: no connection to ${unreachable.join(', ')}; nothing was changed`,
        {
          hint: 'The messages above say why. Check that the hosts are up and reachable, then run again.',
        },
      );
    if (failed) {
      throw new RunbookError('precondition', `${failed} of ${checks.length} precondition(s) failed; nothing was changed`, {
        hint: 'Fix what the failing checks report, then run again (`runbook check` re-runs only the preconditions).',
      });
    }
  }

  /** Runs an action (check) on all its instances; emits one check-finished per instance. */
  private async runAction(
    action: PlannedAction,
    stepId: string | null,
    phase: 'precondition' | 'verify' | 'check',
    signal: AbortSignal,
  ): Promise<ActionResult> {
    return aggregate((await this.runInstances(action, stepId, phase, signal)).map((e) => e.result));
  }

  /** A read-only action on all its targets at once, each result recorded as a check. */
  private async runInstances(
    action: PlannedAction,
    stepId: string | null,
    phase: 'precondition' | 'verify' | 'check',
    signal: AbortSignal,
  ): Promise<Array<{ target: string | null; result: ActionResult }>> {
    const kind = getStepKind(action.kind);
    return Promise.all(
      action.instances.map(async (instance) => {
        const result = await this.safeRun(() =>
          kind.run(instance.data, this.context(stepId ?? phase, instance.target, action.timeoutMs, signal, true)),
        );
        this.o.bus.emit({
          type: 'check-finished',
          phase,
          stepId,
          title: action.title,
          target: instance.target,
          status: result.status,
          message: result.message,
        });
        return { target: instance.target, result };
      }),
    );
  }

  private async safeRun(fn: () => Promise<ActionResult>): Promise<ActionResult> {
    const started = Date.now();
    try {
      return await fn();
    } catch (error) {
      // A host key problem or an operator's "no" ends the run; anything else fails this target.
      if (error instanceof RunbookError && (error.code === 'host-key' || error.code === 'aborted')) throw error;
      return {
        status: 'failed',
        message: error instanceof Error ? error.message : String(error),
        durationMs: Date.now() - started,
        ...(error instanceof RunbookError && error.code === 'connection' ? { connection: 'unreachable' as const } : {}),
      };
    }
  }

  private context(stepId: string, target: string | null, timeoutMs: number, signal: AbortSignal, quiet: boolean): RunContext {
    const detached = this.o.detached;
    return {
      ...(quiet
        ? {}
        : {
            detached: {
              runId: this.o.runId,
              stopSignal: this.o.stopSignal,
              interactive: detached?.interactive ?? false,
              emit: (event) => this.o.bus.emit(event),
              existing: detached?.reattach?.get(stepId)?.get(target),
              kill: detached?.kill ?? false,
            },
          }),
      stepId,
      target,
      connections: this.o.connections,
      values: this.values(),
      timeoutMs,
      signal,
      onOutput: (stream, text) => {
        if (!quiet) this.o.bus.emit({ type: 'output', stepId, target, stream, text });
      },
      operator: this.o.io,
      presetAnswer: this.o.plan.answers[stepId],
      runCheck: (check) => this.runAction(check, stepId, 'check', signal),
      sleep: (ms) => this.sleep(ms, this.o.stopSignal),
    };
  }

  private skip(step: PlannedStep, cause: SkipCause, reason: string): null {
    this.o.bus.emit({ type: 'step-skipped', stepId: step.id, title: step.title, cause, reason });
    // A left-out step keeps the outcome the operator answered for it (preflight).
    if (!this.outcomes.has(step.id)) this.outcomes.set(step.id, { status: 'skipped' });
    this.summary.push({ id: step.id, status: 'skipped', message: reason, durationMs: 0 });
    return null;
  }

  /** Runs one step by its condition and failure policy; returns how the run ends, or null to go on. */
  private async step(step: PlannedStep): Promise<RunEnd | null> {
    const done = this.o.completed?.get(step.id);
    if (done) {
      this.summary.push({ id: step.id, status: done.status, message: 'completed in an earlier session', durationMs: 0 });
      return null;
    }
    const leftOut = notSelected(this.o.plan, step.id, { from: this.o.from ?? null, only: this.o.only ?? null });
    if (leftOut) return this.skip(step, 'not-selected', leftOut);
    const conditionFalse = this.conditionFalse(step);
    if (conditionFalse) return this.skip(step, 'condition', conditionFalse);
    const outcome = await this.execute(step);
    if (outcome === 'succeeded') return null;
    if (outcome === 'declined') return { status: 'aborted', exitCode: EXIT.aborted, message: `the operator declined step ${step.id}` };
    if (outcome === 'left-running')
      return {
        status: 'interrupted',
        exitCode: EXIT.detached,
        message: `step ${step.id} still runs detached; re-attach with runbook attach ${this.o.runId} (or runbook resume ${this.o.runId})`,
      };
    const { status, fan } = outcome;
    if (status === 'unknown')
      return {
        status: 'failed',
        exitCode: EXIT.connection,
        message: `the connection to ${fan.lost.join(', ')} was lost during step ${step.id}: its outcome there is unknown (resume settles it)`,
      };
    // A stop asked for is honoured before any failure policy: no new work, rollback included.
    if (status === 'interrupted' || this.o.stopSignal.aborted)
      return {
        status: 'interrupted',
        exitCode: EXIT.interrupted,
        message: `interrupted during step ${step.id}${fan.interrupted.length ? ` (not started on ${fan.interrupted.join(', ')})` : ''}${status === 'failed' ? `; it failed: ${fan.result.message}` : ''}`,
      };
    if (step.onFailure.mode === 'continue') return null;
    const end: RunEnd = {
      status: 'failed',
      exitCode: fan.unreachable.length ? EXIT.connection : EXIT.failed,
      message: `step ${step.id} failed${fan.unreachable.length ? ` (no connection to ${fan.unreachable.join(', ')})` : ''}`,
    };
    if (step.onFailure.mode === 'rollback') await this.rollBack(step);
    return end;
  }

  /** Why the step's `when` keeps it from running (decided when planning or now), or null when it holds. */
  private conditionFalse(step: PlannedStep): string | null {
    const { decided, runtime, text } = step.condition;
    const holds = decided !== 'skip' && (!runtime || evaluateAtRunTime(runtime, (id) => this.outcomes.get(id)));
    return holds ? null : `condition false: ${text}`;
  }

  /**
   * Runs the step's rollback steps in order until one does not succeed; recorded only if one
   * starts. A rollback step whose `when` is false is skipped (recorded) and the next one runs.
   */
  private async rollBack(step: PlannedStep): Promise<void> {
    const steps = step.onFailure.rollback.flatMap((id) => this.o.plan.rollback.filter((r) => r.id === id));
    let started = false;
    for (const rollbackStep of steps) {
      if (this.o.stopSignal.aborted) break;
      if (!started) this.o.bus.emit({ type: 'rollback-started', stepId: step.id, rollback: step.onFailure.rollback });
      started = true;
      const conditionFalse = this.conditionFalse(rollbackStep);
      if (conditionFalse) this.skip(rollbackStep, 'condition', conditionFalse);
      else if ((await this.execute(rollbackStep)) !== 'succeeded') break;
    }
  }

  /** Confirms, runs (with retries and verification) and records one step. */
  private async execute(step: PlannedStep): Promise<Executed> {
    if (!(await this.confirmed(step))) {
      this.summary.push({ id: step.id, status: 'not run', message: 'declined', durationMs: 0 });
      return 'declined';
    }
    const started = Date.now();
    const { fan, last } = await this.attempts(step);
    const durationMs = Date.now() - started;
    if (last.leftRunning) {
      // Not judged yet: no end in the journal, so that resume and attach find it running.
      this.summary.push({ id: step.id, status: 'not run', message: last.message, durationMs });
      return 'left-running';
    }
    const status = stepStatus(last, fan, this.o.stopSignal.aborted);
    this.record(step, status, last, durationMs);
    return status === 'succeeded' ? status : { status, fan: { ...fan, result: last } };
  }

  /** Asks for the step's confirmation (recorded); true when it needs none or was confirmed. */
  private async confirmed(step: PlannedStep): Promise<boolean> {
    // Re-attaching to a program the operator already confirmed is no new change.
    if (step.confirm.mode === 'none' || this.o.detached?.reattach?.has(step.id)) return true;
    const expected = step.confirm.expected ? materializeParts(step.confirm.expected, this.values()) : null;
    const answer = await this.o.confirmer.confirm(step, expected);
    this.o.bus.emit({
      type: 'confirmation',
      stepId: step.id,
      mode: step.confirm.mode,
      answer: answer.confirmed ? 'confirmed' : 'declined',
      by: answer.by,
    });
    return answer.confirmed;
  }

  /**
   * Runs the step until it succeeds (verification included) or its retries are spent; `last` is
   * the result of the last attempt, a failed verification counting as a failure.
   */
  private async attempts(step: PlannedStep): Promise<{ fan: FanOutResult; last: ActionResult }> {
    const kind = getStepKind(step.kind);
    const attempts = (step.retries?.count ?? 0) + 1;
    let fan = onlyResult({ status: 'failed', message: 'not run', durationMs: 0 });
    let last = fan.result;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      this.o.bus.emit({
        type: 'step-started',
        stepId: step.id,
        title: step.title,
        kind: step.kind,
        phase: step.phase,
        attempt,
        targets: step.action.instances.map((i) => i.target ?? i.where),
        commands: step.action.instances.map((i) => ({ target: i.target, lines: kind.describe(bindDeferred(i.data, this.values())) })),
      });
      fan = await this.fanOut(step);
      last = fan.result;
      if (last.leftRunning) break;
      if (last.status === 'succeeded' && step.verify) {
        const verified = await this.runAction(step.verify, step.id, 'verify', this.o.killSignal);
        if (verified.status === 'failed') last = { ...last, status: 'failed', message: `verification failed: ${verified.message}` };
      }
      // A lost connection stays lost: retrying cannot reach the host, and its outcome is unknown.
      if (last.status === 'succeeded' || last.cancelled || fan.lost.length || this.o.stopSignal.aborted || attempt === attempts) break;
      await this.sleep(step.retries?.delayMs ?? 0, this.o.stopSignal);
    }
    return { fan, last };
  }

  /** Keeps the step's outcome for later conditions and templates, journals its end, sums it up. */
  private record(step: PlannedStep, status: StepStatus, last: ActionResult, durationMs: number): void {
    this.outcomes.set(step.id, {
      status: last.status,
      value: last.value,
      ...(last.stdout !== undefined ? { stdout: last.stdout } : {}),
      exitCode: last.exitCode ?? null,
    });
    this.o.bus.emit({
      type: 'step-finished',
      stepId: step.id,
      status,
      message: last.message,
      durationMs,
      ...(last.value !== undefined ? { value: last.value } : {}),
      ...(last.stdout !== undefined ? { stdout: last.stdout.slice(0, 4000) } : {}),
      ...(last.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
    });
    this.summary.push({ id: step.id, status, message: last.message, durationMs });
  }

  /** Runs the step on its targets by its fan-out policy; the result is the first failure or a success. */
  private async fanOut(step: PlannedStep): Promise<FanOutResult> {
    const kind = getStepKind(step.kind);
    const instances = this.instancesToRun(step);
    if (instances.length === 0)
      return onlyResult({ status: 'succeeded', message: 'already succeeded on every target in an earlier session', durationMs: 0 });
    const results: Array<ActionResult | undefined> = new Array(instances.length);
    let failures = 0;
    const canStart = () => failures <= step.fanOut.maxFailures && !this.o.stopSignal.aborted;
    await spread(instances.length, step.fanOut, canStart, async (index) => {
      const result = await this.runInstance(step, kind, instances[index]!);
      results[index] = result;
      if (result.status === 'failed') failures++;
    });
    const targets = instances.map((i) => i.target);
    return summarizeFanOut(targets, results, step.fanOut.maxFailures, this.o.stopSignal.aborted);
  }

  /** Runs the step on one target, with its start and end recorded. */
  private async runInstance(step: PlannedStep, kind: StepKind, instance: ActionInstance): Promise<ActionResult> {
    this.o.bus.emit({ type: 'instance-started', stepId: step.id, target: instance.target });
    const result = await this.safeRun(() =>
      kind.run(instance.data, this.context(step.id, instance.target, step.timeoutMs, this.o.killSignal, false)),
    );
    // A program still running detached has no end yet: its target stays open for resume.
    if (result.leftRunning) return result;
    this.o.bus.emit({
      type: 'instance-finished',
      stepId: step.id,
      target: instance.target,
      status: result.status,
      message: result.message,
      durationMs: result.durationMs,
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
      ...(result.value !== undefined ? { value: result.value } : {}),
      ...(result.answers ? { answers: result.answers } : {}),
      ...(result.timedOut ? { timedOut: true } : {}),
      ...(result.cancelled ? { cancelled: true } : {}),
    });
    return result;
  }

  /** The step's instances, less the targets on which an interrupted session already ran it. */
  private instancesToRun(step: PlannedStep): PlannedStep['action']['instances'] {
    const done = this.o.doneTargets?.get(step.id);
    if (!done?.size) return step.action.instances;
    const skipped = step.action.instances.filter((i) => i.target !== null && done.has(i.target)).map((i) => i.target);
    if (skipped.length)
      this.o.bus.emit({
        type: 'output',
        stepId: step.id,
        target: null,
        stream: 'stdout',
        text: `[runbook] not run again on ${skipped.join(', ')}: it succeeded there in an earlier session\n`,
      });
    return step.action.instances.filter((i) => i.target === null || !done.has(i.target));
  }
}

/**
 * How a step that ran ended: unknown where a connection was lost, interrupted where a stop left
 * targets unstarted or cancelled, else as its last attempt.
 */
function stepStatus(last: ActionResult, fan: FanOutResult, stopRequested: boolean): Exclude<StepStatus, 'skipped'> {
  if (last.status === 'succeeded') return 'succeeded';
  if (fan.lost.length) return 'unknown';
  if (fan.interrupted.length || (last.cancelled && stopRequested)) return 'interrupted';
  return 'failed';
}

/** The first failure, else the first result: a check passes only where it passed on every target. */
function aggregate(results: ActionResult[]): ActionResult {
  return results.find((r) => r.status === 'failed') ?? results[0] ?? { status: 'succeeded', message: 'no targets', durationMs: 0 };
}
