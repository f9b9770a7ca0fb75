/**
 * Where journals and locks live. The default is the operator's state directory (files); a team
 * can point every operator at one PostgreSQL database (RUNBOOK_STATE_URL or --state-url), so
 * runs are visible and exclusive across machines.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultStateDir, reopenJournal, runDir, startJournal } from './journal.js';
import { acquireFileLock, breakFileLock, listFileLocks } from './lock.js';
import { storedRun, type StoredRun } from './read.js';
import type { StateOptions, StateStore } from './state-store.js';
import { checkRunId, checkStateDir, isRunId, checkSubdir, readStateFile, stateFsError } from './state-dir.js';

export type { StateOptions, StateStore } from './state-store.js';

/** --state-url, then --state-dir, then RUNBOOK_STATE_URL, then RUNBOOK_STATE_DIR / XDG_STATE_HOME. */
export async function openStateStore(options: StateOptions, env: NodeJS.ProcessEnv): Promise<StateStore> {
  const url = options.stateUrl ?? (options.stateDir ? undefined : env.RUNBOOK_STATE_URL || undefined);
  if (url) {
    const { openPgStore } = await import('./pg-store.js');
    return openPgStore(url);
  }
  return fileStore(options.stateDir ?? defaultStateDir(env));
}

/**
 * Journals and locks in a directory. It is checked before anything is read from it or written to
 * it (state-dir.ts): a directory someone else could write to is refused, so a plan, a journal or
 * a link planted there is never used.
 */
export function fileStore(stateDir: string): StateStore {
  /** Whether the directory exists (created when `create`); throws when it is unsafe. */
  const ready = (create: boolean) => checkStateDir(stateDir, create);
  const read = (runId: string): StoredRun | null => {
    const dir = runDir(stateDir, runId);
    if (!checkSubdir(join(stateDir, 'runs'), false) || !checkSubdir(dir, false)) return null;
    const events = readStateFile(join(dir, 'events.jsonl'));
    return events === null ? null : storedRun(runId, readStateFile(join(dir, 'plan.json')), events);
  };
  return {
    where: stateDir,
    option: ` --state-dir ${stateDir}`,
    createJournal: async (runId, plan, redact) => startJournal(stateDir, runId, plan, redact),
    reopenJournal: async (runId, redact) => reopenJournal(stateDir, runId, redact),
    readRun: async (runId) => {
      checkRunId(runId);
      return ready(false) ? read(runId) : null;
    },
    listRuns: async () => {
      if (!ready(false) || !checkSubdir(join(stateDir, 'runs'), false)) return [];
      let ids: string[];
      try {
        ids = readdirSync(join(stateDir, 'runs'));
      } catch (error) {
        throw stateFsError(error, 'list', join(stateDir, 'runs'));
      }
      // A name that is no run id was not made by runbook: it is not listed.
      return ids
        .filter(isRunId)
        .map(read)
        .filter((r): r is StoredRun => r !== null);
    },
    lock: async (key, owner, resumeOf) => {
      ready(true);
      return acquireFileLock(stateDir, key, owner, resumeOf);
    },
    locks: async () => (ready(false) ? listFileLocks(stateDir) : []),
    breakLock: async (id, force) => {
      ready(false);
      return breakFileLock(stateDir, id, force);
    },
    close: async () => {},
  };
}
