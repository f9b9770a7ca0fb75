/**
 * Where runbooks are found, without loading them: the shipped ones (src/runbooks), then
 * directories given with --runbooks or RUNBOOK_PATH (colon-separated). A later directory's
 * runbook with the same id replaces the shipped one, so an operator can adapt a procedure without
 * forking the tool. Kept apart from the loader (zod, yaml) so that every command can know the
 * directories, and `list` can read validated runbooks from the cache, without importing it.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Diagnostic } from '../core/errors.js';

export const shippedRunbooksDir = fileURLToPath(new URL('../../src/runbooks/', import.meta.url));

export function runbookDirs(extra: string[], env: NodeJS.ProcessEnv): string[] {
  const fromEnv = (env.RUNBOOK_PATH ?? '').split(':').filter(Boolean);
  return [shippedRunbooksDir, ...fromEnv, ...extra].map((d) => resolve(d));
}

export function yamlFilesIn(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}

export interface CatalogEntry<R> {
  file: string;
  runbook?: R;
  diagnostics: Diagnostic[];
}

/** Every runbook of the directories, by id (a later directory wins), then the files that do not load. */
export function catalogOf<R extends { spec: { id: string } }>(
  dirs: string[],
  load: (file: string) => { runbook?: R; diagnostics: Diagnostic[] },
): Array<CatalogEntry<R>> {
  const byId = new Map<string, CatalogEntry<R>>();
  const broken: Array<CatalogEntry<R>> = [];
  for (const dir of dirs) {
    for (const file of yamlFilesIn(dir)) {
      const { runbook, diagnostics } = load(file);
      if (runbook) byId.set(runbook.spec.id, { file, runbook, diagnostics });
      else broken.push({ file, diagnostics });
    }
  }
  return [...byId.values(), ...broken];
}
