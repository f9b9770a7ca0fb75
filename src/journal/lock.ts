/**
 * One run at a time per runbook and target set. The lock's key is the runbook id and the
 * appliances the plan addresses (without login names, so two operators with different users
 * still collide). The file store keeps one lock file per key, created exclusively; the holder's
 * pid, host, user and start time are in it, so a lock whose process is gone can be recognised
 * as stale and broken explicitly.
 */
import { createHash } from 'node:crypto';
import { linkSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RunbookError } from '../core/errors.js';
import type { Plan } from '../planner/plan-types.js';
import { checkSubdir, createExclusive, readStateFile, stateFsError } from './state-dir.js';

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

/**
 * When process `pid` started (clock ticks since boot, /proc/<pid>/stat field 22), or null where
 * there is no /proc. With the pid it names one process: a pid reused later is another one.
 */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** A lock is stale when its holder ran on this host and that process is gone (or its pid was reused). */
export function isStale(owner: Pick<LockOwner, 'host' | 'pid'> & { procStart?: string | null }): boolean {
  if (owner.host !== hostname()) return false;
  if (!isProcessAlive(owner.pid)) return true;
  const now = owner.procStart ? processStart(owner.pid) : null;
  return now !== null && now !== owner.procStart;
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
    const data = JSON.parse(readStateFile(file) ?? '') as Omit<LockInfo, 'stale'> & { procStart?: string | null };
    const info: Omit<LockInfo, 'stale'> & { procStart?: string | null } = { ...data };
    delete info.procStart;
    return { ...info, stale: isStale(data) };
  } catch (error) {
    if (error instanceof RunbookError) throw error;
    return null;
  }
}

/**
 * Takes the lock or throws `locked` (exit 8). A stale lock held by `resumeOf` (the run being
 * resumed, killed earlier on this host) is taken over; any other stale lock needs an explicit break.
 */
export function acquireFileLock(stateDir: string, key: LockKey, owner: LockOwner, resumeOf: string | null): HeldLock {
  const dir = locksDir(stateDir);
  checkSubdir(dir, true);
  const file = join(dir, `${key.id}.lock`);
  const procStart = owner.pid === process.pid ? processStart(owner.pid) : null;
  const content = JSON.stringify({ id: key.id, runbook: key.runbook, targets: key.targets, ...owner, procStart }, null, 2) + '\n';
  let takenOver: LockInfo | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    // Written aside, then linked into place: the lock appears atomically, with its content.
    const tmp = `${file}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    createExclusive(tmp, content);
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
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw stateFsError(error, 'take the lock', file);
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
  if (!checkSubdir(locksDir(stateDir), false)) return [];
  let names: string[];
  try {
    names = readdirSync(locksDir(stateDir)).filter((n) => n.endsWith('.lock'));
  } catch {
    return [];
  }
  return names.map((n) => readLock(join(locksDir(stateDir), n))).filter((l): l is LockInfo => l !== null);
}

/**
 * Breaks a lock by id. One whose holder still runs on this host is never broken, --force or not
 * (a second run beside a live one is what the lock is for); one held from another host, whose
 * holder cannot be checked from here, needs `force`.
 */
export function breakFileLock(stateDir: string, id: string, force: boolean): LockInfo {
  const name = id.replace(/\.lock$/, '');
  if (!/^[\w.-]+$/.test(name) || name.startsWith('.'))
    throw new RunbookError('usage', `invalid lock id ${JSON.stringify(id)}`, { hint: 'runbook runs --json lists the locks.' });
  const file = join(locksDir(stateDir), `${name}.lock`);
  const current = readLock(file);
  if (!current) throw new RunbookError('usage', `no lock ${id} in ${stateDir}`, { hint: 'runbook runs --json lists the locks.' });
  if (!current.stale && (current.host === hostname() || !force)) {
    const alive = current.host === hostname();
    throw new RunbookError(
      'locked',
      `lock ${id} is held by run ${current.runId} (pid ${current.pid} on ${current.host}), ${alive ? 'which is still running on this host' : 'on another host; runbook cannot tell whether it still runs'}`,
      {
        hint: alive
          ? `Wait for it to end, or stop it first (Ctrl-C in its terminal, or kill ${current.pid}); --force never breaks the lock of a live run.`
          : `Make sure that run is over, then add --force to break it.`,
      },
    );
  }
  rmSync(file, { force: true });
  return current;
}
