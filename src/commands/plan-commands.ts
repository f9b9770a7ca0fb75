/** `runbook plan` and `runbook exec --dry-run`: the resolved plan, nothing run. */
import { writeFileSync } from 'node:fs';
import { preflight } from '../engine/preflight.js';
import { checkSelection } from '../planner/selection.js';
import { renderPlan } from '../ui/render-plan.js';
import type { CommandContext } from './context.js';
import { planDocument, preparePlan, printWarnings, type PlanOptions, type Prepared } from './prepare.js';

export async function planCommand(
  id: string,
  options: PlanOptions & { output?: string; from?: string; only?: string },
  ctx: CommandContext,
): Promise<Prepared> {
  const prepared = await preparePlan(id, options, ctx);
  // The dry-run of a partial run shows what that run will leave out.
  const selection = { from: options.from ?? null, only: options.only ?? null };
  checkSelection(prepared.plan, selection);
  printWarnings(prepared, ctx);
  const json = planDocument(prepared.plan);
  if (options.output) {
    writeFileSync(options.output, json + '\n');
    if (!ctx.json) ctx.printError(`plan written to ${options.output} (digest ${(JSON.parse(json) as { digest: string }).digest})`);
  }
  if (ctx.json) ctx.print(json);
  else if (!options.output) {
    ctx.print(renderPlan(prepared.plan, ctx.style, selection));
    // What would stop this partial run before its first step, said now rather than at run time.
    const { problems } = preflight({ plan: prepared.plan, selection, completed: new Set(), unattended: null });
    for (const p of problems) ctx.printError(ctx.errStyle.yellow(`the run would stop before anything runs: ${p}`));
  }
  return prepared;
}
