/**
 * Runs a plan: preconditions first (all of them, read-only), then each step: condition,
 * confirmation, fan-out over its targets with retries, verification, failure policy, rollback.
 * Every fact goes out as an event; listeners render it and journal it.
 */
import { setMaxListeners } from 'node:events';
import { EXIT, RunbookError } from '../errors.js';
import { evaluateAtRunTime, type StepOutcome } from '../planner/conditions.js';
import { notSelected } from '../planner/selection.js';
import type { Plan, PlannedStep } from '../planner/plan-types.js';
import { bindDeferred, displayParts, materializeParts, type RuntimeValues, type Scalar } from '../runbook/template.js';
import { getStepKind } from '../steps/registry.js';
import type { ActionResult, OperatorIO, PlannedAction, RunContext } from '../steps/types.js';
import type { Connections } from '../targets/types.js';
import type { EventBus } from './events.js';
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
}

export interface RunSummary {
  status: 'succeeded' | 'failed' | 'aborted' | 'interrupted';
  exitCode: number;
  message: string;
  steps: Array<{ id: string; status: 'succeeded' | 'failed' | 'skipped' | 'not run'; message: string; durationMs: number }>;
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
        return v as Scalar;
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
      if (this.o.runPreconditions) await this.preconditions();
      if (this.o.mode === 'check') return this.finish('succeeded', EXIT.ok, 'all preconditions passed');
      for (const step of this.o.plan.steps) {
        if (this.o.stopSignal.aborted) return this.finish('interrupted', EXIT.interrupted, `interrupted before step ${step.id}`);
        const result = await this.step(step);
        if (result === 'stop') return this.finish('failed', EXIT.failed, `step ${step.id} failed`);
        if (result === 'declined') return this.finish('aborted', EXIT.aborted, `the operator declined step ${step.id}`);
        if (result === 'interrupted') return this.finish('interrupted', EXIT.interrupted, `interrupted during step ${step.id}`);
      }
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

