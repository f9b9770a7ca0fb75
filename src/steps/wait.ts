/** `wait`: sleep a fixed time, or poll a check until it passes or the step times out. */
import { z } from 'zod';
import { duration } from '../core/schema-parts.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import type { PlannedAction, StepKind } from './types.js';

interface WaitSpec extends Record<string, unknown> {
  duration?: string | number;
  until?: Record<string, unknown>;
  interval?: string | number;
}

export type WaitData = {
  durationMs: number | null;
  until: PlannedAction | null;
  intervalMs: number;
};

/** `check` is the schema of a check, read lazily (it is made of the registry's kinds). */
export function waitStep(check: () => z.ZodType): StepKind<WaitSpec, WaitData> {
  return {
    kind: 'wait',
    summary: 'Sleep for a duration, or poll a check until it passes (bounded by the step timeout).',
    target: 'none',
    changes: false,
    checkable: false,
    fields: {
      duration: duration.optional().describe('Sleep this long (e.g. "10s").'),
      until: z.lazy(check).optional().describe('Poll this check until it passes.'),
      interval: duration.optional().describe('Between polls (default 2s).'),
    },
    plan(spec, _render, nested) {
      const data: WaitData = {
        durationMs: spec.duration === undefined ? null : (parseDuration(spec.duration) ?? 0),
        until: spec.until ? nested.check(spec.until, null, 'until') : null,
        intervalMs: parseDuration(spec.interval ?? '2s') ?? 2000,
      };
      return data;
    },
    describe(data) {
      const lines: string[] = [];
      if (data.durationMs !== null) lines.push(`sleep ${formatDuration(data.durationMs)}`);
      if (data.until) lines.push(`poll every ${formatDuration(data.intervalMs)} until: ${data.until.title}`);
      return lines;
    },
    async run(data, ctx) {
      const started = Date.now();
      if (data.durationMs !== null) await ctx.sleep(data.durationMs);
      if (ctx.signal.aborted) return { status: 'failed', message: 'cancelled', cancelled: true, durationMs: Date.now() - started };
      if (!data.until)
        return { status: 'succeeded', message: `waited ${formatDuration(Date.now() - started)}`, durationMs: Date.now() - started };
      let attempts = 0;
      for (;;) {
        attempts++;
        const check = await ctx.runCheck(data.until);
        if (check.status === 'succeeded') {
          return {
            status: 'succeeded',
            message: `passed after ${attempts} poll(s), ${formatDuration(Date.now() - started)}`,
            durationMs: Date.now() - started,
          };
        }
        if (ctx.signal.aborted) return { status: 'failed', message: 'cancelled', cancelled: true, durationMs: Date.now() - started };
        if (Date.now() - started + data.intervalMs > ctx.timeoutMs) {
          return {
            status: 'failed',
            message: `still failing after ${formatDuration(Date.now() - started)} (${attempts} polls): ${check.message}`,
            timedOut: true,
            durationMs: Date.now() - started,
          };
        }
        await ctx.sleep(data.intervalMs);
      }
    },
  };
}
