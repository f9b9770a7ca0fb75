/**
 * The loopback lab, from the test harness itself (compiled beside the bench): N sshd hosts on
 * 127.0.60.x/127.0.61.x and one PostgreSQL. Stopped on exit and on SIGINT/SIGTERM.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { startPostgres, type PgServer } from '../../test/harness/postgres.js';
import { startSshLab, type SshLab } from '../../test/harness/sshd.js';
import { TMP, log } from './context.js';

export interface Lab {
  ssh: SshLab;
  pg: PgServer;
}

let running: Partial<Lab> = {};
let cleaning: Promise<void> | undefined;

/** Stops the lab and removes the temporary directory (once, whoever calls first). */
export function stopLab(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([running.ssh?.stop().catch(() => undefined), running.pg?.stop().catch(() => undefined)]);
    rmSync(TMP, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping the lab`);
    void stopLab().then(() => process.exit(130));
  });
}

/** 127.0.60.1 ... 127.0.60.250, then 127.0.61.1 ...: one address per host. */
export function hostAddress(index: number): string {
  return `127.0.${60 + Math.floor(index / 250)}.${(index % 250) + 1}`;
}

export async function startLab(hostCount: number): Promise<Lab> {
  const hosts = Array.from({ length: hostCount }, (_, i) => ({ name: `h${String(i + 1).padStart(3, '0')}`, address: hostAddress(i) }));
  const [ssh, pg] = await Promise.all([
    startSshLab({ hosts, startTimeoutMs: 60_000 }),
    startPostgres({ settings: { max_connections: '50' } }),
  ]);
  running = { ssh, pg };
  log(`lab up: ${hostCount} sshd on port ${ssh.port}, PostgreSQL on ${pg.host}:${pg.port}`);
  return { ssh, pg };
}

/** Per step of the last run in a state directory, from its journal: when it ended, how long it took. */
export interface JournalPhases {
  events?: number;
  run_started_to_finished_ms?: number;
  steps?: Array<{ step: string; end_ms: number; duration_ms: number }>;
  error?: string;
}

export function journalPhases(stateDir: string): JournalPhases {
  try {
    const runsDir = path.join(stateDir, 'runs');
    const last = readdirSync(runsDir)
      .map((r) => path.join(runsDir, r))
      .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
      .at(-1);
    if (!last) return { error: 'no run recorded' };
    const events = readFileSync(path.join(last, 'events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; time: string; stepId?: string; durationMs?: number });
    const t0 = Date.parse(events[0]!.time);
    const steps = events
      .filter((e) => e.type === 'step-finished')
      .map((e) => ({ step: e.stepId ?? '?', end_ms: Date.parse(e.time) - t0, duration_ms: e.durationMs ?? 0 }));
    return { events: events.length, run_started_to_finished_ms: Date.parse(events.at(-1)!.time) - t0, steps };
  } catch (error) {
    return { error: String(error) };
  }
}
