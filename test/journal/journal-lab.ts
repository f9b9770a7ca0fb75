/**
 * The lab for the journal tests: two SSH hosts, a PostgreSQL database, the journal-lab runbook,
 * and helpers to run the built CLI as a child process, kill it at a chosen point of its journal,
 * and read back the marks each step leaves.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunEventType } from '../../src/engine/events.js';
import type { KillWhen } from '../cli/run-cli.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { startSshLab, type SshLab } from '../harness/sshd.js';
import { waitFor } from '../harness/util.js';

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

/**
 * A point of a run, named by its journal: a step's record of this type appears (on `target`, for
 * a record of one target), and `until` holds (a process state on a target, a file).
 */
export type KillPoint = { event: RunEventType; stepId: string; target?: string; until?: () => boolean; delayMs?: number };

/** SIGKILL for the CLI as soon as `journal` holds the record of `point` (plus `delayMs`). */
export function killAt(journal: string, point: KillPoint): KillWhen {
  return {
    file: journal,
    contains: `"type":"${point.event}","stepId":"${point.stepId}"${point.target === undefined ? '' : `,"target":"${point.target}"`}`,
    ...(point.until ? { until: point.until } : {}),
    ...(point.delayMs ? { delayMs: point.delayMs } : {}),
  };
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

/** Whether a process on a lab host has this text in its command line (a step's remote command). */
export function remoteRunning(lab: JournalLab, text: string): boolean {
  return (['h1', 'h2'] as const).some((h) => lab.ssh.processes(h).some((p) => p.args.includes(text)));
}

/**
 * Waits until the remote commands with this text have ended: a command cut off by a kill of
 * runbook ends when it notices the lost connection (its next write), and only then do its marks
 * say what it did. The bound only guards against a command that never ends.
 */
export function remoteGone(lab: JournalLab, text: string): Promise<true> {
  return waitFor(`the cut-off command (${text}) to end`, () => !remoteRunning(lab, text), { timeoutMs: 60_000 });
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
