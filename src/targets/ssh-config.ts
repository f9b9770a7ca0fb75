/**
 * OpenSSH client configuration, read the way `ssh` reads it, so that an inventory host reaches the
 * same machine through the same jumps, with the same known_hosts files, as `ssh <host>` would:
 * Include (with globs, and restored block context after the included text), HostName, User, Port,
 * IdentityFile, ProxyJump (`[user@]host[:port]`, `ssh://` URIs, comma-separated chains, `none`),
 * UserKnownHostsFile and GlobalKnownHostsFile. The first value obtained wins, as in ssh_config(5).
 * Only reads files: no connection, so the dry-run can show where each host really is.
 */
import { readdirSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';
import { readOptionalConfigFile } from '../core/input-file.js';
import type { HostEntry } from '../inventory/inventory.js';

export interface SshEndpoint {
  /** The inventory entry (or the alias of a jump host that is not in the inventory). */
  name: string;
  host: string;
  port: number;
  user: string;
  identityFiles: string[];
  /** Jump hosts to go through, first to last; empty for a direct connection. */
  jumps: SshEndpoint[];
  /** known_hosts files: new keys are recorded in the first user file. */
  knownHosts: { user: string[]; global: string[] };
}

/** Where the inventory says to look, plus the operator's command-line override. */
export interface SshConfigSource {
  /** An explicit config file (like `ssh -F`): the only one read. Default ~/.ssh/config then /etc/ssh/ssh_config. */
  configFile?: string | undefined;
  /** --known-hosts or the inventory's ssh.knownHostsFile: replaces UserKnownHostsFile. */
  knownHostsFile?: string | undefined;
}

const MAX_INCLUDE_DEPTH = 16;
const SYSTEM_CONFIG = '/etc/ssh/ssh_config';

export function expandHome(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? homedir() + path.slice(1) : path;
}

/** ssh_config(5) TOKENS for file names: %d home, %u local user, %h host, %r remote user, %%. */
function expandTokens(path: string, host: string, user: string): string {
  const expanded = path.replace(/%([%dhur])/g, (_m, t: string) =>
    t === '%' ? '%' : t === 'd' ? homedir() : t === 'u' ? userInfo().username : t === 'h' ? host : user,
  );
  return expandHome(expanded);
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** glob(3) over path segments, as OpenSSH expands an Include; sorted, hidden files only if asked. */
function expandGlob(pattern: string): string[] {
  if (!/[*?[]/.test(pattern)) return [pattern];
  let paths = [pattern.startsWith('/') ? '/' : '.'];
  for (const segment of pattern.split('/').filter(Boolean)) {
    if (!/[*?[]/.test(segment)) {
      paths = paths.map((p) => join(p, segment));
      continue;
    }
    const re = globToRegExp(segment);
    paths = paths.flatMap((dir) => {
      try {
        return readdirSync(dir)
          .filter((f) => re.test(f) && (segment.startsWith('.') || !f.startsWith('.')))
          .sort()
          .map((f) => join(dir, f));
      } catch {
        return [];
      }
    });
  }
  return paths;
}

const blockHeader = /^\s*(Host|Match)\b/i;
const includeLine = /^\s*Include\s*=?\s*(.+?)\s*$/i;

/**
 * The text of a config file with every Include replaced by the included files' text. After an
 * included text the enclosing block header is repeated, because OpenSSH restores the block
 * context an Include was in (an included `Host` line does not capture the lines that follow).
 * Relative paths are under ~/.ssh for a user file, /etc/ssh for the system file, as ssh does.
 */
export function expandIncludes(file: string, relativeTo: string, depth = 0): string {
  const text = readOptionalConfigFile(file, 'ssh configuration file');
  if (text === undefined) return '';
  if (depth >= MAX_INCLUDE_DEPTH) return '';
  let block = 'Host *';
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const include = includeLine.exec(line);
    if (!include) {
      if (blockHeader.test(line)) block = line.trim();
      out.push(line);
      continue;
    }
    for (const word of (include[1] ?? '').match(/"[^"]*"|\S+/g) ?? []) {
      const path = expandHome(word.replace(/^"|"$/g, ''));
      for (const included of expandGlob(isAbsolute(path) ? path : join(relativeTo, path))) {
        out.push(`# included from ${included}`, expandIncludes(included, relativeTo, depth + 1), block);
      }
    }
  }
  return out.join('\n');
}

/** Parsed configuration, read once per run: every host of the inventory is resolved against it. */
export class SshConfigResolver {
  private readonly config: ReturnType<typeof SSHConfig.parse>;

  constructor(
    private readonly hosts: Record<string, HostEntry>,
    private readonly source: SshConfigSource = {},
  ) {
    const files = source.configFile
      ? [{ file: expandHome(source.configFile), dir: join(homedir(), '.ssh') }]
      : [
          { file: join(homedir(), '.ssh', 'config'), dir: join(homedir(), '.ssh') },
          { file: SYSTEM_CONFIG, dir: dirname(SYSTEM_CONFIG) },
        ];
    // Each file's trailing block must not capture the next file's top lines: reopen `Host *`.
    this.config = SSHConfig.parse(files.map((f) => expandIncludes(f.file, f.dir)).join('\nHost *\n'));
  }

  private compute(alias: string): Record<string, string | string[]> {
    try {
      return this.config.compute(alias);
    } catch {
      return {};
    }
  }

  /** An inventory host (or an alias known only to ssh_config), with its jump chain. */
  resolve(name: string): SshEndpoint {
    const endpoint = this.resolveOne(name, {});
    const entry = this.hosts[name];
    const jump = entry?.proxyJump ?? this.directive(entry?.address ?? name, 'ProxyJump');
    return { ...endpoint, jumps: jump ? parseProxyJump(jump).map((hop) => this.resolveOne(hop.host, hop)) : [] };
  }

  private directive(alias: string, key: string): string | undefined {
    const v = this.compute(alias)[key];
    return Array.isArray(v) ? v.join(' ') : v;
  }

  /** One hop: the inventory entry wins over ssh_config, a `user@host:port` jump spec over both. */
  private resolveOne(name: string, override: { user?: string; port?: number }): SshEndpoint {
    const entry: HostEntry = this.hosts[name] ?? {};
    const computed = this.compute(entry.address ?? name);
    const one = (key: string) => {
      const v = computed[key];
      return Array.isArray(v) ? v[0] : v;
    };
    const list = (key: string) => (computed[key] === undefined ? undefined : [computed[key]].flat().flatMap((v) => v.split(/\s+/)));
    const host = one('HostName')?.replace(/%h/g, entry.address ?? name) ?? entry.address ?? name;
    const user = override.user ?? entry.user ?? one('User') ?? userInfo().username;
    const files = (paths: string[] | undefined, fallback: string[]) =>
      (paths ?? fallback).filter((p) => p.toLowerCase() !== 'none').map((p) => expandTokens(p, host, user));
    return {
      name,
      host,
      port: override.port ?? entry.port ?? (one('Port') ? Number(one('Port')) : 22),
      user,
      identityFiles: entry.identityFile ? [expandHome(entry.identityFile)] : files(list('IdentityFile'), []),
      jumps: [],
      knownHosts: {
        user: this.source.knownHostsFile
          ? [expandHome(this.source.knownHostsFile)]
          : files(list('UserKnownHostsFile'), ['~/.ssh/known_hosts', '~/.ssh/known_hosts2']),
        global: files(list('GlobalKnownHostsFile'), ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']),
      },
    };
  }
}

export interface JumpSpec {
  host: string;
  user?: string;
  port?: number;
}

/** `ProxyJump` value: `none`, or comma-separated `[user@]host[:port]` / `ssh://[user@]host[:port]`. */
export function parseProxyJump(value: string): JumpSpec[] {
  if (value.trim().toLowerCase() === 'none') return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((hop) => {
      const m = /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?\/?$/.exec(hop);
      if (!m) return { host: hop };
      const [, user, host = hop, port] = m;
      return { host: host.replace(/^\[|\]$/g, ''), ...(user ? { user } : {}), ...(port ? { port: Number(port) } : {}) };
    });
}

/** `user@address:port`, and the jumps it goes through: what the dry-run shows for a host. */
export function describeEndpoint(e: SshEndpoint): string {
  const at = (x: SshEndpoint) => `${x.user}@${x.host}:${x.port}`;
  return e.jumps.length ? `${at(e)} via ${e.jumps.map(at).join(' -> ')}` : at(e);
}
