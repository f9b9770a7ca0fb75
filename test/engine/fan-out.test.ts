/**
 * The fan-out summary: what the per-target results of a step come to, for every way a fan-out
 * ends; and the spreading of targets by policy.
 */
import { describe, expect, it } from 'vitest';
import { spread, summarizeFanOut } from '../../src/engine/fan-out.js';
import type { ActionResult } from '../../src/steps/types.js';

const ok = (message = 'done'): ActionResult => ({ status: 'succeeded', message, durationMs: 1 });
const failed = (message: string, extra: Partial<ActionResult> = {}): ActionResult => ({
  status: 'failed',
  message,
  durationMs: 1,
  ...extra,
});

describe('summarizeFanOut', () => {
  it('keeps the message of a single target, counts successes over several', () => {
    expect(summarizeFanOut(['a'], [ok('one')], 0, false)).toEqual({ result: ok('one'), interrupted: [], lost: [], unreachable: [] });
    expect(summarizeFanOut(['a', 'b'], [ok(), ok()], 0, false).result.message).toBe('2 of 2 succeeded');
    expect(summarizeFanOut([null], [ok('here')], 0, false).result).toEqual(ok('here'));
  });

  it('names the first failed target and counts failures', () => {
    const fan = summarizeFanOut(['a', 'b', 'c'], [ok(), failed('exit 2'), failed('exit 3')], 0, false);
    expect(fan.result).toEqual(failed('b: exit 2 (2 of 3 failed)'));
  });

  it('tolerates failures up to maxFailures', () => {
    const fan = summarizeFanOut(['a', 'b', 'c'], [ok(), failed('exit 2'), ok()], 1, false);
    expect(fan.result.status).toBe('succeeded');
    expect(fan.result.message).toBe('2 of 3 succeeded');
  });

  it('says how many targets were not started after too many failures (not interrupted)', () => {
    const fan = summarizeFanOut(['a', 'b', 'c'], [failed('exit 1'), undefined, undefined], 0, false);
    expect(fan.result.message).toBe('a: exit 1 (1 of 3 failed, 2 not started)');
    expect(fan.interrupted).toEqual([]);
  });

  it('reports targets left unstarted by a stop as interrupted', () => {
    const fan = summarizeFanOut(['a', 'b', 'c'], [ok(), undefined, undefined], 0, true);
    expect(fan.interrupted).toEqual(['b', 'c']);
    expect(fan.result).toEqual({
      status: 'failed',
      message: 'interrupted: 2 of 3 target(s) not started (b, c)',
      cancelled: true,
      durationMs: 0,
    });
  });

  it('a tolerated failure and a stop: the failure, with the others interrupted before they started', () => {
    const fan = summarizeFanOut(['a', 'b'], [failed('exit 1'), undefined], 1, true);
    expect(fan.result.message).toBe('a: exit 1 (1 of 2 failed, 1 interrupted before they started)');
    expect(fan.interrupted).toEqual(['b']);
  });

  it('lists lost and unreachable targets', () => {
    const fan = summarizeFanOut(
      ['a', 'b', null],
      [failed('lost', { connection: 'lost' }), failed('refused', { connection: 'unreachable' }), ok()],
      2,
      false,
    );
    expect(fan.lost).toEqual(['a']);
    expect(fan.unreachable).toEqual(['b']);
  });

  it('a program left running detached is the result as it is', () => {
    const running: ActionResult = { status: 'failed', message: 'still running', durationMs: 1, leftRunning: true };
    expect(summarizeFanOut(['a', 'b'], [ok(), running], 0, false)).toEqual({ result: running, interrupted: [], lost: [], unreachable: [] });
  });
});

describe('spread', () => {
  const order = async (count: number, policy: Parameters<typeof spread>[1], canStart = () => true) => {
    const events: string[] = [];
    await spread(count, policy, canStart, async (i) => {
      events.push(`start ${i}`);
      await new Promise((resolve) => setImmediate(resolve));
      events.push(`end ${i}`);
    });
    return events;
  };

  it('runs serial targets one after the other', async () => {
    expect(await order(3, { mode: 'serial', limit: 1, batchSize: 10, maxFailures: 0 })).toEqual([
      'start 0',
      'end 0',
      'start 1',
      'end 1',
      'start 2',
      'end 2',
    ]);
  });

  it('runs batches whole, one after the other', async () => {
    expect(await order(3, { mode: 'batches', limit: 10, batchSize: 2, maxFailures: 0 })).toEqual([
      'start 0',
      'start 1',
      'end 0',
      'end 1',
      'start 2',
      'end 2',
    ]);
  });

  it('keeps at most limit targets running in parallel, and starts none once canStart says no', async () => {
    expect(await order(3, { mode: 'parallel', limit: 2, batchSize: 2, maxFailures: 0 })).toEqual([
      'start 0',
      'start 1',
      'end 0',
      'start 2',
      'end 1',
      'end 2',
    ]);
    let started = 0;
    const events = await order(5, { mode: 'serial', limit: 1, batchSize: 1, maxFailures: 0 }, () => started++ < 2);
    expect(events).toEqual(['start 0', 'end 0', 'start 1', 'end 1']);
  });
});