  private async preconditions(): Promise<void> {
    const checks = this.o.plan.preconditions;
    if (!checks.length) return;
    this.o.bus.emit({ type: 'preconditions-started', count: checks.length });
    const results = await Promise.all(checks.map((c) => this.runAction(c, null, 'precondition', this.o.killSignal)));
    const failed = results.filter((r) => r.status === 'failed').length;
    this.o.bus.emit({ type: 'preconditions-finished', failed });
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
      return { status: 'failed', message: error instanceof Error ? error.message : String(error), durationMs: Date.now() - started };
    }
  }

  private context(stepId: string, target: string | null, timeoutMs: number, signal: AbortSignal, quiet: boolean): RunContext {
    return {
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

  private skip(step: PlannedStep, reason: string): 'next' {
    this.o.bus.emit({ type: 'step-skipped', stepId: step.id, title: step.title, reason });
    this.outcomes.set(step.id, { status: 'skipped' });
    this.summary.push({ id: step.id, status: 'skipped', message: reason, durationMs: 0 });
    return 'next';
  }

  private async step(step: PlannedStep): Promise<'next' | 'stop' | 'declined' | 'interrupted'> {
    const done = this.o.completed?.get(step.id);
    if (done) {
      this.summary.push({ id: step.id, status: done.status, message: 'completed in an earlier session', durationMs: 0 });
      return 'next';
    }
    const leftOut = notSelected(this.o.plan, step.id, { from: this.o.from ?? null, only: this.o.only ?? null });
    if (leftOut) return this.skip(step, leftOut);
    if (step.condition.decided === 'skip') return this.skip(step, `condition false: ${step.condition.text}`);
    if (step.condition.runtime && !evaluateAtRunTime(step.condition.runtime, (id) => this.outcomes.get(id))) {
      return this.skip(step, `condition false: ${step.condition.text}`);
    }
    const outcome = await this.execute(step);
    if (outcome === 'declined' || outcome === 'interrupted') return outcome;
    if (outcome === 'succeeded') return 'next';
    if (step.onFailure.mode === 'continue') return 'next';
    if (step.onFailure.mode === 'rollback') {
      this.o.bus.emit({ type: 'rollback-started', stepId: step.id, rollback: step.onFailure.rollback });
      for (const id of step.onFailure.rollback) {
        const rollbackStep = this.o.plan.rollback.find((r) => r.id === id);
        if (!rollbackStep || this.o.stopSignal.aborted) continue;
        const r = await this.execute(rollbackStep);
        if (r !== 'succeeded') break;
      }
    }
    return 'stop';
  }

  private async execute(step: PlannedStep): Promise<'succeeded' | 'failed' | 'declined' | 'interrupted'> {
    if (step.confirm.mode !== 'none') {
      const expected = step.confirm.expected ? materializeParts(step.confirm.expected, this.values()) : null;
      const answer = await this.o.confirmer.confirm(step, expected);
      this.o.bus.emit({
        type: 'confirmation',
        stepId: step.id,
        mode: step.confirm.mode,
        answer: answer.confirmed ? 'confirmed' : 'declined',
        by: answer.by,
      });
      if (!answer.confirmed) {
        this.summary.push({ id: step.id, status: 'not run', message: 'declined', durationMs: 0 });
        return 'declined';
      }
    }
    const kind = getStepKind(step.kind);
    const attempts = (step.retries?.count ?? 0) + 1;
    const started = Date.now();
    let last: ActionResult = { status: 'failed', message: 'not run', durationMs: 0 };
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
      last = await this.fanOut(step);
      if (last.status === 'succeeded' && step.verify) {
        const verified = await this.runAction(step.verify, step.id, 'verify', this.o.killSignal);
        if (verified.status === 'failed') last = { ...last, status: 'failed', message: `verification failed: ${verified.message}` };
      }
      if (last.status === 'succeeded' || last.cancelled || this.o.stopSignal.aborted || attempt === attempts) break;
      await this.sleep(step.retries?.delayMs ?? 0, this.o.stopSignal);
    }
    const durationMs = Date.now() - started;
    const interrupted = last.cancelled && this.o.killSignal.aborted;
    const status = last.status;
    this.outcomes.set(step.id, {
      status,
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
    if (interrupted) return 'interrupted';
    return status;
  }

  /** Runs the step on its targets by its fan-out policy; returns the first failure or a success. */
  private async fanOut(step: PlannedStep): Promise<ActionResult> {
    const kind = getStepKind(step.kind);
    const instances = this.instancesToRun(step);
    if (instances.length === 0)
      return { status: 'succeeded', message: 'already succeeded on every target in the interrupted session', durationMs: 0 };
    const limit = step.fanOut.mode === 'serial' ? 1 : step.fanOut.mode === 'batches' ? step.fanOut.batchSize : step.fanOut.limit;
    const results: ActionResult[] = new Array(instances.length);
    let failures = 0;
    let next = 0;
    const runOne = async (index: number) => {
      const instance = instances[index]!;
      this.o.bus.emit({ type: 'instance-started', stepId: step.id, target: instance.target });
      const result = await this.safeRun(() =>
        kind.run(instance.data, this.context(step.id, instance.target, step.timeoutMs, this.o.killSignal, false)),
      );
      results[index] = result;
      if (result.status === 'failed') failures++;
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
    };
    const canStart = () => failures <= step.fanOut.maxFailures && !this.o.stopSignal.aborted;
    if (step.fanOut.mode === 'batches') {
      for (let b = 0; b < instances.length && canStart(); b += limit) {
        await Promise.all(instances.slice(b, b + limit).map((_, i) => runOne(b + i)));
      }
    } else {
      const worker = async () => {
        while (next < instances.length && canStart()) await runOne(next++);
      };
      await Promise.all(Array.from({ length: Math.min(limit, instances.length) }, worker));
    }
    const ran = results.filter(Boolean);
    const failed = ran.filter((r) => r.status === 'failed');
    const notRun = instances.length - ran.length;
    if (failed.length > step.fanOut.maxFailures || (notRun > 0 && failed.length)) {
      const first = failed[0]!;
      const where = instances[results.indexOf(first)]?.target;
      return {
        ...first,
        message: `${where ? `${where}: ` : ''}${first.message}${instances.length > 1 ? ` (${failed.length} of ${instances.length} failed${notRun ? `, ${notRun} not started` : ''})` : ''}`,
      };
    }
    if (notRun > 0)
      return {
        status: 'failed',
        message: `interrupted: ${notRun} of ${instances.length} target(s) not started`,
        cancelled: true,
        durationMs: 0,
      };
    const firstOk = ran.find((r) => r.status === 'succeeded') ?? ran[0];
    return firstOk
      ? { ...firstOk, message: instances.length > 1 ? `${ran.length - failed.length} of ${instances.length} succeeded` : firstOk.message }
      : { status: 'succeeded', message: 'no targets', durationMs: 0 };
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
        text: `[runbook] not run again on ${skipped.join(', ')}: it succeeded there before the interruption\n`,
      });
    return step.action.instances.filter((i) => i.target === null || !done.has(i.target));
  }
}

/** The first failure, else the first result: a check passes only where it passed on every target. */
function aggregate(results: ActionResult[]): ActionResult {
  return results.find((r) => r.status === 'failed') ?? results[0] ?? { status: 'succeeded', message: 'no targets', durationMs: 0 };
}

export function describeTyped(step: PlannedStep): string {
  return step.confirm.expected ? displayParts(step.confirm.expected) : '';
}
