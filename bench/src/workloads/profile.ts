/**
 * One run of each main case under `node --cpu-prof`, summarised: self time by module and by
 * function, and inclusive time of the project's own functions and of each dependency entered
 * from them (a sample counted once per function on its stack). "(idle)" is waiting on I/O.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, CLI, REPO, TMP, log } from '../context.js';
import { measure, round } from '../measure.js';
import { largestShippedRunbook } from './cold.js';
import { fanOut20Files } from './fanout.js';
import { sql201Files } from './sql.js';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  wall_s: number | null;
  cpu_s: number | null;
  sampled_ms: number | null;
  by_module: Array<{ name: string; ms: number | null; pct: number | null }>;
  top_functions: Array<{ name: string; ms: number | null; pct: number | null }>;
  inclusive: Array<{ name: string; ms: number | null; pct: number | null }>;
}

function summariseProfile(file: string): Omit<ProfileSummary, 'wall_s' | 'cpu_s'> {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const repoUrl = pathToFileURL(REPO).href + '/';
  const moduleOf = (url: string, name: string): string => {
    if (!url) return name.startsWith('(') ? name : '(native/builtin)';
    if (url.startsWith('node:')) return 'node internals';
    return /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? url.replace(repoUrl, '');
  };
  const frameKey = (cf: CpuProfile['nodes'][number]['callFrame']): string =>
    `${cf.functionName || '(anonymous)'} ${moduleOf(cf.url, cf.functionName)}:${cf.lineNumber + 1}`;
  const self = new Map<string, number>();
  const byModule = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, us: number): void => void map.set(key, (map.get(key) ?? 0) + us);
  let total = 0;
  prof.samples.forEach((id, i) => {
    const us = prof.timeDeltas[i] ?? 0;
    total += us;
    const cf = byId.get(id)!.callFrame;
    add(byModule, moduleOf(cf.url, cf.functionName), us);
    add(self, frameKey(cf), us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const isOwn = f.url.startsWith(repoUrl) && !f.url.includes('/node_modules/');
      const key = isOwn ? frameKey(f) : f.url.includes('/node_modules/') ? `[${moduleOf(f.url, '')}] (all of it)` : null;
      if (key && !seen.has(key)) {
        seen.add(key);
        add(inclusive, key, us);
      }
    }
  });
  const top = (map: Map<string, number>, k: number): ProfileSummary['by_module'] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, us]) => ({ name, ms: round(us / 1000, 1), pct: round((100 * us) / total, 1) }));
  return { sampled_ms: round(total / 1000, 1), by_module: top(byModule, 12), top_functions: top(self, 15), inclusive: top(inclusive, 20) };
}

export async function runProfiles(keep: boolean): Promise<Record<string, ProfileSummary>> {
  log('profiles (--cpu-prof)');
  const state = ['--yes', '--state-dir', path.join(TMP, 'prof-state')];
  const fan = fanOut20Files();
  const sql = sql201Files();
  const largest = largestShippedRunbook();
  const cases: Record<string, { args: string[]; env?: Record<string, string>; needs?: string }> = {
    fanout20: { args: ['exec', fan.runbook, '-i', fan.inventory, ...state], needs: fan.runbook },
    sql201: { args: ['exec', sql.runbook, '-i', sql.inventory, ...state], env: sql.env, needs: sql.runbook },
    version: { args: ['--version'] },
    list: { args: ['list'] },
    dryrun: { args: ['exec', largest.id, '--dry-run', '-i', largest.inventory] },
  };
  const out: Record<string, ProfileSummary> = {};
  for (const [name, c] of Object.entries(cases)) {
    if (c.needs && !existsSync(c.needs)) continue; // that workload was not run (--only)
    const dir = path.join(TMP, `prof-${name}`);
    mkdirSync(dir, { recursive: true });
    const m = await measure('node', ['--cpu-prof', '--cpu-prof-dir', dir, CLI, ...c.args], { env: c.env, label: `profile ${name}` });
    const file = path.join(
      dir,
      readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!,
    );
    out[name] = { wall_s: round(m.wall_s), cpu_s: round(m.user_s + m.sys_s), ...summariseProfile(file) };
    if (keep) {
      mkdirSync(path.join(BENCH_DIR, 'profiles'), { recursive: true });
      copyFileSync(file, path.join(BENCH_DIR, 'profiles', `${name}.cpuprofile`));
    }
  }
  return out;
}
