/**
 * Every file read by path (runbook, inventory, reviewed plan): only a regular file, no larger than
 * a limit no real one comes near, and valid UTF-8. `-i /dev/zero` would otherwise grow without
 * end, a FIFO would hang `validate`, and a stray byte would surface later as a mojibake value.
 */
import { isUtf8 } from 'node:buffer';
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { RunbookError, type Diagnostic } from './errors.js';

/** Far above any runbook, inventory or plan (a plan of hundreds of hosts is a few MB). */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

/** `missing`: there is no file at that path (a problem for a runbook, normal for ~/.ssh/config). */
export type InputRead = { text: string; diagnostic?: undefined } | { text?: undefined; diagnostic: Diagnostic; missing?: boolean };

export function readInputFile(file: string): InputRead {
  const problem = (message: string, line?: number, column?: number): Extract<InputRead, { diagnostic: Diagnostic }> => ({
    diagnostic: { severity: 'error', file, path: '', message, ...(line === undefined ? {} : { line, column: column ?? 1 }) },
  });
  let fd: number;
  try {
    // Non-blocking: opening a FIFO must not wait for a writer.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return { ...problem('file not found'), missing: true };
    return problem(e.code === 'EACCES' ? 'permission denied' : e.message);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return problem(`${describeKind(st)}, not a regular file: give the path of a file`);
    if (st.size > MAX_INPUT_BYTES)
      return problem(`${formatSize(st.size)}, larger than the ${formatSize(MAX_INPUT_BYTES)} an input file may be`);
    const buffer = Buffer.alloc(Math.min(st.size, MAX_INPUT_BYTES) + 1);
    let length = 0;
    for (let n = 1; n > 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null);
    // The file grew while it was read (it is being written): too large either way.
    if (length > MAX_INPUT_BYTES) return problem(`larger than the ${formatSize(MAX_INPUT_BYTES)} an input file may be`);
    const bytes = buffer.subarray(0, length);
    const bad = isUtf8(bytes) ? -1 : firstInvalidUtf8(bytes);
    if (bad >= 0) {
      const before = bytes.subarray(0, bad).toString('utf8');
      const line = before.split('\n').length;
      const column = [...before.slice(before.lastIndexOf('\n') + 1)].length + 1;
      return problem(`invalid UTF-8 (byte 0x${bytes[bad]!.toString(16).padStart(2, '0')}): save the file as UTF-8`, line, column);
    }
    return { text: bytes.toString('utf8') };
  } catch (error) {
    return problem((error as Error).message);
  } finally {
    closeSync(fd);
  }
}

/**
 * A file read for the operator's tools rather than given as input: ssh_config and its Includes,
 * known_hosts, identity and CA files, pg_service.conf. The same checks as readInputFile, so a
 * FIFO or a device there fails at once, naming the file and its use, instead of a read that
 * never returns. Most are optional (ssh reads ~/.ssh/config if there is one): missing is undefined;
 * /dev/null reads as empty, as in ssh.
 */
export function readOptionalConfigFile(file: string, use: string): string | undefined {
  // `ssh -F /dev/null`, `UserKnownHostsFile /dev/null`: the usual way to say "none".
  if (resolve(file) === '/dev/null') return '';
  const read = readInputFile(file);
  if (read.text !== undefined) return read.text;
  if (read.missing) return undefined;
  throw new RunbookError('invalid', `cannot read the ${use} ${file}: ${read.diagnostic.message}`, {
    hint: `Give the path of the ${use} itself (a regular file), or remove the setting that names it.`,
  });
}

/** A file that must be there (a CA file the inventory names). */
export function readConfigFile(file: string, use: string): string {
  const text = readOptionalConfigFile(file, use);
  if (text !== undefined) return text;
  throw new RunbookError('invalid', `cannot read the ${use} ${file}: file not found`, {
    hint: `Check the path of the ${use} in the inventory.`,
  });
}

function describeKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MiB` : `${bytes} bytes`;
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629), or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    const more = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : 0;
    // Not a lead byte, or a sequence cut off by the end of the file.
    if (more === 0 || i + more >= bytes.length) return i;
    for (let k = 1; k <= more; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    const next = bytes[i + 1]!;
    // Overlong forms, UTF-16 surrogates and code points above U+10FFFF.
    if ((b === 0xe0 && next < 0xa0) || (b === 0xed && next > 0x9f) || (b === 0xf0 && next < 0x90) || (b === 0xf4 && next > 0x8f)) return i;
    i += more + 1;
  }
  return -1;
}
