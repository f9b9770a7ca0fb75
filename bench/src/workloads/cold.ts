/**
 * Cold start: `node -e 0`, `runbook --version`, `runbook list` and the dry-run of the largest
 * shipped runbook, with the cache of validated runbooks warm (as after any first use) and cold
 * (`RUNBOOK_NO_CACHE=1`: the first start after an install or an edit).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { BASE_ENV, CLI, REPO, log } from '../context.js';
import { measure, millisSpread, roundRobin, type MillisSpread } from '../measure.js';

export interface ColdResults {
  version_ms: number | null;
  list_ms: number | null;
  list_cache_cold_ms: number | null;
  dryrun_ms: number | null;
  dryrun_cache_cold_ms: number | null;
  node_ms: number | null;
  dryrun_command: string;
  dryrun_runbook_bytes: number;
  list_count: number | null;
  list_bytes: number;
  detail: Record<string, MillisSpread>;
}

/** The largest shipped runbook that has an example inventory (`fixtures/inventories/<id>.yaml`). */
export function largestShippedRunbook(): { id: string; file: string; inventory: string; size: number } {
  const dir = path.join(REPO, 'src', 'runbooks');
  const found = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => ({ file: path.join(dir, f), size: statSync(path.join(dir, f)).size }))
    .sort((a, b) => b.size - a.size);
  for (const f of found) {
    const id = /^id:\s*['"]?([A-Za-z0-9_-]+)/m.exec(readFileSync(f.file, 'utf8'))?.[1];
    const inventory = path.join(REPO, 'fixtures', 'inventories', `${id}.yaml`);
    if (id && existsSync(inventory)) return { id, inventory, ...f };
  }
  throw new Error('bench: no shipped runbook has an example inventory in fixtures/inventories');
}

function shippedRunbooks(): { count: number | null; bytes: number } {
  const dir = path.join(REPO, 'src', 'runbooks');
  const bytes = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .reduce((sum, f) => sum + statSync(path.join(dir, f)).size, 0);
  try {
    const listed = JSON.parse(execFileSync('node', [CLI, 'list', '--json'], { encoding: 'utf8', env: BASE_ENV })) as unknown[];
    return { count: listed.length, bytes };
  } catch {
    return { count: null, bytes };
  }
}

export async function runColdStart(quick: boolean): Promise<ColdResults> {
  const largest = largestShippedRunbook();
  const dryArgs = [CLI, 'exec', largest.id, '--dry-run', '-i', largest.inventory];
  const noCache = { env: { RUNBOOK_NO_CACHE: '1' } };
  log(`cold start (dry-run of ${largest.id})`);
  const m = await roundRobin(
    {
      node: () => measure('node', ['-e', '0']),
      version: () => measure('node', [CLI, '--version'], { label: 'runbook --version' }),
      list: () => measure('node', [CLI, 'list'], { label: 'runbook list' }),
      dryrun: () => measure('node', dryArgs, { label: 'runbook exec --dry-run' }),
      list_cache_cold: () => measure('node', [CLI, 'list'], { ...noCache, label: 'runbook list (no cache)' }),
      dryrun_cache_cold: () => measure('node', dryArgs, { ...noCache, label: 'runbook exec --dry-run (no cache)' }),
    },
    () => (quick ? 5 : 11),
  );
  const detail = Object.fromEntries(Object.entries(m).map(([k, list]) => [k, millisSpread(list)]));
  const shipped = shippedRunbooks();
  const results: ColdResults = {
    version_ms: detail.version!.median_ms,
    list_ms: detail.list!.median_ms,
    list_cache_cold_ms: detail.list_cache_cold!.median_ms,
    dryrun_ms: detail.dryrun!.median_ms,
    dryrun_cache_cold_ms: detail.dryrun_cache_cold!.median_ms,
    node_ms: detail.node!.median_ms,
    dryrun_command: `runbook exec ${largest.id} --dry-run -i ${path.relative(REPO, largest.inventory)}`,
    dryrun_runbook_bytes: largest.size,
    list_count: shipped.count,
    list_bytes: shipped.bytes,
    detail,
  };
  log(`  node ${results.node_ms} ms, --version ${results.version_ms} ms, list ${results.list_ms} ms, dry-run ${results.dryrun_ms} ms`);
  return results;
}
