/**
 * OpenSSH known_hosts checking. An unknown key stops the run unless the operator chose
 * --accept-new-host-keys (then it is recorded, like OpenSSH's accept-new); a changed key always
 * stops it. Plain and hashed (|1|salt|hash) host entries are understood; @revoked keys never pass.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { RunbookError } from '../core/errors.js';
import { readOptionalConfigFile } from '../core/input-file.js';

interface KnownHostLine {
  patterns: string[];
  hashed: { salt: Buffer; hash: Buffer } | null;
  keyType: string;
  key: string;
  revoked: boolean;
}

export function hostPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function fingerprint(keyBase64OrBuffer: string | Buffer): string {
  const raw = typeof keyBase64OrBuffer === 'string' ? Buffer.from(keyBase64OrBuffer, 'base64') : keyBase64OrBuffer;
  return 'SHA256:' + createHash('sha256').update(raw).digest('base64').replace(/=+$/, '');
}

function parse(text: string): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0]?.startsWith('@')) {
      revoked = fields[0] === '@revoked';
      if (fields[0] === '@cert-authority') continue;
      fields.shift();
    }
    const [hosts, keyType, key] = fields;
    if (!hosts || !keyType || !key) continue;
    let hashed: KnownHostLine['hashed'] = null;
    if (hosts.startsWith('|1|')) {
      const [, , salt, hash] = hosts.split('|');
      hashed = { salt: Buffer.from(salt ?? '', 'base64'), hash: Buffer.from(hash ?? '', 'base64') };
    }
    lines.push({ patterns: hashed ? [] : hosts.split(','), hashed, keyType, key, revoked });
  }
  return lines;
}

function globMatch(pattern: string, text: string): boolean {
  const regex = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
    'i',
  );
  return regex.test(text);
}

function matches(line: KnownHostLine, names: string[]): boolean {
  if (line.hashed) {
    const { salt, hash } = line.hashed;
    return names.some((n) => createHmac('sha1', salt).update(n).digest().equals(hash));
  }
  let matched = false;
  for (const p of line.patterns) {
    const negated = p.startsWith('!');
    const pattern = negated ? p.slice(1) : p;
    if (names.some((n) => globMatch(pattern, n))) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

export type HostKeyVerdict = 'known' | 'unknown' | 'changed' | 'revoked';

export function checkHostKey(knownHostsText: string, host: string, port: number, keyType: string, key: Buffer): HostKeyVerdict {
  const names = [hostPattern(host, port)];
  const presented = key.toString('base64');
  const entries = parse(knownHostsText).filter((l) => matches(l, names));
  if (entries.some((e) => e.revoked && e.key === presented)) return 'revoked';
  if (entries.some((e) => !e.revoked && e.key === presented)) return 'known';
  // A different key of the same type is a changed key; a key of another type only is unknown.
  if (entries.some((e) => !e.revoked && e.keyType === keyType)) return 'changed';
  return 'unknown';
}

export interface HostKeyPolicy {
  /** The user's known_hosts files (UserKnownHostsFile); new keys are recorded in the first. */
  userFiles: string[];
  /** Read-only system files (GlobalKnownHostsFile). */
  globalFiles?: string[];
  acceptNew: boolean;
}

function readAll(files: string[]): string {
  return files.map((file) => readOptionalConfigFile(file, 'known_hosts file') ?? '').join('\n');
}

/** Verifies (and with accept-new, records) a host key; throws a typed error otherwise. */
export function verifyHostKey(policy: HostKeyPolicy, hostName: string, address: string, port: number, key: Buffer): void {
  const text = readAll([...policy.userFiles, ...(policy.globalFiles ?? [])]);
  const recordIn = policy.userFiles[0];
  const keyType = key.subarray(4, 4 + key.readUInt32BE(0)).toString();
  const verdict = checkHostKey(text, address, port, keyType, key);
  const fp = fingerprint(key);
  if (verdict === 'known') return;
  if (verdict === 'changed' || verdict === 'revoked') {
    throw new RunbookError(
      'host-key',
      `the SSH host key of ${hostName} (${hostPattern(address, port)}) has ${verdict === 'changed' ? 'CHANGED' : 'been REVOKED'}: presented ${keyType} ${fp}. This may be an attack (or the appliance was reinstalled). Nothing was run on it.`,
      {
        hint: `Verify the new fingerprint out of band, then remove the old entry: ssh-keygen -R '${hostPattern(address, port)}'${recordIn ? ` -f ${recordIn}` : ''}`,
      },
    );
  }
  const files = [...policy.userFiles, ...(policy.globalFiles ?? [])].join(', ') || 'no known_hosts file (UserKnownHostsFile none)';
  if (!policy.acceptNew) {
    throw new RunbookError(
      'host-key',
      `the SSH host key of ${hostName} (${hostPattern(address, port)}) is unknown: ${keyType} ${fp} is in none of ${files}. Nothing was run on it.`,
      {
        hint: `Check the fingerprint with the appliance owner, then run again with --accept-new-host-keys${recordIn ? ` (records it in ${recordIn})` : ''}, or add it with ssh-keyscan.`,
      },
    );
  }
  if (!recordIn) return;
  mkdirSync(dirname(recordIn), { recursive: true });
  appendFileSync(recordIn, `${hostPattern(address, port)} ${keyType} ${key.toString('base64')}\n`, { mode: 0o600 });
}
