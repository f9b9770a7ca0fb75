/**
 * `--from <step>` and `--only <step>`: which steps of a plan an exceptional run takes. One place
 * decides it for the executor and for the dry-run, so the preview shows what the run will do.
 */
import { RunbookError } from '../core/errors.js';
import type { Plan } from './plan-types.js';

export interface Selection {
  from: string | null;
  only: string | null;
}

/** Refuses a --from or --only that names no step of the plan. */
export function checkSelection(plan: Plan, selection: Selection): void {
  const ids = plan.steps.map((s) => s.id);
  for (const [flag, value] of [
    ['--from', selection.from],
    ['--only', selection.only],
  ] as const) {
    if (value && !ids.includes(value))
      throw new RunbookError('usage', `${flag} ${value}: no such step`, { hint: `Steps: ${ids.join(', ')}` });
  }
}

/** Why a step is left out by the selection, or null when it runs. */
export function notSelected(plan: Plan, stepId: string, selection: Selection): string | null {
  const step = plan.limit ? plan.steps.find((s) => s.id === stepId) : undefined;
  if (step?.action.role && step.action.instances.length === 0) return `no host of --limit in role ${step.action.role}`;
  if (selection.only) return stepId === selection.only ? null : `not selected (--only ${selection.only})`;
  if (selection.from) {
    const ids = plan.steps.map((s) => s.id);
    if (ids.indexOf(stepId) < ids.indexOf(selection.from)) return `before --from ${selection.from}`;
  }
  return null;
}

/** Preconditions describe the state before the first step: a partial run does not check them. */
export const selectsAll = (selection: Selection): boolean => !selection.from && !selection.only;
