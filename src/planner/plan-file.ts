/**
 * A reviewed plan read back from its file (`runbook plan -o`, then `exec --plan`). Its digest
 * says whether it changed since it was written, but a person can edit it and write a new digest:
 * what the executor reads of it is checked here first, so that a broken plan file is bad input
 * (exit 3, nothing touched) and never an "internal error" halfway through a run. The data of
 * each action is checked as an object only: its fields are the step kind's.
 */
import { z } from 'zod';
import { ValidationError, type Diagnostic } from '../core/errors.js';
import { formatPath } from '../core/yaml-source.js';
import { stepKinds } from '../steps/registry.js';
import type { Plan } from './plan-types.js';

const kinds = stepKinds.map((k) => k.kind);
const kind = z
  .string()
  .refine((k) => kinds.includes(k), { error: (i) => `unknown step kind "${String(i.input)}" (known: ${kinds.join(', ')})` });
const text = z.string();
const nullableText = z.string().nullable();
const part = z.union([z.object({ text }), z.object({ secret: text, encoding: text }), z.object({ ref: text, encoding: text })]);

const action = z
  .object({
    kind,
    title: text,
    role: nullableText,
    instances: z.array(z.object({ target: nullableText, where: text, data: z.record(z.string(), z.unknown()) })),
    timeoutMs: z.number().nonnegative(),
  })
  .superRefine((a, ctx) => {
    // A kind that acts on a target runs nowhere without one.
    const needs = stepKinds.find((k) => k.kind === a.kind)?.target;
    a.instances.forEach((instance, i) => {
      if (needs && needs !== 'none' && instance.target === null)
        ctx.addIssue({ code: 'custom', path: ['instances', i, 'target'], message: `a ${a.kind} action needs a ${needs} target` });
    });
  });

const step = z.object({
  id: text,
  title: text,
  kind,
  phase: z.enum(['main', 'rollback']),
  notes: nullableText,
  source: nullableText,
  action,
  confirm: z.object({ mode: z.enum(['none', 'yes', 'typed']), expected: z.array(part).nullable() }),
  destructive: z.boolean(),
  condition: z.object({ decided: z.enum(['run', 'skip', 'at-run-time']), text: nullableText, runtime: z.unknown() }),
  verify: action.nullable(),
  timeoutMs: z.number().nonnegative(),
  retries: z.object({ count: z.number().int().nonnegative(), delayMs: z.number().nonnegative() }).nullable(),
  onFailure: z.object({ mode: z.enum(['stop', 'continue', 'rollback']), rollback: z.array(text) }),
  fanOut: z.object({
    mode: z.enum(['parallel', 'serial', 'batches']),
    limit: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    maxFailures: z.number().int().nonnegative(),
  }),
});

const planSchema = z.object({
  formatVersion: z.number(),
  runbook: z.object({ id: text, title: text, version: text, file: text, hash: text, source: nullableText }),
  inventory: z.object({ file: text, hash: text, name: nullableText }).nullable(),
  parameters: z.array(z.object({ name: text }).loose()),
  targets: z.record(text, z.object({ type: text, entries: z.array(z.object({ name: text, where: text })) })),
  secrets: z.array(z.object({ name: text, description: text, from: z.record(z.string(), z.unknown()) })),
  answers: z.record(text, text),
  preconditions: z.array(z.intersection(action, z.object({ notes: nullableText, source: nullableText }))),
  skippedPreconditions: z.array(z.object({ title: text, condition: text })),
  steps: z.array(step),
  rollback: z.array(step),
  limit: z.object({ requested: z.array(text), hosts: z.array(text) }).optional(),
});

/**
 * The plan of a plan file's parsed JSON (its digest removed), or a ValidationError naming the
 * file and each field that is missing or wrong.
 */
export function readPlanFile(value: unknown, file: string): Plan {
  const parsed = planSchema.loose().safeParse(value);
  if (parsed.success) return value as Plan;
  const diagnostics: Diagnostic[] = parsed.error.issues.slice(0, 10).map((issue) => ({
    severity: 'error',
    file,
    path: formatPath(issue.path.filter((p): p is string | number => typeof p !== 'symbol')),
    message: issue.message,
  }));
  throw new ValidationError(
    diagnostics,
    'This is not a plan as `runbook plan -o` writes it (edited by hand?). Nothing was run. Make and review the plan again: runbook plan <id> -i <inventory> -o plan.json',
  );
}
