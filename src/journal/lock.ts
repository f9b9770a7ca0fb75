/**
 * One run at a time per runbook and target set. The lock's key is the runbook id and the
 * appliances the plan addresses (without login names, so two operators with different users
 * still collide). The file store keeps one lock file per key, created exclusively; the holder's
 * pid, host, user and start time are in it, so a lock whose process is gone can be recognised
 * as stale and broken explicitly.
 */
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RunbookError } from '../errors.js';
import type { Plan } from '../planner/plan-types.js';

export interface LockKey {
  /** Short, file-name safe: `<runbook>-<hash of the target set>`. */
  id: string;
  runbook: string;
  targets: string[];
}

export interface LockOwner {
  runId: string;
  pid: number;
  host: string;
  user: string;
  since: string;
}

export interface LockInfo extends LockOwner {
  id: string;
  runbook: string;
  targets: string[];
  /** Whether its holder is known to be gone (same host, no such process). */
  stale: boolean;
}

export interface HeldLock {
  id: string;
  /** The stale lock this one replaced (resume of the same run), if any. */
  takenOver: LockInfo | null;
  release(): Promise<void>;
}

export function lockKey(plan: Plan): LockKey {
  const targets = [
    ...new Set(
      Object.values(plan.targets)
        .flatMap((t) => t.entries.map((e) => e.where))
        .map((where) => where.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^@/]+@/i, '$1')),
    ),
  ].sort();
  const hash = createHash('sha256')
    .update(JSON.stringify([plan.runbook.id, targets]))
    .digest('hex')
    .slice(0, 12);
  return { id: `${plan.runbook.id}-${hash}`, runbook: plan.runbook.id, targets };
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function isStale(owner: Pick<LockOwner, 'host' | 'pid'>): boolean {
  return owner.host === hostname() && !isProcessAlive(owner.pid);
}

export function lockedError(info: LockInfo, where: string): RunbookError {
  const holder = `run ${info.runId} (pid ${info.pid} on ${info.host}, ${info.user}, since ${info.since})`;
  if (info.stale) {
    return new RunbookError('locked', `${info.runbook} on these targets is locked by ${holder}, whose process is gone`, {
      hint: `Continue that run with: runbook resume ${info.runId}${where}\nOr, if it must not continue, break the stale lock: runbook runs --break-lock ${info.id}${where}`,
    });
  }
  return new RunbookError('locked', `${info.runbook} on these targets is being run by ${holder}`, {
    hint: `Wait until it ends (runbook runs shows it), or ask ${info.user} on ${info.host}. Nothing was run.`,
  });
}

function locksDir(stateDir: string): string {
  return join(stateDir, 'locks');
}

function readLock(file: string): LockInfo | null {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as Omit<LockInfo, 'stale'>;
    return { ...data, stale: isStale(data) };
  } catch {
    return null;
  }
}

/**
 * Takes the lock or throws `locked` (exit 8). A stale lock held by `resumeOf` (the run being
 * resumed, killed earlier on this host) is taken over; any other stale lock needs an explicit break.
 */
export function acquireFileLock(stateDir: string, key: LockKey, owner: LockOwner, resumeOf: string | null): HeldLock {
  const dir = locksDir(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${key.id}.lock`);
  const content = JSON.stringify({ id: key.id, runbook: key.runbook, targets: key.targets, ...owner }, null, 2) + '\n';
  let takenOver: LockInfo | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    // Written aside, then linked into place: the lock appears atomically, with its content.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, content, { mode: 0o600 });
    try {
      linkSync(tmp, file);
      rmSync(tmp, { force: true });
      let released = false;
      return {
        id: key.id,
        takenOver,
        release: async () => {
          if (released) return;
          released = true;
          // Only remove the file if it is still ours (an operator may have broken it).
          if (readLock(file)?.runId === owner.runId && readLock(file)?.pid === owner.pid) rmSync(file, { force: true });
        },
      };
    } catch (error) {
      rmSync(tmp, { force: true });
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const current = readLock(file);
    if (!current)
      throw new RunbookError('locked', `the lock file ${file} is unreadable`, { hint: `Check it; remove it by hand if no run holds it.` });
    if (current.stale && resumeOf && current.runId === resumeOf) {
      takenOver = current;
      rmSync(file, { force: true });
      continue;
    }
    throw lockedError(current, '');
  }
  throw new RunbookError('locked', `could not take the lock ${key.id}`, {
    hint: 'Another run is starting on the same targets; try again.',
  });
}

export function listFileLocks(stateDir: string): LockInfo[] {
  let names: string[];
  try {
    names = readdirSync(locksDir(stateDir)).filter((n) => n.endsWith('.lock'));
  } catch {
    return [];
  }
  return names.map((n) => readLock(join(locksDir(stateDir), n))).filter((l): l is LockInfo => l !== null);
}

/** Breaks a lock by id; refuses one whose holder still runs on this host unless `force`. */
export function breakFileLock(stateDir: string, id: string, force: boolean): LockInfo {
  const file = join(locksDir(stateDir), `${id.replace(/\.lock$/, '')}.lock`);
  const current = readLock(file);
  if (!current) throw new RunbookError('usage', `no lock ${id} in ${stateDir}`, { hint: 'runbook runs --json lists the locks.' });
  if (!current.stale && !force) {
    const alive = current.host === hostname();
    throw new RunbookError(
      'locked',
      `lock ${id} is held by run ${current.runId} (pid ${current.pid} on ${current.host}), ${alive ? 'which is still running' : 'on another host; runbook cannot tell whether it still runs'}`,
      {
        hint: alive ? 'Wait for it to end, or stop it first.' : `Make sure that run is over, then add --force to break it.`,
      },
    );
  }
  rmSync(file, { force: true });
  return current;
}
