/**
 * What every part of the bench shares: where the repository and the CLI are, the command-line
 * options, the temporary directory and the environment every measured tool runs with.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository: the first folder above this module with a package.json (the bench runs compiled from node_modules/.cache). */
function findRepo(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('bench: no package.json above the bench modules');
    dir = up;
  }
  return dir;
}

export const REPO = findRepo();
export const BENCH_DIR = path.join(REPO, 'bench');
export const CLI = path.join(REPO, 'bin', 'runbook.js');
export const STEPS = 5;

export type Workload = 'fanout' | 'sql' | 'cold' | 'profile';

export interface BenchOptions {
  /** Fewer repetitions and no 200-host round: for trying the script, not for figures. */
  quick: boolean;
  install: boolean;
  profile: boolean;
  keepProfiles: boolean;
  only: Workload[];
  out: string;
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  const only = (argv.find((a) => a.startsWith('--only=')) ?? '--only=').slice('--only='.length).split(',').filter(Boolean) as Workload[];
  const outIndex = argv.indexOf('--out');
  return {
    quick: argv.includes('--quick'),
    install: !argv.includes('--no-install'),
    profile: !argv.includes('--no-profile'),
    keepProfiles: argv.includes('--keep-profiles'),
    only,
    out: outIndex >= 0 && argv[outIndex + 1] ? path.resolve(argv[outIndex + 1]!) : path.join(BENCH_DIR, 'results.json'),
  };
}

export function wants(options: BenchOptions, workload: Workload): boolean {
  return options.only.length === 0 || options.only.includes(workload);
}

const started = Date.now();
export const elapsedSeconds = (): number => (Date.now() - started) / 1000;
export function log(message: string): void {
  process.stderr.write(`[bench ${elapsedSeconds().toFixed(0).padStart(3)}s] ${message}\n`);
}

/** Everything the bench generates goes below this folder, removed at the end. */
export const TMP = mkdtempSync(path.join(os.tmpdir(), 'runbook-bench-'));
const HOME = path.join(TMP, 'home');
mkdirSync(HOME, { recursive: true });

/**
 * Every tool runs with this environment: its own HOME (root's ~/.bashrc and ~/.ssh/config stay
 * out of the measurement), no ssh-agent, no colours.
 */
export const BASE_ENV: Record<string, string> = {
  PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
  HOME,
  LANG: 'C.UTF-8',
  NO_COLOR: '1',
  CI: 'true',
  TMPDIR: TMP,
};
