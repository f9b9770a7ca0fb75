/** `runbook show`, `runbook validate`, `runbook schema` (`runbook list` is list-command.ts). */
import { statSync } from 'node:fs';
import { RunbookError, ValidationError, formatDiagnostic, type Diagnostic, type SkippedStage } from '../core/errors.js';
import { yamlFilesIn } from '../runbook/catalog-files.js';
import { inventoryJsonSchema, loadInventory } from '../inventory/inventory.js';
import { parseYamlText, readText } from '../core/yaml-source.js';
import { runbookJsonSchema } from '../runbook/schema.js';
import { renderRunbookDocument } from '../ui/render-document.js';
import type { CommandContext } from './context.js';
import { checkRunbook } from './input-checks.js';
import { preparePlan } from './prepare.js';

export async function showCommand(id: string, options: { inventory?: string; param?: string[] }, ctx: CommandContext): Promise<void> {
  const prepared = await preparePlan(id, options, ctx);
  if (ctx.json) {
    ctx.print(JSON.stringify({ runbook: prepared.runbook.spec, plan: prepared.plan }, null, 2));
    return;
  }
  ctx.print(renderRunbookDocument(prepared.runbook.spec, prepared.plan, ctx.style));
}

interface ValidationReport {
  file: string;
  valid: boolean;
  /** What the file is: a runbook or an inventory (told apart by its top-level fields). */
  kind: 'runbook' | 'inventory';
  id?: string;
  diagnostics: Diagnostic[];
  /** Stages that could not run because an earlier one failed (a runbook whose YAML does not parse). */
  skipped: SkippedStage[];
}

/**
 * Validates runbook and inventory files (or directories of them). A runbook: schema, rules and
 * a symbolic plan (references, templates). An inventory: schema and its own rules; the roles it
 * binds are checked against a runbook by `plan` and `exec --dry-run`.
 */
export function validateCommand(paths: string[], ctx: CommandContext): ValidationReport[] {
  const files = paths.flatMap((p) => (isDirectory(p) ? yamlFilesIn(p) : [p]));
  if (files.length === 0)
    throw new ValidationError([
      { severity: 'error', file: paths.join(' '), path: '', message: 'no runbook or inventory files (*.yaml) found' },
    ]);
  const reports = files.map((file) => (looksLikeInventory(file) ? validateInventory(file, ctx) : validateRunbook(file)));
  if (ctx.json) ctx.print(JSON.stringify(reports, null, 2));
  else {
    const c = ctx.style;
    for (const r of reports) {
      const what = r.kind === 'inventory' ? ' (inventory)' : r.id ? ` (${r.id})` : '';
      ctx.print(r.valid ? `${c.green('valid')}   ${r.file}${c.dim(what)}` : `${c.red('invalid')} ${r.file}${c.dim(what)}`);
      for (const d of r.diagnostics) ctx.print(`  ${d.severity === 'error' ? c.red(formatDiagnostic(d)) : c.yellow(formatDiagnostic(d))}`);
      for (const s of r.skipped) ctx.print(c.dim(`  skipped: ${s.stage} (${s.reason})`));
    }
  }
  return reports;
}

function validateRunbook(file: string): ValidationReport {
  const { runbook, diagnostics, skipped } = checkRunbook(file);
  return {
    file,
    kind: 'runbook',
    ...(runbook ? { id: runbook.spec.id } : {}),
    valid: !diagnostics.some((d) => d.severity === 'error'),
    diagnostics,
    skipped,
  };
}

function validateInventory(file: string, ctx: CommandContext): ValidationReport {
  try {
    loadInventory(file, ctx.env);
    return { file, kind: 'inventory', valid: true, diagnostics: [], skipped: [] };
  } catch (error) {
    if (error instanceof ValidationError)
      return { file, kind: 'inventory', valid: false, diagnostics: error.diagnostics, skipped: error.skipped };
    throw error;
  }
}

/** A runbook has `id` and `steps`; anything else at the top is taken for an inventory. */
function looksLikeInventory(file: string): boolean {
  // Unreadable or not YAML: the runbook loader says why, with a position.
  const { text } = readText(file);
  let top: unknown;
  try {
    top = text === undefined ? undefined : parseYamlText(file, text).source?.doc.toJS();
  } catch {
    return false;
  }
  return top !== null && typeof top === 'object' && !Array.isArray(top) && !('steps' in top) && !('id' in top);
}

export function schemaCommand(what: string, ctx: CommandContext): void {
  if (what !== 'runbook' && what !== 'inventory')
    throw new RunbookError('usage', `no schema for "${what}"`, { hint: 'runbook schema [runbook|inventory]' });
  ctx.print(JSON.stringify(what === 'inventory' ? inventoryJsonSchema() : runbookJsonSchema(), null, 2));
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
