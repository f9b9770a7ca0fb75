/**
 * The planner's pure step policies: confirmation, typed confirmation text, retries, failure and
 * fan-out, each from a step's fields alone.
 */
import { describe, expect, it } from 'vitest';
import {
  confirmationMode,
  defaultTimeout,
  failurePolicy,
  fanOutPolicy,
  retryPolicy,
  typedConfirmationTemplate,
} from '../../src/planner/step-policy.js';

describe('confirmationMode', () => {
  it('asks yes/no before a kind that changes something, nothing before a read-only step or kind', () => {
    expect(confirmationMode({}, true)).toEqual({ mode: 'yes', problem: null });
    expect(confirmationMode({ readOnly: true }, true)).toEqual({ mode: 'none', problem: null });
    expect(confirmationMode({}, false)).toEqual({ mode: 'none', problem: null });
  });
  it('takes an explicit confirm, typed for an object', () => {
    expect(confirmationMode({ confirm: 'none' }, true)).toEqual({ mode: 'none', problem: null });
    expect(confirmationMode({ confirm: 'yes' }, false)).toEqual({ mode: 'yes', problem: null });
    expect(confirmationMode({ confirm: { typed: 'db1' } }, false)).toEqual({ mode: 'typed', problem: null });
  });
  it('types the confirmation of a destructive step, and says so when its confirm asked for less', () => {
    expect(confirmationMode({ destructive: true }, false)).toEqual({ mode: 'typed', problem: null });
    expect(confirmationMode({ destructive: true, confirm: 'yes' }, true)).toEqual({
      mode: 'typed',
      problem: 'a destructive step needs a typed confirmation (confirm: {typed: ...}) or no confirm field',
    });
  });
});

describe('typedConfirmationTemplate', () => {
  it("is the step's own text, else its targets, else the runbook id", () => {
    expect(typedConfirmationTemplate({ confirm: { typed: 'DROP {{ params.db }}' } }, ['h1'], 'rb')).toBe('DROP {{ params.db }}');
    expect(typedConfirmationTemplate({}, ['h1', null, 'h2'], 'rb')).toBe('h1,h2');
    expect(typedConfirmationTemplate({}, [null], 'rb')).toBe('rb');
  });
});

describe('retry, failure and fan-out policies', () => {
  it('retries only when asked, 5 s apart by default', () => {
    expect(retryPolicy({})).toBeNull();
    expect(retryPolicy({ retries: { count: 3 } })).toEqual({ count: 3, delayMs: 5000 });
    expect(retryPolicy({ retries: { count: 2, delay: '2m' } })).toEqual({ count: 2, delayMs: 120_000 });
  });
  it('stops on failure by default; continue and rollback as asked', () => {
    expect(failurePolicy({})).toEqual({ mode: 'stop', rollback: [] });
    expect(failurePolicy({ onFailure: 'stop' })).toEqual({ mode: 'stop', rollback: [] });
    expect(failurePolicy({ onFailure: 'continue' })).toEqual({ mode: 'continue', rollback: [] });
    expect(failurePolicy({ onFailure: { rollback: ['undo'] } })).toEqual({ mode: 'rollback', rollback: ['undo'] });
  });
  it('fans out in parallel 10 at a time by default, serial one at a time, batches of the limit', () => {
    expect(fanOutPolicy({})).toEqual({ mode: 'parallel', limit: 10, batchSize: 10, maxFailures: 0 });
    expect(fanOutPolicy({ fanOut: { mode: 'serial', limit: 4 } })).toEqual({ mode: 'serial', limit: 1, batchSize: 4, maxFailures: 0 });
    expect(fanOutPolicy({ fanOut: { mode: 'batches', limit: 3, maxFailures: 1 } })).toEqual({
      mode: 'batches',
      limit: 3,
      batchSize: 3,
      maxFailures: 1,
    });
    expect(fanOutPolicy({ fanOut: { mode: 'batches', batchSize: 5 } })).toEqual({
      mode: 'batches',
      limit: 10,
      batchSize: 5,
      maxFailures: 0,
    });
  });
  it('gives a wait 10 minutes and anything else 5 when it sets no timeout', () => {
    expect(defaultTimeout('wait')).toBe('10m');
    expect(defaultTimeout('ssh')).toBe('5m');
  });
});
