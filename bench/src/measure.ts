/** Timing and statistics: one command under measure.py, round-robin repetitions, medians. */
import { execFile, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BASE_ENV, BENCH_DIR, TMP, log } from './context.js';

const execFileAsync = promisify(execFile);

/** What measure.py reports for one process (and the children it waited for). */
export interface Measurement {
  wall_s: number;
  maxrss_kb: number;
  user_s: number;
  sys_s: number;
  rc: number;
}

export interface MeasureOptions {
  env?: Record<string, string>;
  cwd?: string;
  label?: string;
}

/** Runs a command under measure.py: wall time, peak RSS and CPU time. Rejects on a non-zero exit. */
export async function measure(cmd: string, args: readonly string[], opts: MeasureOptions = {}): Promise<Measurement> {
  const out = path.join(TMP, 'last-output.txt');
  const { stdout } = await execFileAsync(
    'python3',
    [path.join(BENCH_DIR, 'measure.py'), '--cwd', opts.cwd ?? TMP, '--stdout', out, '--', cmd, ...args],
    { env: { ...BASE_ENV, ...opts.env }, maxBuffer: 1 << 20 },
  );
  const m = JSON.parse(stdout) as Measurement;
  if (m.rc !== 0) {
    const text = [out, `${out}.err`].map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : '')).join('');
    throw new Error(`${opts.label ?? cmd} exited ${m.rc}:\n${text.slice(-3000)}`);
  }
  return m;
}

export type Tools = Record<string, () => Promise<Measurement>>;

/**
 * Each tool once, untimed (warm-up, where `warmUp` says so), then rounds of every tool in turn,
 * so that drift in the machine's load hits all tools alike.
 */
export async function roundRobin(
  tools: Tools,
  repsFor: (name: string) => number,
  warmUp: (name: string) => boolean = () => true,
): Promise<Record<string, Measurement[]>> {
  const results: Record<string, Measurement[]> = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
  for (const [name, tool] of Object.entries(tools)) {
    if (!warmUp(name) || repsFor(name) === 0) continue;
    log(`  warm-up ${name}`);
    await tool();
  }
  const rounds = Math.max(...Object.keys(tools).map(repsFor));
  for (let round = 0; round < rounds; round++) {
    for (const [name, tool] of Object.entries(tools)) {
      if (round < repsFor(name)) results[name]!.push(await tool());
    }
  }
  return results;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export const spread = (xs: readonly number[]): Spread => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });

export function round(x: number | null | undefined, digits = 3): number | null {
  return x === null || x === undefined || Number.isNaN(x) || !Number.isFinite(x) ? null : Number(x.toFixed(digits));
}

/** Seconds, as stored in results.json. */
export interface SecondsSpread {
  median_s: number | null;
  min_s: number | null;
  max_s: number | null;
  n: number;
}

export function secondsSpread(list: readonly Measurement[]): SecondsSpread {
  const s = spread(list.map((x) => x.wall_s));
  return { median_s: round(s.median), min_s: round(s.min), max_s: round(s.max), n: s.n };
}

/** Milliseconds, as stored in results.json. */
export interface MillisSpread {
  median_ms: number | null;
  min_ms: number | null;
  max_ms: number | null;
  n: number;
}

export function millisSpread(list: readonly Measurement[]): MillisSpread {
  const s = spread(list.map((x) => x.wall_s * 1000));
  return { median_ms: round(s.median, 1), min_ms: round(s.min, 1), max_ms: round(s.max, 1), n: s.n };
}

export const medianWall = (list: readonly Measurement[]): number => median(list.map((x) => x.wall_s));
export const medianCpu = (list: readonly Measurement[]): number => median(list.map((x) => x.user_s + x.sys_s));

/** The first line a tool prints for its version, or null. */
export function toolVersion(cmd: string, args: readonly string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: BASE_ENV });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || null;
}

export interface DiskFsync {
  fsync_ms: number | null;
  filesystem: string | null;
}

/** The cost of one fsync of an appended line on the temporary directory's disk (the journals'). */
export function measureDiskFsync(): DiskFsync {
  const file = path.join(TMP, 'fsync-probe');
  const fd = openSync(file, 'a');
  const n = 100;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    writeSync(fd, `{"type":"probe","i":${i}}\n`);
    fsyncSync(fd);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
  closeSync(fd);
  const df = spawnSync('df', ['-T', TMP], { encoding: 'utf8' }).stdout;
  return { fsync_ms: round(ms, 3), filesystem: df.trim().split('\n')[1]?.split(/\s+/)[1] ?? null };
}
