/**
 * The lab for the journal tests: two SSH hosts, a PostgreSQL database, the journal-lab runbook,
 * and helpers to run the built CLI as a child process, kill it at a chosen point of its journal,
 * and read back the marks each step leaves.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { startSshLab, type SshLab } from '../harness/sshd.js';

export const CLI = join(process.cwd(), 'bin', 'runbook.js');
export const RUNBOOK = join(process.cwd(), 'fixtures', 'journal', 'journal-lab.yaml');
export const DB_PASSWORD = 'Db-pw-7f3!journal';
export const TOKEN = 'tok-SECRET-93ac51e7d2';
export const STEPS = ['prepare', 'record', 'long', 'local-note', 'echo-secret', 'finish-db', 'final'] as const;
/** Which hosts each ssh step marks ("local" for the local step, "db" for SQL steps). */
export const MARKS: Record<(typeof STEPS)[number], 'lead' | 'app' | 'local' | 'db'> = {
  prepare: 'lead',
  record: 'db',
  long: 'app',
  'local-note': 'local',
  'echo-secret': 'lead',
  'finish-db': 'db',
  final: 'app',
};
export const VERIFIED = new Set(['record', 'long', 'final']);

export interface JournalLab {
  ssh: SshLab;
  pg: PgServer;
  dir: string;
  inventory: string;
  stateDir: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startJournalLab(addresses: [string, string]): Promise<JournalLab> {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-journal-'));
  const [ssh, pg] = await Promise.all([
    startSshLab({
      hosts: [
        { name: 'h1', address: addresses[0] },
        { name: 'h2', address: addresses[1] },
      ],
    }),
    startPostgres(),
  ]);
  await pg.query('postgres', `create role lab_owner login password '${DB_PASSWORD}'`);
  await pg.createDatabase('lab', 'lab_owner');
  await pg.query('lab', 'create table lab_events(tag text not null, step text not null)');
  await pg.query('lab', 'alter table lab_events owner to lab_owner');
  const hosts = ssh.hosts
    .map(
      (h) =>
        `  ${h.name}: { address: ${h.address}, port: ${h.port}, user: ${ssh.user}, identityFile: ${ssh.clientKeyPath}, vars: { workdir: ${h.stateDir} } }`,
    )
    .join('\n');
  const inventory = join(dir, 'inventory.yaml');
  writeFileSync(
    inventory,
    `name: journal lab
ssh:
  knownHostsFile: ${ssh.knownHostsPath}
  connectTimeout: 10s
hosts:
${hosts}
databases:
  appdb: { host: ${pg.host}, port: ${pg.port}, database: lab, user: lab_owner, password: { env: JOURNAL_LAB_DB_PASSWORD } }
roles:
  app: [h1, h2]
  lead: [h1]
  appdb: appdb
`,
  );
  return {
    ssh,
    pg,
    dir,
    inventory,
    stateDir: join(dir, 'state'),
    env: { JOURNAL_LAB_DB_PASSWORD: DB_PASSWORD, JOURNAL_LAB_TOKEN: TOKEN },
    async stop() {
      await Promise.all([ssh.stop(), pg.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export type KillPoint = { event: 'step-started' | 'step-finished' | 'instance-finished'; stepId: string; delayMs?: number };

/**
 * Runs the CLI; with `killAt`, watches the run's events.jsonl and sends SIGKILL as soon as the
 * record appears (plus `delayMs`).
 */
export function runCli(
  args: string[],
  env: Record<string, string>,
  options: { killAt?: KillPoint; journal?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn('node', [CLI, ...args], {
      env: { ...process.env, NO_COLOR: '1', CI: 'true', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    let watch: NodeJS.Timeout | undefined;
    if (options.killAt && options.journal) {
      const { event, stepId, delayMs } = options.killAt;
      const needle = `"type":"${event}","stepId":"${stepId}"`;
      watch = setInterval(() => {
        if (!existsSync(options.journal!)) return;
        if (!readFileSync(options.journal!, 'utf8').includes(needle)) return;
        clearInterval(watch);
        if (delayMs) setTimeout(() => child.kill('SIGKILL'), delayMs);
        else child.kill('SIGKILL');
      }, 2);
    }
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (watch) clearInterval(watch);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface Record_ {
  type: string;
  stepId?: string;
  [key: string]: unknown;
}

export function readJournal(stateDir: string, runId: string): Record_[] {
  const text = readFileSync(join(stateDir, 'runs', runId, 'events.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record_];
      } catch {
        return [];
      }
    });
}

/** The step started and not finished at the end of the journal (what resume will call unknown). */
export function openStep(records: Record_[]): string | null {
  let open: string | null = null;
  for (const r of records) {
    if (r.type === 'step-started') open = r.stepId ?? null;
    if (r.type === 'step-finished' && r.stepId === open) open = null;
    if (r.type === 'unknown-outcome' && r.stepId === open) open = null;
  }
  return open;
}

export function hostLog(lab: JournalLab, host: 'h1' | 'h2', tag: string): string[] {
  const file = join(lab.ssh.host(host).stateDir, `steps-${tag}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

export function localLog(lab: JournalLab, tag: string): string[] {
  const file = join(lab.dir, `local-${tag}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** How many marks a step left, per place it marks. */
export async function marksOf(lab: JournalLab, tag: string, step: (typeof STEPS)[number]): Promise<number[]> {
  const where = MARKS[step];
  if (where === 'db') {
    const rows = await lab.pg.query<{ n: number }>('lab', 'select count(*)::int as n from lab_events where tag = $1 and step = $2', [
      tag,
      step,
    ]);
    return [rows[0]?.n ?? 0];
  }
  if (where === 'local') return [localLog(lab, tag).filter((l) => l === step).length];
  const hosts: Array<'h1' | 'h2'> = where === 'lead' ? ['h1'] : ['h1', 'h2'];
  return hosts.map((h) => hostLog(lab, h, tag).filter((l) => l === step).length);
}

export function execArgs(lab: JournalLab, tag: string, runId: string, extra: string[] = []): string[] {
  return [
    'exec',
    RUNBOOK,
    '-i',
    lab.inventory,
    '-p',
    `tag=${tag}`,
    '-p',
    `local_log=${join(lab.dir, `local-${tag}.log`)}`,
    '--yes',
    '--state-dir',
    lab.stateDir,
    '--run-id',
    runId,
    ...extra,
  ];
}
