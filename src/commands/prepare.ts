/** Load, resolve and plan: the shared front half of plan, exec, check and show. */
import { ValidationError, type Diagnostic } from '../errors.js';
import { buildPlan } from '../planner/planner.js';
import type { Plan } from '../planner/plan-types.js';
import { findRunbook } from '../runbook/catalog.js';
import { loadInventory, type Inventory } from '../runbook/inventory.js';
import type { LoadedRunbook } from '../runbook/load.js';
import { exampleParameters, resolveParameters } from '../runbook/params.js';
import type { CommandContext } from './context.js';
import { askParameter } from '../ui/prompts.js';

export interface PlanOptions {
  inventory?: string;
  /** An inventory built in memory instead of read from `inventory`. */
  inventoryLoaded?: Inventory;
  param?: string[];
  answer?: string[];
}

export interface Prepared {
  runbook: LoadedRunbook;
  inventory: Inventory | null;
  plan: Plan;
  warnings: Diagnostic[];
}

export function parseAssignments(items: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      throw new ValidationError([{ severity: 'error', file: '(command line)', path: flag, message: `expected ${flag} name=value, found ${JSON.stringify(item)}` }]);
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export async function preparePlan(id: string, options: PlanOptions, ctx: CommandContext): Promise<Prepared> {
  const runbook = findRunbook(id, ctx.runbookDirs);
  // A runbook with template errors is reported before the operator is asked for anything.
  const symbolic = exampleParameters(runbook.spec.parameters);
  const runbookErrors = buildPlan({ runbook, inventory: null, parameters: symbolic.values, parameterInfo: symbolic.info, answers: {} }).diagnostics.filter(
    (d) => d.severity === 'error',
  );
  if (runbookErrors.length) throw new ValidationError(runbookErrors);
  const inventory = options.inventoryLoaded ?? (options.inventory ? loadInventory(options.inventory) : null);
  const commandLine = parseAssignments(options.param, '--param');
  const answers = { ...(inventory?.answers ?? {}), ...parseAssignments(options.answer, '--answer') };
  const params = inventory || Object.keys(commandLine).length
    ? await resolveParameters(runbook.spec.parameters, {
        commandLine,
        inventory: inventory?.parameters ?? {},
        ...(inventory ? { inventoryFile: inventory.file } : {}),
        env: ctx.env,
        ...(ctx.interactive ? { ask: (name, spec) => askParameter(name, spec) } : {}),
      })
    : exampleParameters(runbook.spec.parameters);
  const errors = params.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new ValidationError(errors, 'Give the parameter values with --param name=value or in the inventory. Nothing was run.');
  const allStepIds = new Set([...runbook.spec.steps, ...runbook.spec.rollback].map((s) => s.id));
  const badAnswers = Object.keys(answers).filter((k) => !allStepIds.has(k));
  if (badAnswers.length) {
    throw new ValidationError(badAnswers.map((k) => ({ severity: 'error', file: '(answers)', path: k, message: `answer for unknown step "${k}"` })));
  }
  const { plan, diagnostics } = buildPlan({ runbook, inventory, parameters: params.values, parameterInfo: params.info, answers });
  const planErrors = diagnostics.filter((d) => d.severity === 'error');
  if (planErrors.length) throw new ValidationError(planErrors);
  return { runbook, inventory, plan, warnings: [...runbook.warnings, ...params.diagnostics, ...diagnostics].filter((d) => d.severity === 'warning') };
}
