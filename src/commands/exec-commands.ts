/** `runbook exec` and `runbook check`: plan, then run the plan in a session (session.ts). */
import type { RunSummary } from '../engine/executor.js';
import { RunbookError } from '../core/errors.js';
import { checkRunId } from '../journal/state-dir.js';
import type { CommandContext } from './context.js';
import { loadReviewedPlan, preparePlan, printWarnings } from './prepare.js';
import { runPrepared, type ExecOptions } from './session.js';

export async function execCommand(id: string, options: ExecOptions, ctx: CommandContext): Promise<RunSummary> {
  return run(id, options, ctx, 'exec');
}

export async function checkCommand(id: string, options: ExecOptions, ctx: CommandContext): Promise<RunSummary> {
  return run(id, options, ctx, 'check');
}

async function run(id: string, options: ExecOptions, ctx: CommandContext, mode: 'exec' | 'check'): Promise<RunSummary> {
  // The run id names a directory of the state directory: checked before anything is loaded.
  if (options.runId !== undefined) checkRunId(options.runId);
  if (options.plan) return runPrepared(loadReviewedPlan(options.plan, options.inventory, options.limit), options, ctx, mode);
  if (!options.inventory)
    throw new RunbookError('usage', `${mode} needs an inventory (-i <file>)`, { hint: 'Preview without one: runbook exec <id> --dry-run' });
  const prepared = await preparePlan(id, options, ctx);
  printWarnings(prepared, ctx);
  return runPrepared(prepared, options, ctx, mode);
}
