/**
 * Every step kind, keyed by `kind`, and the check schemas derived from them. Adding a kind
 * touches its own file and this list; whether it may serve as a check is its `checkable` field.
 */
import { RunbookError } from '../core/errors.js';
import { checkSchemas } from './check-schema.js';
import { fileEditStep } from './file-edit.js';
import { httpStep } from './http.js';
import { localStep } from './local.js';
import { manualStep } from './manual.js';
import { promptStep } from './prompt.js';
import { sqlStep } from './sql.js';
import { sshStep } from './ssh.js';
import type { StepKind } from './types.js';
import { waitStep } from './wait.js';

// manual and wait hold a check, whose schema is made of the kinds of this very list: they read
// it lazily (when a runbook is validated), once the list below exists.
const nestedCheck = () => checks.check;

export const stepKinds: ReadonlyArray<StepKind> = [
  sshStep,
  sqlStep,
  localStep,
  httpStep,
  manualStep(nestedCheck),
  promptStep,
  waitStep(nestedCheck),
  fileEditStep,
];

const checks = checkSchemas(stepKinds);
/** A verification, a manual step's check, what a wait polls. */
export const checkSchema = checks.check;
/** A check before anything changes, optionally only when a condition on parameters holds. */
export const preconditionSchema = checks.precondition;

const byKind = new Map(stepKinds.map((k) => [k.kind, k]));

/**
 * The kind of this name. A validated runbook names only known kinds; a plan file edited by hand
 * (or made by another version) may not: that is bad input, not a bug.
 */
export function getStepKind(kind: string): StepKind {
  const found = byKind.get(kind);
  if (!found)
    throw new RunbookError('invalid', `unknown step kind "${kind}" (known kinds: ${[...byKind.keys()].join(', ')})`, {
      hint: 'A plan file names a kind this version of runbook does not know: make and review the plan again with `runbook plan <id> -i <inventory> -o plan.json`. Nothing was run.',
    });
  return found;
}
