/**
 * Building blocks of the runbook schema shared by the step kinds. The doc strings become the
 * JSON Schema descriptions that editors show to runbook authors (`runbook schema`).
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

export const identifier = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected lower-case letters, digits, "-" or "_" (e.g. "stop-cells")');

export const duration = z
  .union([z.string(), z.number().nonnegative()])
  .refine((v) => parseDuration(v) !== undefined, {
    message: 'expected a duration such as "500ms", "30s", "10m" or "1h30m"',
  })
  .describe('A duration: "500ms", "30s", "10m", "1h30m", or a number of seconds.');

export const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** A check on a piece of text (stdout, stderr, an HTTP body). */
export const textMatch = z
  .object({
    equals: z.string().optional().describe('The whole text, trimmed, equals this.'),
    contains: z.string().optional().describe('The text contains this.'),
    notContains: z.string().optional().describe('The text does not contain this.'),
    matches: z
      .string()
      .optional()
      .describe('The text matches this regular expression (multiline). A {{ }} value in it matches literally (escaped).'),
    notMatches: z.string().optional().describe('The text does not match this regular expression (a {{ }} value: literally).'),
  })
  .strict();
export type TextMatch = z.infer<typeof textMatch>;

export const exitCodes = z.union([z.number().int(), z.array(z.number().int()).min(1)]).describe('Accepted exit code(s). Default 0.');

/** Takes a value out of a step's result for later steps: `{{ steps.<id>.value }}`. */
export const textCapture = z
  .object({
    regex: z.string().optional().describe('First capture group (or whole match) of this regex; default: the trimmed text.'),
  })
  .strict();

export const promptAnswer = z
  .object({
    prompt: z.string().describe('Regular expression matching the program prompt (e.g. "\\\\[Y/N\\\\]").'),
    answer: z.string().describe('What to type (a newline is added). May use {{ }} references, including secrets.'),
    repeat: z.boolean().optional().describe('The prompt may appear several times (default: once).'),
  })
  .strict();

export const fanOut = z
  .object({
    mode: z.enum(['parallel', 'serial', 'batches']).default('parallel').describe('How the hosts of the target are run.'),
    limit: z.number().int().positive().optional().describe('parallel: at most this many hosts at once (default 10).'),
    batchSize: z.number().int().positive().optional().describe('batches: hosts per batch.'),
    maxFailures: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('How many hosts may fail before the step fails (default 0: the first failure stops new hosts).'),
  })
  .strict();

export const confirm = z
  .union([
    z.enum(['none', 'yes']),
    z
      .object({
        typed: z
          .string()
          .describe(
            'The operator must type this value, once per step (templated, e.g. "{{ roles.appliance.name }}" or "{{ params.store }}").',
          ),
      })
      .strict(),
  ])
  .describe('Confirmation before the step: none, yes (y/N), or typed (the operator types a named value).');

export const onFailure = z
  .union([
    z.enum(['stop', 'continue']),
    z
      .object({
        rollback: z.array(identifier).min(1).describe('Ids of steps in the runbook `rollback` section to run, in order.'),
      })
      .strict(),
  ])
  .describe('What happens when the step fails: stop (default), continue, or run named rollback steps then stop.');

export const retries = z
  .object({
    count: z.number().int().min(1).max(100),
    delay: duration.optional(),
  })
  .strict()
  .describe('Retry a failed step (only for steps safe to repeat).');

const conditionLeaf = z
  .object({
    param: z.string().optional().describe('Parameter name (decided when planning).'),
    step: identifier.optional().describe('Id of an earlier step: its value (a prompt answer or captured value).'),
    status: z.enum(['succeeded', 'failed', 'skipped']).optional().describe('With step: its outcome.'),
    equals: scalar.optional(),
    notEquals: scalar.optional(),
    in: z.array(scalar).optional(),
    matches: z.string().optional(),
  })
  .strict();

export type Condition = z.infer<typeof conditionLeaf> | { all: Condition[] } | { any: Condition[] } | { not: Condition };

export const condition: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.object({ all: z.array(condition).min(1) }).strict(),
    z.object({ any: z.array(condition).min(1) }).strict(),
    z.object({ not: condition }).strict(),
    conditionLeaf,
  ]),
);

/** `$schema: <url or path>`: lets an editor find the JSON Schema of the file; ignored otherwise. */
export const schemaKey = z.string().optional().describe('JSON Schema of this file, for editors (`runbook schema`); ignored by runbook.');
