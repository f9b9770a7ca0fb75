/**
 * Where journals and locks live. The default is the operator's state directory (files); a team
 * can point every operator at one PostgreSQL database (RUNBOOK_STATE_URL or --state-url), so
 * runs are visible and exclusive across machines.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from '../planner/plan-types.js';
import { defaultStateDir, reopenJournal, runDir, startJournal, type JournalHandle } from './journal.js';
import { acquireFileLock, breakFileLock, listFileLocks, type HeldLock, type LockInfo, type LockKey, type LockOwner } from './lock.js';
import { parseRecords, type StoredRun } from './read.js';

export interface StateStore {
  /** For messages: a directory, or a database URL without its password. */
  readonly where: string;
  /** The option that selects this store again (for hints). */
  readonly option: string;
  createJournal(runId: string, plan: Plan, redact: (text: string) => string): Promise<JournalHandle>;
  reopenJournal(runId: string, redact: (text: string) => string): Promise<JournalHandle>;
  readRun(runId: string): Promise<StoredRun | null>;
  listRuns(): Promise<StoredRun[]>;
  /** Takes the lock of a runbook and target set, or throws `locked` (exit 8). */
  lock(key: LockKey, owner: LockOwner, resumeOf: string | null): Promise<HeldLock>;
  locks(): Promise<LockInfo[]>;
  breakLock(id: string, force: boolean): Promise<LockInfo>;
  close(): Promise<void>;
}

export interface StateOptions {
  stateDir?: string;
  stateUrl?: string;
}

/** --state-url, then --state-dir, then RUNBOOK_STATE_URL, then RUNBOOK_STATE_DIR / XDG_STATE_HOME. */
export async function openStateStore(options: StateOptions, env: NodeJS.ProcessEnv): Promise<StateStore> {
  const url = options.stateUrl ?? (options.stateDir ? undefined : env.RUNBOOK_STATE_URL || undefined);
  if (url) {
    const { openPgStore } = await import('./pg-store.js');
    return openPgStore(url);
  }
  return fileStore(options.stateDir ?? defaultStateDir(env));
}

export function fileStore(stateDir: string): StateStore {
  const read = (runId: string): StoredRun | null => {
    const dir = runDir(stateDir, runId);
    if (!existsSync(join(dir, 'events.jsonl'))) return null;
    let plan: Plan | null = null;
    try {
      plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as Plan;
    } catch {
      plan = null;
    }
    return { runId, plan, records: parseRecords(readFileSync(join(dir, 'events.jsonl'), 'utf8')) };
  };
  return {
    where: stateDir,
    option: ` --state-dir ${stateDir}`,
    createJournal: async (runId, plan, redact) => startJournal(stateDir, runId, plan, redact),
    reopenJournal: async (runId, redact) => reopenJournal(stateDir, runId, redact),
    readRun: async (runId) => (/^[\w.:-]+$/.test(runId) ? read(runId) : null),
    listRuns: async () => {
      let ids: string[];
      try {
        ids = readdirSync(join(stateDir, 'runs'));
      } catch {
        return [];
      }
      return ids.map(read).filter((r): r is StoredRun => r !== null);
    },
    lock: async (key, owner, resumeOf) => acquireFileLock(stateDir, key, owner, resumeOf),
    locks: async () => listFileLocks(stateDir),
    breakLock: async (id, force) => breakFileLock(stateDir, id, force),
    close: async () => {},
  };
}
