/**
 * The state directory is where resume takes its plan from and where locks live, so nobody but
 * its owner may be able to steer it: it must belong to the user running runbook and be writable
 * by nobody else, and every file in it is created exclusively and opened without following
 * symbolic links. Failures of the file system itself (disk full, read-only, permissions) become
 * typed `state` errors (exit 10) that say what to do, never an "internal error".
 */
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { userInfo } from 'node:os';
import { RunbookError } from '../core/errors.js';

/** Run ids name a directory: letters, digits, `.`, `_`, `-`; no leading dot, no `..`, at most 200. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export const isRunId = (id: string): boolean => RUN_ID.test(id) && !id.includes('..');

export function checkRunId(id: string): string {
  if (isRunId(id)) return id;
  throw new RunbookError('usage', `invalid run id ${JSON.stringify(id)}`, {
    hint: 'A run id is 1 to 200 letters, digits, ".", "_" or "-", starting with a letter or digit, without "..".',
  });
}

const me = (): number => process.geteuid?.() ?? process.getuid?.() ?? 0;

function ownerName(uid: number): string {
  if (uid === me()) return userInfo().username;
  return `uid ${uid}`;
}

/**
 * Why `st` (the state directory or one of its subdirectories) is unsafe, or null. A directory
 * owned by another user, or one that group or others may write to, lets someone else plant a
 * plan, a forged journal or a symbolic link that a later run would follow.
 */
function unsafeBecause(path: string, st: Stats): string | null {
  if (!st.isDirectory()) return `${path} is not a directory`;
  if (st.uid !== me()) return `${path} belongs to ${ownerName(st.uid)}, not to ${userInfo().username}: that user could steer your runs`;
  if (st.mode & 0o022)
    return `${path} is writable by ${st.mode & 0o020 ? 'its group' : ''}${(st.mode & 0o022) === 0o022 ? ' and ' : ''}${st.mode & 0o002 ? 'other users' : ''} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): they could plant files in it`;
  return null;
}

function refuseUnsafe(reason: string): RunbookError {
  return new RunbookError('state', `unsafe state directory: ${reason}`, {
    hint: 'Use a state directory that only you own and can write (chmod 700), with --state-dir <dir> or RUNBOOK_STATE_DIR. Nothing was written there.',
  });
}

/**
 * Checks the state directory (creating it 0700 when `create` and it is missing). Returns false
 * when it does not exist and was not to be created. The directory itself may be reached through
 * a symbolic link of the operator's own (or root's); everything inside is checked without following links.
 */
export function checkStateDir(dir: string, create: boolean): boolean {
  let link: Stats;
  try {
    link = lstatSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw stateFsError(error, 'read the state directory', dir);
    if (!create) return false;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (mkdirError) {
      throw stateFsError(mkdirError, 'create the state directory', dir);
    }
    link = lstatSync(dir);
  }
  if (link.isSymbolicLink() && link.uid !== me() && link.uid !== 0)
    throw refuseUnsafe(`${dir} is a symbolic link owned by ${ownerName(link.uid)}`);
  let target = link;
  try {
    if (link.isSymbolicLink()) target = statSync(dir);
  } catch (error) {
    throw stateFsError(error, 'follow the link', dir);
  }
  const reason = unsafeBecause(dir, target);
  if (reason) throw refuseUnsafe(reason);
  return true;
}

/** A subdirectory of the state directory (runs/, locks/, runs/<id>/): created 0700, never a link. */
export function checkSubdir(path: string, create: boolean): boolean {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw stateFsError(error, 'read', path);
    if (!create) return false;
    makePrivateDir(path);
    st = lstatSync(path);
  }
  if (st.isSymbolicLink()) throw refuseUnsafe(`${path} is a symbolic link`);
  const reason = unsafeBecause(path, st);
  if (reason) throw refuseUnsafe(reason);
  return true;
}

/** Creates one directory 0700; throws EEXIST as it is (a run directory must be new). */
export function makePrivateDir(path: string): void {
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw error;
    throw stateFsError(error, 'create', path);
  }
}

const NOFOLLOW = constants.O_NOFOLLOW;

/** Creates a new file 0600 with this content and fsyncs it; fails if anything (a link too) is there. */
export function createExclusive(path: string, content: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
  } catch (error) {
    throw stateFsError(error, 'create', path);
  }
  try {
    writeFully(fd, content, path);
    fsyncSync(fd);
  } catch (error) {
    throw stateFsError(error, 'write', path);
  } finally {
    closeSync(fd);
  }
}

/** Opens a journal for appending: created exclusively when `create`, never through a link. */
export function openForAppend(path: string, create: boolean): number {
  const flags = constants.O_RDWR | constants.O_APPEND | NOFOLLOW | (create ? constants.O_CREAT | constants.O_EXCL : 0);
  let fd: number;
  try {
    fd = openSync(path, flags, 0o600);
  } catch (error) {
    throw stateFsError(error, create ? 'create' : 'open', path);
  }
  const st = fstatSync(fd);
  if (!st.isFile() || st.uid !== me()) {
    closeSync(fd);
    throw refuseUnsafe(`${path} is not a regular file of yours`);
  }
  return fd;
}

/** Reads a file of the state directory without following a link; null when it does not exist. */
export function readStateFile(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw refuseUnsafe(`${path} is a symbolic link`);
    throw stateFsError(error, 'read', path);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw refuseUnsafe(`${path} is not a regular file`);
    const chunks: Buffer[] = [];
    const buffer = Buffer.alloc(1 << 16);
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) chunks.push(Buffer.from(buffer.subarray(0, n)));
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Writes all of `text` (a single write may be partial, on a nearly full disk for one). */
export function writeFully(fd: number, text: string, path: string): void {
  const data = Buffer.from(text);
  let done = 0;
  while (done < data.length) {
    const n = writeSync(fd, data, done, data.length - done);
    if (n <= 0) throw stateFsError(Object.assign(new Error('short write'), { code: 'EIO' }), 'write', path);
    done += n;
  }
}

/**
 * A file system error in the state directory as the operator needs it: what happened, where, and
 * what to do. Errors that are already typed pass through.
 */
export function stateFsError(error: unknown, action: string, path: string, runId?: string): RunbookError {
  if (error instanceof RunbookError) return error;
  const e = error as NodeJS.ErrnoException;
  const detail = `cannot ${action} ${path}`;
  switch (e.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new RunbookError('state', `${detail}: ${e.code === 'ENOSPC' ? 'no space left on the device' : 'disk quota exceeded'}`, {
        hint: `Free space there (df -h ${path}). What was journaled before stays readable${runId ? `; then continue the run: runbook resume ${runId}` : '.'}`,
        cause: error,
      });
    case 'EROFS':
      return new RunbookError('state', `${detail}: the file system is read-only`, {
        hint: 'Use a writable state directory: --state-dir <dir> or RUNBOOK_STATE_DIR.',
        cause: error,
      });
    case 'EACCES':
    case 'EPERM':
      return new RunbookError('state', `${detail}: permission denied for ${userInfo().username}`, {
        hint: 'Use a state directory you own: --state-dir <dir> or RUNBOOK_STATE_DIR.',
        cause: error,
      });
    case 'EEXIST':
    case 'ELOOP':
      return refuseUnsafe(
        `${path} already exists${e.code === 'ELOOP' ? ' as a symbolic link' : ''}; runbook never writes through an existing file or link`,
      );
    default:
      return new RunbookError('state', `${detail}: ${e.message}`, {
        hint: 'Check the state directory (--state-dir or RUNBOOK_STATE_DIR) and the disk that holds it.',
        cause: error,
      });
  }
}
