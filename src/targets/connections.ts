/** Opens each inventory entry's connection once, on first use, and closes them all at the end. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RunbookError } from '../errors.js';
import type { Inventory } from '../runbook/inventory.js';
import { parseDuration } from '../runbook/duration.js';
import type { SecretStore } from '../engine/secrets.js';
import { HttpEndpoint } from './http.js';
import { LocalTarget } from './local.js';
import { PostgresTarget } from './postgres.js';
import { expandHome, resolveSshEndpoint, SshTarget } from './ssh.js';
import type { CommandTarget, Connections, HttpTarget, SqlTarget } from './types.js';

export interface ConnectionOptions {
  inventory: Inventory;
  secrets: SecretStore;
  knownHostsFile?: string | undefined;
  acceptNewHostKeys: boolean;
}

/** One connection object per inventory entry, made on first use. */
function once<T>(cache: Map<string, T>, name: string, make: () => T): T {
  let value = cache.get(name);
  if (value === undefined) {
    value = make();
    cache.set(name, value);
  }
  return value;
}

export function openConnections(options: ConnectionOptions): Connections {
  const { inventory, secrets } = options;
  const ssh = new Map<string, SshTarget>();
  const sql = new Map<string, PostgresTarget>();
  const http = new Map<string, HttpEndpoint>();
  const local = new LocalTarget();
  const connectTimeoutMs = parseDuration(inventory.ssh?.connectTimeout ?? '15s') ?? 15_000;
  const hostKeys = {
    knownHostsFile: expandHome(options.knownHostsFile ?? inventory.ssh?.knownHostsFile ?? join(homedir(), '.ssh', 'known_hosts')),
    acceptNew: options.acceptNewHostKeys,
  };
  const sshAuth = (name: string) => ({
    password: secrets.get(`inventory.${name}.password`),
    passphrase: secrets.get(`inventory.${name}.passphrase`),
  });
  const sshEndpoint = (name: string) => {
    const entry = inventory.hosts[name] ?? { address: name };
    return resolveSshEndpoint(name, entry, inventory.ssh?.configFile);
  };

  return {
    async command(host: string | null): Promise<CommandTarget> {
      if (host === null) return local;
      return once(ssh, host, () => {
        if (!inventory.hosts[host]) throw new RunbookError('invalid', `no host "${host}" in the inventory`);
        return new SshTarget(host, sshEndpoint(host), sshAuth(host), hostKeys, connectTimeoutMs, (alias) => ({
          endpoint: sshEndpoint(alias),
          auth: sshAuth(alias),
        }));
      });
    },
    async sql(name: string): Promise<SqlTarget> {
      return once(sql, name, () => {
        const entry = inventory.databases[name];
        if (!entry) throw new RunbookError('invalid', `no database "${name}" in the inventory`);
        return new PostgresTarget(name, entry, secrets.get(`inventory.${name}.password`), connectTimeoutMs);
      });
    },
    async http(name: string): Promise<HttpTarget> {
      return once(http, name, () => {
        const entry = inventory.endpoints[name];
        if (!entry) throw new RunbookError('invalid', `no endpoint "${name}" in the inventory`);
        return new HttpEndpoint(name, entry, (field) => secrets.get(`inventory.${name}.${field}`));
      });
    },
    async closeAll(): Promise<void> {
      await Promise.all([...ssh.values(), ...sql.values()].map((t) => t.close()));
    },
  };
}
