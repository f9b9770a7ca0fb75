/**
 * How a planned step is confirmed, retried, fanned out over its targets and what its failure
 * does: pure functions of the step's fields (and its kind), so that each rule reads on its own
 * and is tested without planning a runbook.
 */
import { parseDuration } from '../core/duration.js';
import type { StepSpec } from '../runbook/schema.js';
import type { PlannedStep } from './plan-types.js';

/** How long a step or check may run when it says nothing: a wait polls longer than a command. */
export function defaultTimeout(kind: string): string {
  return kind === 'wait' ? '10m' : '5m';
}

/**
 * The confirmation a step needs: typed for a destructive step, yes/no for one that changes
 * something, none for one that only reads; an explicit `confirm` wins, except that a destructive
 * step is always typed (`problem` then says why its `confirm` was overruled).
 */
export function confirmationMode(
  step: Pick<StepSpec, 'confirm' | 'destructive' | 'readOnly'>,
  kindChanges: boolean,
): { mode: PlannedStep['confirm']['mode']; problem: string | null } {
  const destructive = step.destructive ?? false;
  const mode: PlannedStep['confirm']['mode'] =
    step.confirm === undefined
      ? destructive
        ? 'typed'
        : kindChanges && !step.readOnly
          ? 'yes'
          : 'none'
      : typeof step.confirm === 'string'
        ? step.confirm
        : 'typed';
  if (destructive && mode !== 'typed')
    return {
      mode: 'typed',
      problem: 'a destructive step needs a typed confirmation (confirm: {typed: ...}) or no confirm field',
    };
  return { mode, problem: null };
}

/**
 * What the operator types to confirm (a template): the step's own text, else the names of its
 * targets, else the runbook's id for a step without targets.
 */
export function typedConfirmationTemplate(step: Pick<StepSpec, 'confirm'>, targets: Array<string | null>, runbookId: string): string {
  if (typeof step.confirm === 'object') return step.confirm.typed;
  return targets.filter((t): t is string => Boolean(t)).join(',') || runbookId;
}

/** Retries of a failed step: none unless asked, 5 seconds apart by default. */
export function retryPolicy(step: Pick<StepSpec, 'retries'>): PlannedStep['retries'] {
  return step.retries ? { count: step.retries.count, delayMs: parseDuration(step.retries.delay ?? '5s') ?? 5000 } : null;
}

/** What a failure of the step does: stop the run (default), go on, or run the named rollback steps. */
export function failurePolicy(step: Pick<StepSpec, 'onFailure'>): PlannedStep['onFailure'] {
  if (step.onFailure === undefined || step.onFailure === 'stop') return { mode: 'stop', rollback: [] };
  if (step.onFailure === 'continue') return { mode: 'continue', rollback: [] };
  return { mode: 'rollback', rollback: step.onFailure.rollback };
}

/**
 * How the step spreads over its targets: in parallel, at most 10 at a time by default; serial is
 * one at a time; batches default to the limit; no failure is tolerated unless `maxFailures` says.
 */
export function fanOutPolicy(step: Pick<StepSpec, 'fanOut'>): PlannedStep['fanOut'] {
  const limit = step.fanOut?.limit ?? 10;
  return {
    mode: step.fanOut?.mode ?? 'parallel',
    limit: step.fanOut?.mode === 'serial' ? 1 : limit,
    batchSize: step.fanOut?.batchSize ?? limit,
    maxFailures: step.fanOut?.maxFailures ?? 0,
  };
}
