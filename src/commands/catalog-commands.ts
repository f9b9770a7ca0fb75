/** `runbook list`, `runbook show`, `runbook validate`, `runbook schema`. */
import { statSync } from 'node:fs';
import { ValidationError, formatDiagnostic, type Diagnostic } from '../errors.js';
import { buildPlan } from '../planner/planner.js';
import { loadCatalog, yamlFilesIn } from '../runbook/catalog.js';
import { loadRunbookFile } from '../runbook/load.js';
import { exampleParameters } from '../runbook/params.js';
import { runbookJsonSchema } from '../runbook/schema.js';
import { renderRunbookDocument } from '../ui/render-document.js';
import type { CommandContext } from './context.js';
import { preparePlan } from './prepare.js';

export function listCommand(ctx: CommandContext, options: { ids?: boolean } = {}): void {
  const entries = loadCatalog(ctx.runbookDirs);
  if (options.ids) {
    for (const e of entries) if (e.runbook) ctx.print(e.runbook.spec.id);
    return;
  }
  if (ctx.json) {
    ctx.print(
      JSON.stringify(
        entries.map((e) =>
          e.runbook
            ? {
                id: e.runbook.spec.id,
                title: e.runbook.spec.title,
                version: e.runbook.spec.version,
                file: e.file,
                steps: e.runbook.spec.steps.length,
                valid: true,
              }
            : { file: e.file, valid: false, diagnostics: e.diagnostics },
        ),
        null,
        2,
      ),
    );
    return;
  }
  const c = ctx.style;
  const valid = entries.filter((e) => e.runbook);
  const width = Math.max(2, ...valid.map((e) => e.runbook?.spec.id.length ?? 0));
  for (const e of valid) {
    const rb = e.runbook!.spec;
    ctx.print(`${c.bold(rb.id.padEnd(width))}  ${rb.title} ${c.dim(`(${rb.steps.length} steps, v${rb.version})`)}`);
  }
  for (const e of entries.filter((x) => !x.runbook)) ctx.print(c.red(`invalid: ${e.file} (run \`runbook validate ${e.file}\`)`));
}

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
  id?: string;
  diagnostics: Diagnostic[];
}

/** Validates runbook files (or directories of them): schema, rules, and a symbolic plan. */
export function validateCommand(paths: string[], ctx: CommandContext): ValidationReport[] {
  const files = paths.flatMap((p) => (isDirectory(p) ? yamlFilesIn(p) : [p]));
  if (files.length === 0)
    throw new ValidationError([{ severity: 'error', file: paths.join(' '), path: '', message: 'no runbook files (*.yaml) found' }]);
  const reports = files.map((file): ValidationReport => {
    const { runbook, diagnostics } = loadRunbookFile(file);
    if (!runbook) return { file, valid: false, diagnostics };
    const params = exampleParameters(runbook.spec.parameters);
    const planned = buildPlan({ runbook, inventory: null, parameters: params.values, parameterInfo: params.info, answers: {} });
    const all = [...diagnostics, ...planned.diagnostics];
    return { file, id: runbook.spec.id, valid: !all.some((d) => d.severity === 'error'), diagnostics: all };
  });
  if (ctx.json) ctx.print(JSON.stringify(reports, null, 2));
  else {
    const c = ctx.style;
    for (const r of reports) {
      ctx.print(r.valid ? `${c.green('valid')}   ${r.file}${r.id ? c.dim(` (${r.id})`) : ''}` : `${c.red('invalid')} ${r.file}`);
      for (const d of r.diagnostics) ctx.print(`  ${d.severity === 'error' ? c.red(formatDiagnostic(d)) : c.yellow(formatDiagnostic(d))}`);
    }
  }
  return reports;
}

export function schemaCommand(ctx: CommandContext): void {
  ctx.print(JSON.stringify(runbookJsonSchema(), null, 2));
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
