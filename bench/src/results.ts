/** The shape of bench/results.json: one run, every figure from it. */
import type { DiskFsync } from './measure.js';
import type { ColdResults } from './workloads/cold.js';
import type { FanOutResults } from './workloads/fanout.js';
import type { ProfileSummary } from './workloads/profile.js';
import type { SqlResults } from './workloads/sql.js';

export interface Machine {
  hostname: string;
  cpu: string;
  cores: number;
  memory_gb: number | null;
  os: string;
  distro: string | null;
  node: string;
  openssh: string | null;
  pssh: string | null;
  ansible: string | null;
  psql: string | null;
  runbook: string;
  git_commit: string | null;
  /** Uncommitted changes in the work tree when the bench ran. */
  git_dirty: boolean;
  load_avg_at_start: Array<number | null>;
  load_avg_at_end?: Array<number | null>;
}

export interface Target {
  name: string;
  value: number | null;
  target: string;
  met: boolean | null;
}

export interface BenchResults {
  date: string;
  quick: boolean;
  machine: Machine;
  /** One fsync of an appended line on the journals' disk, taken between workloads. */
  disk: Record<string, DiskFsync>;
  fanout?: FanOutResults;
  sql?: SqlResults;
  cold?: ColdResults;
  profile?: Record<string, ProfileSummary>;
  targets?: Target[];
  duration_s?: number | null;
}
