/** A lab for the example runbook: two SSH hosts, a PostgreSQL database and an HTTP endpoint. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshLab, type SshLab } from '../harness/sshd.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { afterAll, beforeAll } from 'vitest';

export interface ExampleLab {
  ssh: SshLab;
  pg: PgServer;
  http: Server;
  httpPort: number;
  inventoryPath: string;
  dbPassword: string;
  dir: string;
  writeInventory(overrides?: { knownHosts?: string | null; extra?: string }): string;
  stop(): Promise<void>;
}

export async function startExampleLab(): Promise<ExampleLab> {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-example-'));
  const [ssh, pg] = await Promise.all([
    startSshLab({
      hosts: [
        { name: 'app1', address: '127.0.40.1' },
        { name: 'app2', address: '127.0.40.2' },
      ],
    }),
    startPostgres(),
  ]);
  const dbPassword = 'S3cr3t-db-pw!';
  await pg.query('postgres', `create role app_owner login password '${dbPassword}'`);
  await pg.createDatabase('app', 'app_owner');
  await pg.query('app', 'create table settings(key text primary key, value text)');
  await pg.query('app', 'alter table settings owner to app_owner');
  const http = createServer((req, res) => {
    res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'text/plain' });
    res.end(req.url === '/health' ? 'ok\n' : 'not found\n');
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  const httpPort = typeof address === 'object' && address ? address.port : 0;
  const writeInventory = (overrides: { knownHosts?: string | null; extra?: string } = {}) => {
    const known = overrides.knownHosts === undefined ? ssh.knownHostsPath : overrides.knownHosts;
    const hosts = ssh.hosts
      .map(
        (h) =>
          `  ${h.name}: { address: ${h.address}, port: ${h.port}, user: ${ssh.user}, identityFile: ${ssh.clientKeyPath}, vars: { workdir: ${h.stateDir} } }`,
      )
      .join('\n');
    const text = `name: example lab
ssh:
${known ? `  knownHostsFile: ${known}\n` : `  knownHostsFile: ${join(dir, 'empty_known_hosts')}\n`}  connectTimeout: 10s
hosts:
${hosts}
databases:
  appdb: { host: ${pg.host}, port: ${pg.port}, database: app, user: app_owner, password: { env: EXAMPLE_DB_PASSWORD } }
endpoints:
  api: { url: 'http://127.0.0.1:${httpPort}' }
roles:
  app: [app1, app2]
  appdb: appdb
  api: api
parameters:
  release: 2.5.0
${overrides.extra ?? ''}`;
    const path = join(dir, `inventory-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(path, text);
    return path;
  };
  return {
    ssh,
    pg,
    http,
    httpPort,
    dir,
    dbPassword,
    inventoryPath: writeInventory(),
    writeInventory,
    async stop() {
      http.close();
      await Promise.all([ssh.stop(), pg.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The example lab for one test file: started before its tests (then `setup`), stopped after them.
 * The object returned stands for the lab from then on, so a file writes `const lab = useExampleLab()`
 * once instead of its own beforeAll/afterAll.
 */
export function useExampleLab(setup?: (lab: ExampleLab) => Promise<void>): ExampleLab {
  let started: ExampleLab | undefined;
  beforeAll(async () => {
    started = await startExampleLab();
    await setup?.(started);
  });
  afterAll(async () => {
    await started?.stop();
  });
  return new Proxy({} as ExampleLab, {
    get(_, key) {
      if (!started) throw new Error('the example lab is used before its beforeAll started it');
      return started[key as keyof ExampleLab];
    },
  });
}

/** The environment the example inventory reads its database password from. */
export const exampleEnv = (lab: ExampleLab): Record<string, string> => ({ EXAMPLE_DB_PASSWORD: lab.dbPassword });
