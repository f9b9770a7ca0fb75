/** Loading the runbooks of the catalog (catalog-files.ts says where they are). */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { RunbookError, ValidationError, type Diagnostic } from '../core/errors.js';
import { catalogOf, yamlFilesIn, type CatalogEntry } from './catalog-files.js';
import { loadRunbookFile, type LoadedRunbook } from './load.js';
import { didYouMean } from '../core/suggest.js';

export function loadCatalog(dirs: string[]): Array<CatalogEntry<LoadedRunbook>> {
  return catalogOf(dirs, loadRunbookFile);
}

/** A runbook by id, or by path to a YAML file; an invalid one is a validation error. */
export function findRunbook(idOrFile: string, dirs: string[]): LoadedRunbook {
  const { runbook, diagnostics } = locateRunbook(idOrFile, dirs);
  if (!runbook) throw new ValidationError(diagnostics);
  return runbook;
}

/**
 * The file of a runbook given by id or path, loaded: `runbook` when it is valid, else its
 * problems (for a caller that goes on to check the rest of its input). An unknown id is a
 * usage error.
 */
export function locateRunbook(idOrFile: string, dirs: string[]): { file: string; runbook?: LoadedRunbook; diagnostics: Diagnostic[] } {
  if (/\.ya?ml$/.test(idOrFile) || idOrFile.includes('/')) return { file: idOrFile, ...loadRunbookFile(idOrFile) };
  for (const dir of [...dirs].reverse()) {
    // The file named after the id first: the others need not be read at all.
    const named = [`${idOrFile}.yaml`, `${idOrFile}.yml`].map((f) => join(dir, f));
    for (const file of [...named.filter(isFile), ...yamlFilesIn(dir).filter((f) => !named.includes(f))]) {
      if (!isFile(file)) continue;
      const { runbook, diagnostics } = loadRunbookFile(file);
      if (runbook?.spec.id === idOrFile) return { file, runbook, diagnostics };
      if (!runbook && file.replace(/.*\//, '').replace(/\.ya?ml$/, '') === idOrFile) return { file, diagnostics };
    }
  }
  const ids = loadCatalog(dirs).flatMap((e) => (e.runbook ? [e.runbook.spec.id] : []));
  throw new RunbookError('usage', `no runbook "${idOrFile}"${didYouMean(idOrFile, ids)}`, {
    hint: 'Run `runbook list` to see the runbooks, or give the path of a YAML file.',
  });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
