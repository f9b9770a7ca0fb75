/**
 * `runbook attach <run-id>`: re-attaches to the detached step a run left running, shows its log
 * from where the reading stopped, waits for its exit status, judges it (and its verification),
 * and stops there; `runbook resume` goes on with the next steps. With --kill the programs are
 * killed first, after a typed confirmation (or --confirm-kill without a terminal), and the
 * journal records it.
 */
import { RunbookError } from '../core/errors.js';
import type { RunSummary } from '../engine/executor.js';
import type { PlannedStep } from '../planner/plan-types.js';
import { askTyped } from '../ui/prompts.js';
import type { CommandContext } from './context.js';
import { resumeCommand, type ResumeOptions } from './resume-command.js';

export interface AttachOptions extends Omit<ResumeOptions, 'attach' | 'unknown' | 'force'> {
  kill?: boolean;
  confirmKill?: string;
}

export async function attachCommand(runId: string, options: AttachOptions, ctx: CommandContext): Promise<RunSummary> {
  const { kill, confirmKill, ...rest } = options;
  const confirm = kill ? (step: PlannedStep, targets: string[]) => confirmKilling(step, targets, confirmKill, ctx) : null;
  return resumeCommand(runId, { ...rest, attach: { confirmKill: confirm } }, ctx);
}

async function confirmKilling(step: PlannedStep, targets: string[], typedFlag: string | undefined, ctx: CommandContext): Promise<void> {
  const expected = targets.join(',');
  const what = `kill the detached program of step ${step.id} (${step.title}) on ${targets.length} target(s): ${expected}`;
  let typed = typedFlag;
  if (typed === undefined) {
    if (!ctx.interactive)
      throw new RunbookError('aborted', `--kill needs a typed confirmation, but there is no terminal to ask`, {
        hint: `Pass --confirm-kill ${expected} to ${what}.`,
      });
    typed = await askTyped(`This will ${what}. Type "${expected}" to kill it (anything else aborts):`);
  }
  if (typed.trim() !== expected)
    throw new RunbookError('aborted', `not killed: the confirmation "${typed.trim()}" is not "${expected}"`, {
      hint: 'Nothing was killed; the program goes on. runbook attach without --kill waits for it.',
    });
}
