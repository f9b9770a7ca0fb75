/**
 * `runbook list`. Reads each runbook's validated form from the cache (compiled-cache.ts) without
 * importing the loader (YAML parser, zod schemas, step kinds, planner): those are most of a cold
 * start. Only when a runbook is not in the cache (first start after an install or an edit) is
 * the catalog loaded and validated in full, which also fills the cache for next time.
 */
import { catalogOf, type CatalogEntry } from '../runbook/catalog-files.js';
import { readRunbookText } from '../runbook/compiled-cache.js';
import type { RunbookSpec } from '../runbook/schema.js';
import type { CommandContext } from './context.js';

type Listed = CatalogEntry<{ spec: RunbookSpec }>;

/** The catalog from the cache alone, or undefined when any runbook file is not in it. */
function cachedCatalog(dirs: string[]): Listed[] | undefined {
  let complete = true;
  const entries = catalogOf(dirs, (file) => {
    const read = readRunbookText(file);
    if (!('diagnostic' in read) && read.compiled) return { runbook: { spec: read.compiled.spec }, diagnostics: read.compiled.warnings };
    complete = false;
    return { diagnostics: [] };
  });
  return complete ? entries : undefined;
}

export async function listCommand(ctx: CommandContext, options: { ids?: boolean } = {}): Promise<void> {
  const entries: Listed[] = cachedCatalog(ctx.runbookDirs) ?? (await import('../runbook/catalog.js')).loadCatalog(ctx.runbookDirs);
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
