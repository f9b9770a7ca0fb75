/**
 * What a run needs answered before its first change, checked before anything runs: an operator
 * who has to be asked half-way (with no terminal to ask on) or a condition that depends on a
 * step this run leaves out would otherwise stop the run after earlier steps changed something,
 * or silently skip a gated destructive step.
 */
import { conditionLeaves, type StepOutcome } from '../planner/conditions.js';
import type { Plan, PlannedStep } from '../planner/plan-types.js';
import { notSelected, type Selection } from '../planner/selection.js';

export interface PreflightInput {
  plan: Plan;
  selection: Selection;
  /** Steps that completed in an earlier session (resume): they do not run again. */
  completed: ReadonlySet<string>;
  /** Without a terminal, what the flags answer; null when an operator can be asked. */
  unattended: UnattendedFlags | null;
}

/** What the command line answers in a run without a terminal. */
export interface UnattendedFlags {
  yes: boolean;
  allowDestructive: boolean;
  /** Manual `attest` steps attested with --attest. */
  attested?: readonly string[];
}

export interface Preflight {
  /** One line per unanswered need, saying which flag answers it. */
  problems: string[];
  /** Outcomes the operator gave (--answer) for left-out steps that conditions depend on. */
  answered: Map<string, StepOutcome>;
}

const STATUSES = ['succeeded', 'failed', 'skipped'] as const;

/** The main steps this run may execute, then the rollback steps their failures may run. */
function stepsThatMayRun(input: PreflightInput): { main: PlannedStep[]; rollback: PlannedStep[] } {
  const { plan, selection, completed } = input;
  const main = plan.steps.filter(
    (s) => !completed.has(s.id) && notSelected(plan, s.id, selection) === null && s.condition.decided !== 'skip',
  );
  const rollbackIds = new Set(main.flatMap((s) => (s.onFailure.mode === 'rollback' ? s.onFailure.rollback : [])));
  return { main, rollback: plan.rollback.filter((s) => rollbackIds.has(s.id) && s.condition.decided !== 'skip') };
}

/** What an unattended run lacks to take this step without stopping. */
function unattendedNeed(step: PlannedStep, answer: string | undefined, flags: UnattendedFlags): string | null {
  const attest = step.kind === 'manual' && step.action.instances.some((i) => i.data.attest === true);
  if (attest && !flags.attested?.includes(step.id))
    return `manual step ${step.id} must be attested by the operator: run on a terminal, or --attest ${step.id} once it is true`;
  if (step.kind === 'manual' && !attest && answer === undefined)
    return `manual step ${step.id} needs the operator: run on a terminal, or --answer ${step.id}=done for a rehearsal`;
  if (step.kind === 'prompt' && answer === undefined) return `prompt step ${step.id} asks a question: --answer ${step.id}=<value>`;
  if (step.confirm.mode === 'typed' && step.destructive && !(flags.yes && flags.allowDestructive))
    return `step ${step.id} is destructive: --yes --allow-destructive`;
  if (step.confirm.mode !== 'none' && !flags.yes) return CONFIRMATION;
  return null;
}

/** Said once for all the steps that need it. */
const CONFIRMATION = 'confirmation';

/**
 * The outcome the operator gave for a left-out step: a prompt step's answer is its value; any
 * other step's answer says how it ended (succeeded, failed or skipped; `done` = succeeded).
 */
function answeredOutcome(step: PlannedStep, answer: string): StepOutcome | null {
  if (step.kind === 'prompt') return { status: 'succeeded', value: answer };
  if (answer === 'done') return { status: 'succeeded' };
  return (STATUSES as readonly string[]).includes(answer) ? { status: answer as StepOutcome['status'] } : null;
}

function selectionText(selection: Selection): string {
  return selection.only ? `--only ${selection.only}` : `--from ${selection.from}`;
}

export function preflight(input: PreflightInput): Preflight {
  const { plan, selection, completed, unattended } = input;
  const problems: string[] = [];
  const answered = new Map<string, StepOutcome>();
  const { main, rollback } = stepsThatMayRun(input);
  for (const step of main) {
    for (const leaf of step.condition.runtime ? conditionLeaves(step.condition.runtime) : []) {
      const ref = leaf.step === undefined ? undefined : plan.steps.find((s) => s.id === leaf.step);
      if (!ref || completed.has(ref.id) || answered.has(ref.id) || notSelected(plan, ref.id, selection) === null) continue;
      const answer = plan.answers[ref.id];
      const outcome = answer === undefined ? null : answeredOutcome(ref, answer);
      if (outcome) answered.set(ref.id, outcome);
      else
        problems.push(
          `step ${step.id} runs only if ${step.condition.text}, but step ${ref.id} does not run this time (${selectionText(selection)})` +
            (answer === undefined ? '' : ` and --answer ${ref.id}=${answer} is not an outcome`) +
            `: say how it ended with --answer ${ref.id}=${ref.kind === 'prompt' ? '<its answer>' : STATUSES.join('|')}`,
        );
    }
  }
  if (unattended) {
    const toConfirm: string[] = [];
    for (const step of [...main, ...rollback]) {
      const need = unattendedNeed(step, plan.answers[step.id], unattended);
      const name = step.phase === 'rollback' ? `${step.id} (rollback step)` : step.id;
      if (need === CONFIRMATION) toConfirm.push(name);
      else if (need) problems.push(step.phase === 'rollback' ? `${need} (rollback step)` : need);
    }
    if (toConfirm.length)
      problems.unshift(
        `${toConfirm.length === 1 ? 'step' : 'steps'} ${toConfirm.join(', ')} ${toConfirm.length === 1 ? 'needs' : 'need'} a confirmation and there is no terminal to ask: --yes`,
      );
  }
  return { problems, answered };
}
