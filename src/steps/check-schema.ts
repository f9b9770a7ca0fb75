/**
 * A check: a read-only action with an expected result, used as a precondition, a step
 * verification, the check after a manual step, or the condition a `wait` step polls.
 */
import { z } from 'zod';
import { condition, identifier } from '../core/schema-parts.js';
import { refuseDetachedCheck } from './command-shape.js';
import { httpStep } from './http.js';
import { localStep } from './local.js';
import { sqlStep } from './sql.js';
import { sshStep } from './ssh.js';
import type { StepKind } from './types.js';

export const checkableKinds: ReadonlyArray<StepKind<never>> = [sshStep, sqlStep, httpStep, localStep] as never;

const checkCommon = {
  id: identifier.optional().describe('Identifies the check in output and the journal.'),
  title: z.string().optional().describe('What is checked, in words.'),
  target: z.string().optional().describe('Target role; default: the role of the step it belongs to.'),
  timeout: z.union([z.string(), z.number()]).optional(),
};

const preconditionOnly = {
  when: condition.optional().describe('Check only when this holds (parameters only: decided when planning).'),
  notes: z.string().optional().describe('For the operator: why this is checked, what to do when it fails.'),
  source: z.string().optional().describe('Which part of the source procedure this check implements.'),
};

function checkVariant(kind: StepKind<never>) {
  return z
    .object({ kind: z.literal(kind.kind), ...checkCommon, ...kind.fields })
    .strict()
    .superRefine(refuseDetachedCheck);
}

function preconditionVariant(kind: StepKind<never>) {
  return z
    .object({ kind: z.literal(kind.kind), ...checkCommon, ...preconditionOnly, ...kind.fields })
    .strict()
    .superRefine(refuseDetachedCheck);
}

export const checkSchema = z
  .discriminatedUnion(
    'kind',
    checkableKinds.map(checkVariant) as unknown as [ReturnType<typeof checkVariant>, ...ReturnType<typeof checkVariant>[]],
  )
  .describe('A read-only check: an ssh, sql, http or local action with its expected result.');

export type CheckSpec = z.infer<typeof checkSchema>;

/** A check run before anything changes; it may apply only to some parameter values. */
export const preconditionSchema = z
  .discriminatedUnion(
    'kind',
    checkableKinds.map(preconditionVariant) as unknown as [
      ReturnType<typeof preconditionVariant>,
      ...ReturnType<typeof preconditionVariant>[],
    ],
  )
  .describe('A read-only check run before anything changes, optionally only when a condition on parameters holds.');
