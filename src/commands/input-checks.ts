/**
 * Every validation stage of a command's input at once: the runbook (YAML syntax, schema, rules,
 * references and templates), the inventory, the command line (--param, --answer) and the
 * parameter values. Each stage that can still run does, so that one run of the command shows
 * every problem; a stage that needs one that failed is named as skipped. Nothing is contacted.
 */
import { ValidationError, type Diagnostic, type SkippedStage } from '../core/errors.js';
import { loadInventory, type Inventory } from '../inventory/inventory.js';
import { buildPlan } from '../planner/planner.js';
import { locateRunbook } from '../runbook/catalog.js';
import { loadRunbookForValidation, skippedAfter, type LoadedRunbook } from '../runbook/load.js';
import { exampleParameters, resolveParameters, type ResolvedParameters } from '../runbook/params.js';
import { askParameter } from '../ui/prompts.js';
import type { CommandContext } from './context.js';

/** What the checks of one runbook file found: the runbook as far as it loads, and its problems. */
export interface RunbookCheck {
  /** Present when the runbook got through the schema (it is runnable only without errors). */
  runbook?: LoadedRunbook;
  diagnostics: Diagnostic[];
  skipped: SkippedStage[];
}

/**
 * A runbook file through every stage it can reach, the symbolic plan (references, templates)
 * included. `valid` is the result of loading it already (a valid runbook needs nothing more).
 */
export function checkRunbook(file: string, valid?: LoadedRunbook): RunbookCheck {
  const { runbook, diagnostics, stop } = valid
    ? { runbook: valid, diagnostics: valid.warnings, stop: undefined }
    : loadRunbookForValidation(file);
  if (!runbook) return { diagnostics, skipped: stop ? skippedAfter(stop) : [] };
  const symbolic = exampleParameters(runbook.spec.parameters);
  const planned = buildPlan({ runbook, inventory: null, parameters: symbolic.values, parameterInfo: symbolic.info, answers: {} });
  const seen = (d: Diagnostic) => diagnostics.some((e) => e.message === d.message && e.line === d.line);
  return { runbook, diagnostics: [...diagnostics, ...planned.diagnostics.filter((d) => !seen(d))], skipped: [] };
}

export interface InputOptions {
  inventory?: string;
  /** An inventory built in memory instead of read from `inventory`. */
  inventoryLoaded?: Inventory;
  param?: string[];
  answer?: string[];
}

export interface CheckedInputs {
  runbook: LoadedRunbook;
  inventory: Inventory | null;
  params: ResolvedParameters;
  answers: Record<string, string>;
}

const isError = (d: Diagnostic) => d.severity === 'error';

/**
 * The runbook, inventory, parameters and answers of a command, every stage checked; throws one
 * ValidationError with the problems of all of them. A missing parameter is asked for on a
 * terminal only once everything else is valid.
 */
export async function checkInputs(id: string, options: InputOptions, ctx: CommandContext): Promise<CheckedInputs> {
  const located = locateRunbook(id, ctx.runbookDirs);
  const checked = checkRunbook(located.file, located.runbook);
  const problems = checked.diagnostics.filter(isError);
  const skipped = [...checked.skipped];

  let inventory = options.inventoryLoaded ?? null;
  if (!inventory && options.inventory !== undefined) {
    try {
      inventory = loadInventory(options.inventory, ctx.env);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      problems.push(...error.diagnostics.filter(isError));
      skipped.push(...error.skipped);
    }
  }
  const inventoryFailed = options.inventory !== undefined && !inventory;
  const commandLine = assignments(options.param, '--param', problems);
  const answers = { ...(inventory?.answers ?? {}), ...assignments(options.answer, '--answer', problems) };

  const runbook = checked.runbook;
  if (!runbook) {
    skipped.push({ stage: 'parameters and answers', reason: "the runbook's parameter and step definitions do not load" });
    throw new ValidationError(problems, undefined, skipped);
  }
  const clean = problems.length === 0;
  const params =
    inventory || inventoryFailed || Object.keys(commandLine).length
      ? await resolveParameters(runbook.spec.parameters, {
          commandLine,
          inventory: inventory?.parameters ?? {},
          ...(inventory ? { inventoryFile: inventory.file, inventorySource: inventory.source } : {}),
          env: ctx.env,
          ...(clean && ctx.interactive ? { ask: (name, spec) => askParameter(name, spec) } : {}),
          reportMissing: !inventoryFailed && (clean || !ctx.interactive),
        })
      : exampleParameters(runbook.spec.parameters);
  if (inventoryFailed) skipped.push({ stage: 'parameter values from the inventory', reason: 'the inventory does not load' });
  const parameterProblems = params.diagnostics.filter(isError);
  problems.push(...parameterProblems);
  const stepIds = new Set([...runbook.spec.steps, ...runbook.spec.rollback].map((s) => s.id));
  for (const k of Object.keys(answers).filter((k) => !stepIds.has(k)))
    problems.push({ severity: 'error', file: '(answers)', path: k, message: `answer for unknown step "${k}"` });
  if (problems.length) {
    const onlyParameters = problems.length === parameterProblems.length && !skipped.length;
    throw new ValidationError(
      problems,
      onlyParameters ? 'Give the parameter values with --param name=value or in the inventory. Nothing was run.' : undefined,
      [...skipped, { stage: 'the plan: roles bound to the inventory, hosts, --limit', reason: 'the problems above come first' }],
    );
  }
  return { runbook, inventory, params, answers };
}

/** `name=value` items of a repeatable flag; a malformed one is a problem of the command line. */
function assignments(items: string[] | undefined, flag: string, problems: Diagnostic[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0)
      problems.push({
        severity: 'error',
        file: '(command line)',
        path: flag,
        message: `expected ${flag} name=value, found ${JSON.stringify(item)}`,
      });
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
