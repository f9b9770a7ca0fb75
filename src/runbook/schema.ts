/**
 * The runbook format. `runbook schema` prints this as JSON Schema, so the doc strings here are
 * what runbook authors see in their editor.
 */
import { z } from 'zod';
import { atLeastOne } from '../steps/check-schema.js';
import { refuseDetachedStdin } from '../steps/command-shape.js';
import { checkSchema, preconditionSchema, stepKinds } from '../steps/registry.js';
import type { StepKind } from '../steps/types.js';
import { condition, confirm, duration, fanOut, identifier, onFailure, retries, scalar, schemaKey } from '../core/schema-parts.js';

export const parameterSchema = z
  .object({
    type: z.enum(['string', 'integer', 'boolean', 'enum', 'secret']),
    description: z.string().optional(),
    default: scalar.optional().describe('Used when no value is given (not allowed for secrets).'),
    values: z.array(z.string()).min(1).optional().describe('enum: the allowed values.'),
    pattern: z.string().optional().describe('string: a regular expression the whole value must match.'),
    min: z.number().int().optional(),
    max: z.number().int().optional(),
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional()
      .describe('Environment variable read for the value (the usual source of a secret).'),
  })
  .strict();
export type ParameterSpec = z.infer<typeof parameterSchema>;

export const targetRoleSchema = z
  .object({
    type: z.enum(['hosts', 'database', 'http']).describe('What the inventory binds to this role.'),
    description: z.string().optional(),
    min: z.number().int().nonnegative().optional().describe('Fewest entries the role accepts (default 1).'),
    max: z.number().int().positive().optional(),
  })
  .strict();
export type TargetRoleSpec = z.infer<typeof targetRoleSchema>;

const stepCommon = {
  id: identifier.describe('Unique step id, used in the journal, --from/--only and {{ steps.<id>.value }}.'),
  title: z.string().min(1),
  target: z.string().optional().describe('Target role (from `targets`) the step acts on.'),
  confirm: confirm.optional(),
  destructive: z
    .boolean()
    .optional()
    .describe('Destroys data or state: needs a typed confirmation, and --allow-destructive without a terminal.'),
  readOnly: z.boolean().optional().describe('Changes nothing: runs without confirmation.'),
  when: condition.optional().describe('Run the step only when this holds (parameters at planning, step values at run time).'),
  verify: checkSchema.optional().describe('Checked after the step; a failing verification fails the step.'),
  timeout: duration.optional().describe('Per host (default 5m; wait steps: the polling limit).'),
  retries: retries.optional(),
  onFailure: onFailure.optional(),
  fanOut: fanOut.optional(),
  notes: z.string().optional().describe('Shown to the operator before the step.'),
  source: z.string().optional().describe('Which step of the source document this implements.'),
};

function stepVariant(kind: StepKind) {
  return z
    .object({ kind: z.literal(kind.kind).describe(kind.summary), ...stepCommon, ...kind.fields })
    .strict()
    .superRefine(refuseDetachedStdin)
    .describe(kind.summary);
}

export const stepSchema = z.discriminatedUnion('kind', atLeastOne(stepKinds.map(stepVariant)));
export type StepSpec = z.infer<typeof stepSchema> & Record<string, unknown>;

export const runbookSchema = z
  .object({
    $schema: schemaKey,
    id: identifier.describe('The name operators type: `runbook exec <id>`.'),
    title: z.string().min(1),
    description: z.string().optional(),
    version: z.string().default('1.0.0').describe('Version of this runbook (recorded in the journal).'),
    source: z
      .object({
        document: z.string().describe('The source procedure this runbook implements.'),
        file: z.string().optional().describe('File of the source document.'),
        language: z.string().optional(),
        url: z.string().optional(),
      })
      .strict()
      .optional(),
    appliesTo: z
      .array(
        z
          .object({
            product: z.string(),
            versions: z.string().describe('Human-readable range, e.g. ">= 5.5, < 9.0.0".'),
          })
          .strict(),
      )
      .optional(),
    parameters: z.record(identifier, parameterSchema).default({}),
    targets: z.record(identifier, targetRoleSchema).default({}),
    preconditions: z
      .array(preconditionSchema)
      .default([])
      .describe('Read-only checks, all run before anything changes; any failure stops the run.'),
    steps: z.array(stepSchema).min(1),
    rollback: z.array(stepSchema).default([]).describe('Steps run only when a failing step names them in onFailure.rollback.'),
  })
  .strict();

export type RunbookSpec = z.infer<typeof runbookSchema>;

export function runbookJsonSchema(): unknown {
  return z.toJSONSchema(runbookSchema, { io: 'input', unrepresentable: 'any' });
}
