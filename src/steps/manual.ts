/**
 * `manual`: an instruction a person carries out (a web UI click, installing a package), confirmed
 * by the operator, then checked by a machine where a check is given.
 */
import { z } from 'zod';
import { RunbookError } from '../core/errors.js';
import { displayParts, materializeParts, type Part } from '../core/template.js';
import type { PlannedAction, StepKind } from './types.js';

interface ManualSpec extends Record<string, unknown> {
  instructions: string;
  check?: Record<string, unknown>;
  attest?: boolean;
}

type ManualData = {
  instructions: Part[];
  check: PlannedAction | null;
  attest?: boolean;
};

/** `check` is the schema of a check, read lazily (it is made of the registry's kinds). */
export function manualStep(check: () => z.ZodType): StepKind<ManualSpec, ManualData> {
  return {
    kind: 'manual',
    summary: 'An instruction the operator carries out and confirms, with an optional check afterwards.',
    target: 'none',
    changes: false,
    checkable: false,
    fields: {
      instructions: z.string().min(1).describe('What the operator does, step by step. May use {{ }} references.'),
      check: z.lazy(check).optional().describe('Checked after the operator confirms; on failure they may retry.'),
      attest: z
        .boolean()
        .optional()
        .describe(
          'A person attests a fact no check can see (e.g. "the backup is complete"): a pre-set answer (--answer, inventory answers) and --yes do not count; without a terminal only `--attest <step>` does.',
        ),
    },
    plan(spec, render, nested) {
      const data: ManualData = {
        instructions: render.parts(spec.instructions, 'text'),
        check: spec.check ? nested.check(spec.check, null, 'check') : null,
        ...(spec.attest ? { attest: true } : {}),
      };
      return data;
    },
    describe(data) {
      const lines = displayParts(data.instructions)
        .trimEnd()
        .split('\n')
        .map((l) => `| ${l}`);
      if (data.attest) lines.push('attested by the operator (a pre-set answer does not count; --attest without a terminal)');
      if (data.check) lines.push(`then check: ${data.check.title}`);
      return lines;
    },
    async run(data, ctx) {
      const started = Date.now();
      const instructions = materializeParts(data.instructions, ctx.values);
      if (ctx.presetAnswer === undefined || data.attest) {
        const done = await ctx.operator.confirmDone(ctx.stepId, instructions, { attest: !!data.attest });
        if (!done)
          throw new RunbookError('aborted', `the operator did not confirm manual step ${ctx.stepId}`, {
            hint: 'Nothing more was run; the journal records where the run stopped.',
          });
      }
      if (!data.check) return { status: 'succeeded', message: 'done (confirmed by the operator)', durationMs: Date.now() - started };
      for (;;) {
        const check = await ctx.runCheck(data.check);
        if (check.status === 'succeeded') {
          return { status: 'succeeded', message: `done; check passed: ${check.message}`, durationMs: Date.now() - started };
        }
        if (ctx.presetAnswer !== undefined || (await ctx.operator.retryOrAbort(`check failed: ${check.message}`)) === 'abort') {
          return { status: 'failed', message: `check after the manual step failed: ${check.message}`, durationMs: Date.now() - started };
        }
      }
    },
  };
}
