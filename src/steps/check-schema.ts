/**
 * A check: a read-only action with an expected result, used as a precondition, a step
 * verification, the check after a manual step, or the condition a `wait` step polls. Its schema
 * is built from the kinds that say they are `checkable` (the registry passes them), so this
 * module imports no kind: the kinds holding a check (manual, wait) get it from the registry.
 */
import { z } from 'zod';
import { condition, identifier } from '../core/schema-parts.js';
import { refuseDetachedCheck } from './command-shape.js';
import type { StepKind } from './types.js';

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

/** The schemas of a check and of a precondition, one variant per checkable kind. */
export function checkSchemas(kinds: ReadonlyArray<StepKind>) {
  const checkable = kinds.filter((k) => k.checkable);
  const names = checkable.map((k) => k.kind);
  const which = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
  const check = z
    .discriminatedUnion(
      'kind',
      atLeastOne(
        checkable.map((kind) =>
          z
            .object({ kind: z.literal(kind.kind), ...checkCommon, ...kind.fields })
            .strict()
            .superRefine(refuseDetachedCheck),
        ),
      ),
    )
    .describe(`A read-only check: an ${which} action with its expected result.`);
  const precondition = z
    .discriminatedUnion(
      'kind',
      atLeastOne(
        checkable.map((kind) =>
          z
            .object({ kind: z.literal(kind.kind), ...checkCommon, ...preconditionOnly, ...kind.fields })
            .strict()
            .superRefine(refuseDetachedCheck),
        ),
      ),
    )
    .describe('A read-only check run before anything changes, optionally only when a condition on parameters holds.');
  return { check, precondition };
}

/** The variants of a discriminated union: zod needs at least one. */
export function atLeastOne<T>(items: readonly T[]): [T, ...T[]] {
  const [first, ...rest] = items;
  if (first === undefined) throw new Error('a union needs at least one variant');
  return [first, ...rest];
}
