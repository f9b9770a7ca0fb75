/**
 * Spreading a step over its targets, and what the per-target results come to. The summary is a
 * pure function of the results, so that every way a fan-out can end (all succeeded, too many
 * failures, a stop before some targets started, a lost or refused connection, a program left
 * running) is decided in one place and unit-tested without a connection.
 */
import type { PlannedStep } from '../planner/plan-types.js';
import type { ActionResult } from '../steps/types.js';

/** What a step's fan-out came to, besides its aggregated result. */
export interface FanOutResult {
  result: ActionResult;
  /** Targets never started because of a stop (Ctrl-C): interrupted, not failed. */
  interrupted: string[];
  /** Targets whose connection was lost while the step ran there: outcome unknown. */
  lost: string[];
  /** Targets that could not be reached: nothing ran there. */
  unreachable: string[];
}

/** A fan-out result that is just this result (no target interrupted, lost or unreachable). */
export function onlyResult(result: ActionResult): FanOutResult {
  return { result, interrupted: [], lost: [], unreachable: [] };
}

/**
 * Runs `runOne(0..count-1)` by the step's fan-out policy: `limit` at a time (one for serial),
 * or batch after batch. No new target starts once `canStart` says no (too many failures, a stop).
 */
export async function spread(
  count: number,
  policy: PlannedStep['fanOut'],
  canStart: () => boolean,
  runOne: (index: number) => Promise<void>,
): Promise<void> {
  const limit = policy.mode === 'serial' ? 1 : policy.mode === 'batches' ? policy.batchSize : policy.limit;
  if (policy.mode === 'batches') {
    for (let b = 0; b < count && canStart(); b += limit) {
      await Promise.all(Array.from({ length: Math.min(limit, count - b) }, (_, i) => runOne(b + i)));
    }
    return;
  }
  let next = 0;
  const worker = async () => {
    while (next < count && canStart()) await runOne(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/**
 * What the fan-out of a step came to. `targets[i]` is the target of `results[i]` (null: this
 * machine); a missing result is a target that never started. `stopRequested`: a stop (Ctrl-C) was
 * asked for. The result is the first failure (with a count when there are several targets), an
 * interruption when targets did not start, else the first success.
 */
export function summarizeFanOut(
  targets: ReadonlyArray<string | null>,
  results: ReadonlyArray<ActionResult | undefined>,
  maxFailures: number,
  stopRequested: boolean,
): FanOutResult {
  const ran = targets.flatMap((_, i) => (results[i] ? [results[i]] : []));
  const running = ran.find((r) => r.leftRunning);
  if (running) return onlyResult(running);
  const failed = ran.filter((r) => r.status === 'failed');
  const notRun = targets.length - ran.length;
  const targetsWhere = (test: (r: ActionResult | undefined) => boolean) =>
    targets.flatMap((target, i) => (test(results[i]) ? [target ?? 'local'] : []));
  // Not started because of a stop: interrupted. Not started after too many failures: not started.
  const stopped = stopRequested && failed.length <= maxFailures;
  const fan = {
    interrupted: stopped ? targetsWhere((r) => r === undefined) : [],
    lost: targetsWhere((r) => r?.connection === 'lost'),
    unreachable: targetsWhere((r) => r?.connection === 'unreachable'),
  };
  if (failed.length > maxFailures || (notRun > 0 && failed.length)) {
    const first = failed[0]!;
    const where = targets[results.indexOf(first)];
    const notStarted = notRun ? `, ${notRun} ${stopped ? 'interrupted before they started' : 'not started'}` : '';
    const count = targets.length > 1 ? ` (${failed.length} of ${targets.length} failed${notStarted})` : '';
    return { ...fan, result: { ...first, message: `${where ? `${where}: ` : ''}${first.message}${count}` } };
  }
  if (notRun > 0) {
    const message = `interrupted: ${notRun} of ${targets.length} target(s) not started (${fan.interrupted.join(', ')})`;
    return { ...fan, result: { status: 'failed', message, cancelled: true, durationMs: 0 } };
  }
  const firstOk = ran.find((r) => r.status === 'succeeded') ?? ran[0];
  return {
    ...fan,
    result: firstOk
      ? { ...firstOk, message: targets.length > 1 ? `${ran.length - failed.length} of ${targets.length} succeeded` : firstOk.message }
      : { status: 'succeeded', message: 'no targets', durationMs: 0 },
  };
}
