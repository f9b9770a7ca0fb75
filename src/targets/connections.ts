/**
 * Opens each inventory entry's connection once, on first use (or ahead of it for the SSH hosts a
 * run names: prepareHosts), and closes them all at the end.
 */
import { RunbookError } from '../core/errors.js';
import type { Inventory } from '../inventory/inventory.js';
import { parseDuration } from '../core/duration.js';
import type { HttpEndpoint } from './http.js';
import type { LocalTarget } from './local.js';
import type { PostgresTarget } from './postgres.js';
import type { SshTarget } from './ssh.js';
import type { SshConfigResolver } from './ssh-config.js';
import type { CommandTarget, Connections, HttpTarget, SqlTarget } from './types.js';

/** The inventory's secrets by name (`inventory.<entry>.<field>`): the engine's SecretStore is one. */
export interface InventorySecrets {
  get(name: string): string | undefined;
}

export interface ConnectionOptions {
  inventory: Inventory;
  secrets: InventorySecrets;
  knownHostsFile?: string | undefined;
  acceptNewHostKeys: boolean;
}

/**
 * One connection object per inventory entry, made on first use. The promise is what is kept, so
 * that the hosts of a parallel fan-out asking at once share one connection.
 */
function once<T>(cache: Map<string, Promise<T>>, name: string, make: () => Promise<T>): Promise<T> {
  let value = cache.get(name);
  if (value === undefined) {
    value = make();
    cache.set(name, value);
  }
  return value;
}

/** Each target module is imported when a step first needs it: an SSH-only run never loads pg. */
const modules = {
  ssh: () => import('./ssh.js'),
  postgres: () => import('./postgres.js'),
  http: () => import('./http.js'),
  local: () => import('./local.js'),
};

/** The connections of a run, and a way to open the SSH ones ahead of the first step. */
export interface RunConnections extends Connections {
  /**
   * Starts connecting to these inventory hosts (resolves once the handshakes are under way, not
   * done), so that they overlap the run's own set-up; each step still waits for its connection
   * and gets its error.
   */
  prepareHosts(hosts: Iterable<string>): Promise<void>;
}

export function openConnections(options: ConnectionOptions): RunConnections {
  const { inventory, secrets } = options;
  const ssh = new Map<string, Promise<SshTarget>>();
  const sql = new Map<string, Promise<PostgresTarget>>();
  const http = new Map<string, Promise<HttpEndpoint>>();
  let local: Promise<LocalTarget> | undefined;
  let sshConfig: SshConfigResolver | undefined;
  const connectTimeoutMs = parseDuration(inventory.ssh?.connectTimeout ?? '15s') ?? 15_000;
  const sshAuth = (name: string) => ({
    password: secrets.get(`inventory.${name}.password`),
    passphrase: secrets.get(`inventory.${name}.passphrase`),
  });

  const sshTarget = (host: string): Promise<SshTarget> => {
    if (!inventory.hosts[host]) return Promise.reject(new RunbookError('invalid', `no host "${host}" in the inventory`));
    return once(ssh, host, async () => {
      const [{ SshTarget }, { SshConfigResolver }] = await Promise.all([modules.ssh(), import('./ssh-config.js')]);
      sshConfig ??= new SshConfigResolver(inventory.hosts, {
        configFile: inventory.ssh?.configFile,
        knownHostsFile: options.knownHostsFile ?? inventory.ssh?.knownHostsFile,
      });
      return new SshTarget(host, sshConfig.resolve(host), sshAuth(host), options.acceptNewHostKeys, connectTimeoutMs, sshAuth);
    });
  };

  return {
    command(host: string | null): Promise<CommandTarget> {
      if (host === null) return (local ??= modules.local().then((m) => new m.LocalTarget()));
      return sshTarget(host);
    },
    sql(name: string): Promise<SqlTarget> {
      const entry = inventory.databases[name];
      if (!entry) return Promise.reject(new RunbookError('invalid', `no database "${name}" in the inventory`));
      return once(
        sql,
        name,
        async () => new (await modules.postgres()).PostgresTarget(name, entry, secrets.get(`inventory.${name}.password`), connectTimeoutMs),
      );
    },
    http(name: string): Promise<HttpTarget> {
      const entry = inventory.endpoints[name];
      if (!entry) return Promise.reject(new RunbookError('invalid', `no endpoint "${name}" in the inventory`));
      return once(
        http,
        name,
        async () => new (await modules.http()).HttpEndpoint(name, entry, (field) => secrets.get(`inventory.${name}.${field}`)),
      );
    },
    async prepareHosts(hosts: Iterable<string>): Promise<void> {
      const targets = await Promise.allSettled([...hosts].map(sshTarget));
      // A host unknown to the inventory or ssh_config: the step that names it reports it.
      for (const t of targets) if (t.status === 'fulfilled') t.value.prepare();
      // net.Socket connects on the next tick: let the connections start before the caller goes on.
      await new Promise((resolve) => setImmediate(resolve));
    },
    async closeAll(): Promise<void> {
      const opened = await Promise.allSettled([...ssh.values(), ...sql.values()]);
      await Promise.all(opened.flatMap((t) => (t.status === 'fulfilled' ? [t.value.close()] : [])));
    },
  };
}
