/**
 * The interface of a state store (journals and locks), apart from store.ts so that the PostgreSQL
 * store implements it without importing the module that picks a store.
 */
import type { Plan } from '../planner/plan-types.js';
import type { JournalHandle } from './journal.js';
import type { HeldLock, LockInfo, LockKey, LockOwner } from './lock.js';
import type { StoredRun } from './read.js';

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
