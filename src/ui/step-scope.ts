/**
 * What a step acts on, in words: its role, how many entries and which. Shown wherever the operator
 * is asked to confirm, so a typed confirmation (often one host's name) never hides that the step
 * runs on every host of the role.
 */
import type { PlannedAction } from '../planner/plan-types.js';
import { getStepKind } from '../steps/registry.js';

const nouns = { hosts: 'host', database: 'database', http: 'endpoint' } as const;

export function describeScope(action: PlannedAction): string {
  const target = getStepKind(action.kind).target;
  if (target === 'none' || action.role === null) return action.kind === 'local' ? "the operator's machine" : 'the operator';
  const names = action.instances.map((i) => i.target ?? i.where);
  const noun = nouns[target];
  return `role ${action.role}: ${names.length} ${noun}${names.length === 1 ? '' : 's'} (${names.join(', ')})`;
}
