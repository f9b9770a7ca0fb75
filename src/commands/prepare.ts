/** Load, resolve and plan: the shared front half of plan, exec, check and show. */
import { formatDiagnostic, RunbookError, ValidationError, type Diagnostic } from '../core/errors.js';
import { planDigest } from '../journal/chain.js';
import { readInputFile } from '../core/input-file.js';
import { buildPlan } from '../planner/planner.js';
import { readPlanFile } from '../planner/plan-file.js';
import { PLAN_FORMAT_VERSION, type Plan } from '../planner/plan-types.js';
import { loadInventory, type Inventory } from '../inventory/inventory.js';
import { loadRunbookFile, type LoadedRunbook } from '../runbook/load.js';
import type { CommandContext } from './context.js';
import { checkInputs, type InputOptions } from './input-checks.js';
import { describeEndpoint, SshConfigResolver } from '../targets/ssh-config.js';

export interface PlanOptions extends InputOptions {
  /** --limit: comma-separated host entries or host roles. */
  limit?: string;
}

export interface Prepared {
  runbook: LoadedRunbook;
  inventory: Inventory | null;
  plan: Plan;
  warnings: Diagnostic[];
}

/**
 * The plan of a runbook for an inventory and parameters. Every stage of the input is checked
 * first and all their problems are reported together (input-checks.ts); then the plan binds
 * roles to inventory entries, applies --limit and renders every template.
 */
export async function preparePlan(id: string, options: PlanOptions, ctx: CommandContext): Promise<Prepared> {
  const { runbook, inventory, params, answers } = await checkInputs(id, options, ctx);
  const { plan, diagnostics } = buildPlan({
    runbook,
    inventory,
    parameters: params.values,
    parameterInfo: params.info,
    answers,
    ...(inventory ? { hostEndpoints: resolveHostEndpoints(inventory) } : {}),
    ...(options.limit !== undefined
      ? {
          limit: options.limit
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        }
      : {}),
  });
  const planErrors = diagnostics.filter((d) => d.severity === 'error');
  if (planErrors.length) throw new ValidationError(planErrors);
  return {
    runbook,
    inventory,
    plan,
    warnings: [...runbook.warnings, ...params.diagnostics, ...diagnostics].filter((d) => d.severity === 'warning'),
  };
}

/**
 * The JSON form of a plan (`plan --json`, `plan -o`), sealed with the digest of its content: a
 * plan edited after review (a command changed by hand) no longer matches it and is not executed.
 */
export function planDocument(plan: Plan): string {
  return JSON.stringify({ ...plan, digest: planDigest(JSON.stringify(plan, null, 2)) }, null, 2);
}

const REVIEW_AGAIN = 'Nothing was run. Make and review a new plan: runbook plan <id> -i <inventory> -o plan.json';

/**
 * A plan written by `runbook plan -o` and reviewed: executed as it is, provided its digest still
 * matches its content and the runbook and the inventory are still the ones it was made from
 * (their hashes match).
 */
export function loadReviewedPlan(file: string, inventoryFile: string | undefined, limit?: string): Prepared {
  if (limit !== undefined)
    throw new RunbookError('usage', `--limit with --plan: a reviewed plan runs on the hosts it was made for`, {
      hint: 'Make the plan with the limit and review it: runbook plan <id> -i <inventory> --limit <hosts> -o plan.json',
    });
  const read = readInputFile(file);
  if (read.diagnostic) throw new ValidationError([read.diagnostic], 'Give the plan file written by runbook plan -o. Nothing was run.');
  let sealed: unknown;
  try {
    sealed = JSON.parse(read.text);
  } catch (error) {
    throw new RunbookError('invalid', `cannot read the plan ${file}: ${(error as Error).message}`, { hint: REVIEW_AGAIN });
  }
  if (typeof sealed !== 'object' || sealed === null || Array.isArray(sealed))
    throw new RunbookError(
      'invalid',
      `${file} is not a plan: it holds ${sealed === null ? 'null' : Array.isArray(sealed) ? 'an array' : `a ${typeof sealed}`}`,
      {
        hint: REVIEW_AGAIN,
      },
    );
  const { digest, ...content } = sealed as Record<string, unknown>;
  if (content.formatVersion === PLAN_FORMAT_VERSION && digest !== planDigest(JSON.stringify(content, null, 2))) {
    throw new RunbookError(
      'invalid',
      digest === undefined
        ? `the plan ${file} carries no digest, so runbook cannot tell whether it is the plan that was reviewed`
        : `the plan ${file} was changed after it was written: its content no longer matches its digest ${String(digest)}`,
      { hint: REVIEW_AGAIN },
    );
  }
  if (content.formatVersion !== PLAN_FORMAT_VERSION) {
    throw new RunbookError(
      'invalid',
      `${file} is a plan of format ${String(content.formatVersion)}; this runbook reads format ${PLAN_FORMAT_VERSION}`,
      { hint: 'Make the plan again with this version: runbook plan <id> -o plan.json' },
    );
  }
  // The digest matches, but a digest can be written again by hand: the content is checked too.
  const plan = readPlanFile(content, file);
  const { runbook, diagnostics } = loadRunbookFile(plan.runbook.file);
  if (!runbook) throw new ValidationError(diagnostics);
  const inventory = loadInventory(inventoryFile ?? plan.inventory?.file ?? '');
  const changed = [
    runbook.hash !== plan.runbook.hash ? `the runbook ${plan.runbook.file}` : null,
    inventory.hash !== plan.inventory?.hash ? `the inventory ${inventory.file}` : null,
  ].filter(Boolean);
  if (changed.length) {
    throw new RunbookError('invalid', `${changed.join(' and ')} changed since the plan ${file} was made`, {
      hint: 'Review a new plan: runbook plan <id> -i <inventory> -o plan.json',
    });
  }
  return { runbook, inventory, plan, warnings: [] };
}

/** Each inventory host as ssh will reach it (ssh_config applied), for the dry-run to show. */
function resolveHostEndpoints(inventory: Inventory): Record<string, string> {
  const names = Object.keys(inventory.hosts);
  if (!names.length) return {};
  const config = new SshConfigResolver(inventory.hosts, { configFile: inventory.ssh?.configFile });
  return Object.fromEntries(names.map((name) => [name, describeEndpoint(config.resolve(name))]));
}

/** The plan's warnings, on standard error, before it is shown or run. */
export function printWarnings(prepared: Prepared, ctx: CommandContext): void {
  for (const w of prepared.warnings) ctx.printError(ctx.errStyle.yellow(formatDiagnostic(w)));
}
