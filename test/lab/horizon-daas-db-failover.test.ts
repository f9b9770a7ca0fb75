/**
 * horizon-daas-db-failover end to end against the Horizon DaaS lab (fixtures/lab/horizon): two
 * appliances over the test suite's sshd, each with its own PostgreSQL and real Slony-I
 * replication A -> B. The real engine runs the runbook in-process; a scripted operator answers
 * the prompts and does the Service Center's "Initialize Slony" (initializeSlony) when the manual
 * step asks for it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  initializeSlony,
  SLONY_VERIFY_SQL,
  startHorizonLab,
  type ApplianceId,
  type HorizonDbConnection,
  type HorizonKind,
  type HorizonLab,
} from '../../fixtures/lab/horizon/index.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { RunSummary } from '../../src/engine/executor.js';
import { completed, runInLab, statusOf, type LabRun, type Manual } from './run-in-lab.js';
import { sleep, waitFor } from '../harness/util.js';

const ID = 'horizon-daas-db-failover';
/**
 * Bound of one whole scenario (lab start, a full failover over real Slony-I, lab stop). Every wait
 * inside polls for its event (replication caught up, slon gone, subscription active); this only
 * stops a hung run. Under load a tenant scenario has taken more than 60 s.
 */
const LAB_RUN_MS = 300_000;
let lab: HorizonLab | undefined;
let backupDir: string | undefined;

afterEach(async () => {
  await lab?.stop();
  lab = undefined;
  if (backupDir) fs.rmSync(backupDir, { recursive: true, force: true });
  backupDir = undefined;
}, 120_000);

function writeInventory(l: HorizonLab, params: Record<string, string | number | boolean>): string {
  const { A, B } = l.appliances;
  const host = (id: ApplianceId) => {
    const a = l.appliances[id]!;
    return `  ${id}: { address: ${a.address}, port: ${a.ssh.port}, user: ${l.ssh.user}, identityFile: ${l.ssh.clientKeyPath} }`;
  };
  const dbEntry = (name: string, c: HorizonDbConnection) =>
    `  ${name}: { host: ${c.host}, port: ${c.port}, database: ${c.database}, user: ${c.user}, password: { env: HORIZON_DB_ADMIN_PASSWORD } }`;
  const db = (id: ApplianceId, name: Db) => dbEntry(`${id}-${name}`, l.appliances[id]!.db[name]);
  const tenant = l.kind === 'tenant';
  const others = l.others.map((o) => o.id);
  /** The role's entries on the other appliances, as a YAML list. */
  const onOthers = (name?: Db) => `[${others.map((id) => (name ? `${id}-${name}` : id)).join(', ')}]`;
  const file = path.join(l.dir, 'inventory.yaml');
  fs.writeFileSync(
    file,
    `name: horizon lab (${l.kind})
ssh: { knownHostsFile: ${l.ssh.knownHostsPath}, connectTimeout: 10s }
hosts:
${l.ids.map(host).join('\n')}
databases:
${l.databases.flatMap((d) => l.ids.map((id) => db(id, d))).join('\n')}
${l.masterSp ? dbEntry('M-fdb', l.masterSp.db) : ''}
roles:
  primary: A
  secondary: B
  other_appliances: ${onOthers()}
  primary_fdb: A-fdb
  secondary_fdb: B-fdb
  other_fdb: ${onOthers('fdb')}
  primary_edb: ${tenant ? 'A-edb' : '[]'}
  primary_avdb: ${tenant ? 'A-avdb' : '[]'}
  secondary_edb: ${tenant ? 'B-edb' : '[]'}
  secondary_avdb: ${tenant ? 'B-avdb' : '[]'}
  other_edb: ${tenant ? onOthers('edb') : '[]'}
  other_avdb: ${tenant ? onOthers('avdb') : '[]'}
  master_sp_fdb: ${l.masterSp ? 'M-fdb' : '[]'}
parameters:
  appliance_a: ${A.name}
  appliance_b: ${B.name}
  org_id: ${l.orgId}
  backup_dir: ${backupDir}
${Object.entries(params)
  .map(([k, v]) => `  ${k}: ${v}`)
  .join('\n')}
`,
  );
  return file;
}

/** The secrets of a lab run, from the environment as an operator would give them. */
const secretsOf = (l: HorizonLab) => ({
  HORIZON_DB_PASSWORD: l.appliances.B.db.fdb.appPassword,
  HORIZON_DB_ADMIN_PASSWORD: l.appliances.B.db.fdb.password,
});

async function run(
  l: HorizonLab,
  params: Record<string, string | number | boolean>,
  answers: Record<string, string>,
  manual: Manual,
): Promise<{ summary: RunSummary; events: RunEvent[]; done: string[] }> {
  return completed(await runInLab(ID, { inventory: writeInventory(l, params), env: secretsOf(l), answers, manual }));
}

async function start(
  kind: HorizonKind,
  options: { propertiesFormat?: 'host-lines' | 'jdbc-url'; others?: 0 | 1 } = {},
): Promise<HorizonLab> {
  lab = await startHorizonLab({ kind, ...options });
  backupDir = `/var/tmp/runbook-horizon-lab-${path.basename(lab.dir)}`;
  return lab;
}

const failures = (s: RunSummary) => s.steps.filter((x) => x.status === 'failed').map((x) => `${x.id}: ${x.message}`);
const read = (l: HorizonLab, id: ApplianceId, p: string) => fs.readFileSync(l.appliances[id]!.hostPath(p), 'utf8');
const FDB_PROPERTIES = '/usr/local/desktone/release/active/conf/fdb.properties';
const APP_PROPERTIES = '/usr/local/xmpms/diagnose/config/application.properties';
type Db = 'fdb' | 'edb' | 'avdb';

/** Number of `_slony` schemas in an appliance's database (0 or 1). */
async function slonySchemas(l: HorizonLab, id: ApplianceId, db: Db): Promise<number> {
  const rows = await l.query<{ n: number }>(id, db, "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = '_slony'");
  return rows[0]!.n;
}

/** The seed's verification query on an appliance's database (null: no Slony catalog). */
async function catalogOf(
  l: HorizonLab,
  id: ApplianceId,
  db: Db,
): Promise<Array<{ set_id: number; local_id: string; master_node: boolean }> | null> {
  if ((await slonySchemas(l, id, db)) === 0) return null;
  const rows = await l.query<{ set_id: number; local_id: string; master_node: boolean }>(id, db, SLONY_VERIFY_SQL);
  return rows.map((r) => ({ set_id: r.set_id, local_id: r.local_id, master_node: r.master_node }));
}

/** Slony node ids in B's catalog of a database. */
async function nodes(l: HorizonLab, db: Db): Promise<number[]> {
  return (await l.query<{ no_id: number }>('B', db, 'SELECT no_id FROM _slony.sl_node ORDER BY no_id')).map((r) => r.no_id);
}

/** The fake tools an appliance ran, without sudo (which runs them): "tool argv...". */
const commandsOn = (l: HorizonLab, id: ApplianceId) =>
  l
    .commands(id)
    .filter((c) => c.tool !== 'sudo')
    .map((c) => [c.tool, ...c.argv].join(' '));
/** What task 4 runs on a restarted primary that was unreachable: services stopped, slons killed, checked. */
const CLEANING_COMMANDS = [
  'service dtService stop',
  'service av-manager stop',
  'service diagnose stop',
  'service dtService status',
  'service av-manager status',
  'service diagnose status',
  'killall -w slon',
  'killall -q -s 0 slon',
];

/** The fake tools an appliance ran, apart from the slon start scripts. */
const commandsBesidesSlonStarts = (l: HorizonLab, id: ApplianceId) => commandsOn(l, id).filter((c) => !c.startsWith('start_slon_'));
/** The slon start scripts an appliance ran, in order. */
const slonStarts = (l: HorizonLab, id: ApplianceId) =>
  l
    .commands(id)
    .filter((c) => c.tool.startsWith('start_slon_'))
    .map((c) => c.tool);

/** The dumps under the backup directory (relative paths) with their modes, and the run directory's mode. */
function dumps(): { files: string[]; fileModes: number[]; dirModes: number[] } {
  if (!backupDir || !fs.existsSync(backupDir)) return { files: [], fileModes: [], dirModes: [] };
  const runDirs = fs.readdirSync(backupDir).map((d) => path.join(backupDir!, d));
  const files = runDirs.flatMap((d) =>
    fs
      .readdirSync(d)
      .filter((f) => f.endsWith('.dump'))
      .map((f) => path.join(d, f)),
  );
  return {
    files: files.map((f) => path.basename(f)).sort(),
    fileModes: files.map((f) => fs.statSync(f).mode & 0o777),
    dirModes: runDirs.map((d) => fs.statSync(d).mode & 0o777),
  };
}

/**
 * Task 3 step 7 moved the two role flags from A to B in the master service provider's FDB (its own
 * server in the lab), and in no other database: the tenant's own FDB on B keeps A's flags.
 */
async function expectCapabilitiesMovedInMasterSp(l: HorizonLab): Promise<void> {
  const { A, B } = l.appliances;
  const sql = 'SELECT name, capabilities FROM appliance ORDER BY name';
  expect(await l.masterSp!.query('fdb', sql)).toEqual([
    { name: 'hz-sp-1', capabilities: 255 },
    { name: 'hz-sp-2', capabilities: 63 },
    { name: A.name, capabilities: 63 },
    { name: B.name, capabilities: 255 },
    ...l.others.map((o) => ({ name: o.name, capabilities: 63 })),
  ]);
  expect((await l.query('B', 'fdb', sql)).filter((r) => r.name === A.name || r.name === B.name)).toEqual([
    { name: A.name, capabilities: 255 },
    { name: B.name, capabilities: 63 },
  ]);
}

/**
 * No secret of the run reached what the appliances log: the command lines sudo logs (auth.log,
 * which must exist: av-setup runs under sudo on B) and the fakes' commands.log.
 */
function expectNoSecretOnAppliances(l: HorizonLab): void {
  const logOf = (id: ApplianceId, f: string) => path.join(l.appliances[id]!.ssh.stateDir, f);
  expect(fs.readFileSync(logOf('B', 'auth.log'), 'utf8')).toContain('av-setup');
  for (const id of l.ids)
    for (const f of ['auth.log', 'commands.log']) {
      const text = fs.existsSync(logOf(id, f)) ? fs.readFileSync(logOf(id, f), 'utf8') : '';
      for (const secret of Object.values(secretsOf(l))) expect(text.includes(secret), `${id}: ${f}`).toBe(false);
    }
}

/**
 * A tenant failover with A reachable and restarted at once, the operator re-initialising every
 * database from B: it succeeds, and the operator did the four manual steps.
 */
async function tenantFailoverWithPrimaryReachable(l: HorizonLab): Promise<{ summary: RunSummary; events: RunEvent[] }> {
  const { summary, events, done } = await run(
    l,
    { appliance_kind: 'tenant', primary_reachable: true },
    { 't4-restart-primary-now': 'now' },
    {
      't3-reinit-slony': () => initializeSlony(l, { org: l.orgId, db: 'fdb', origin: 'B' }),
      't4-reinit-slony-edb': () => initializeSlony(l, { org: l.orgId, db: 'edb', origin: 'B' }),
      't4-reinit-slony-avdb': () => initializeSlony(l, { org: l.orgId, db: 'avdb', origin: 'B' }),
    },
  );
  expect(failures(summary)).toEqual([]);
  expect(summary.status, summary.message).toBe('succeeded');
  expect(done).toEqual(['t3-reinit-slony', 't4-restart-primary', 't4-reinit-slony-edb', 't4-reinit-slony-avdb']);
  return { summary, events };
}

/** Waits for a write that an appliance's running services make from now on and `match` accepts. */
async function nextWrite(l: HorizonLab, id: ApplianceId, what: string, match: (w: ReturnType<HorizonLab['writes']>[number]) => boolean) {
  const seen = l.writes(id).length;
  await waitFor(what, () => l.writes(id).slice(seen).some(match), { timeoutMs: 30_000 });
}

/** Ids of the steps that ran on an appliance (host or one of its databases) or checked it, in order. */
function stepsTouching(events: RunEvent[], id: ApplianceId): string[] {
  const on = (t: string | null | undefined) => t === id || (t ?? '').startsWith(`${id}-`);
  const ids = events.flatMap((e) =>
    (e.type === 'step-started' && e.targets.some(on)) || (e.type === 'check-finished' && on(e.target)) ? [e.stepId ?? ''] : [],
  );
  return [...new Set(ids)];
}

describe(`${ID} in the lab`, () => {
  it(
    'fdb.properties in another format (one JDBC URL): the preconditions stop the run and show the file; nothing is changed',
    async () => {
      const l = await start('service-provider', { propertiesFormat: 'jdbc-url' });
      const r = await runInLab(ID, {
        inventory: writeInventory(l, { appliance_kind: 'service-provider', primary_reachable: true }),
        env: secretsOf(l),
        answers: {},
        manual: {},
      });
      expect(r.error?.message).toMatch(/precondition/);
      const failed = r.events.flatMap((e) =>
        e.type === 'check-finished' && e.phase === 'precondition' && e.status === 'failed' ? [e] : [],
      );
      expect(failed.map((e) => e.title)).toEqual([
        "The secondary's fdb.properties has the primary's IP on an fdb.host.<n>= line (where the task 1 edit removes it)",
      ]);
      const shown = r.events.flatMap((e) => (e.type === 'output' && e.stepId === null ? [e.text] : [])).join('');
      expect(shown + failed[0]!.message).toContain(`fdb.url=jdbc:postgresql://${l.appliances.A.address}:`);
      expect(r.events.some((e) => e.type === 'step-started')).toBe(false);
      expect(read(l, 'B', FDB_PROPERTIES)).toContain(l.appliances.A.address);
      expect(await slonySchemas(l, 'B', 'fdb')).toBe(1);
      expect(l.services('B')).toMatchObject({ dtService: 'running' });
    },
    LAB_RUN_MS,
  );

  it(
    'service provider, primary reachable: writes enabled, database restored, B promoted and verified as Slony master',
    async () => {
      const l = await start('service-provider');
      // A change on the primary that the restore must carry over.
      await l.query('A', 'fdb', "INSERT INTO task (org_id, kind, state) VALUES (1000, 'after-failure', 'done')");
      const { A, B } = l.appliances;
      const { summary, done } = await run(
        l,
        { appliance_kind: 'service-provider', primary_reachable: true },
        {},
        {
          't2-reinit-slony': () => initializeSlony(l, { org: 1000, db: 'fdb', origin: 'B' }),
        },
      );
      expect(failures(summary)).toEqual([]);
      expect(summary.status, summary.message).toBe('succeeded');
      expect(done).toEqual(['t2-appliances-running', 't2-reinit-slony']);

      // Task 1: services and slons stopped on A; fdb.properties without A's IP; av-setup with B; diagnose on B.
      expect(l.services('A')).toMatchObject({ dtService: 'stopped', 'av-manager': 'stopped', diagnose: 'stopped' });
      expect(l.services('B')).toMatchObject({ dtService: 'running', 'av-manager': 'running', diagnose: 'running' });
      const props = read(l, 'B', FDB_PROPERTIES);
      expect(props).not.toContain(`fdb.host.1=${A.address}\n`);
      expect(props).toContain(`fdb.host.2=${B.address}\n`);
      expect(read(l, 'B', APP_PROPERTIES)).toContain(`db.jdbc.url=jdbc:postgresql://${B.address}:${B.pg.port}/avdb?ssl=true\n`);
      expect(read(l, 'B', APP_PROPERTIES)).toContain(`db.fdb.jdbc.url=jdbc:postgresql://${B.address}:${B.pg.port}/fdb?ssl=true\n`);
      const avSetup = l.commands('B').find((c) => c.tool === 'av-setup');
      expect(avSetup?.env).toEqual({ DB_HOST: B.address, DB_PASSWORD: '<set>' });
      // The restore brought the primary's row over.
      expect(await l.query('B', 'fdb', "SELECT count(*)::int AS n FROM task WHERE kind = 'after-failure'")).toEqual([{ n: 1 }]);
      // Task 2: capabilities moved, B is the Slony master.
      expect(await l.query('B', 'fdb', 'SELECT name, capabilities FROM appliance ORDER BY name')).toEqual([
        { name: A.name, capabilities: 63 },
        { name: B.name, capabilities: 255 },
      ]);
      const verify = await l.query<{ master_node: boolean }>('B', 'fdb', SLONY_VERIFY_SQL);
      expect(verify).toHaveLength(1);
      expect(verify[0]!.master_node).toBe(true);
      // A backup of both databases is kept on the secondary.
      const runDir = fs.readdirSync(backupDir!)[0]!;
      expect(fs.readdirSync(path.join(backupDir!, runDir)).sort()).toEqual([
        'fdb-primary.dump',
        'fdb-primary.list',
        'fdb-secondary-before-restore.dump',
      ]);
      expectNoSecretOnAppliances(l);
    },
    LAB_RUN_MS,
  );

  it(
    'service provider, primary reachable, killed twice right after a Slony schema was dropped: each resume meets the dropped schema and the run completes',
    async () => {
      const l = await start('service-provider');
      const inventory = writeInventory(l, { appliance_kind: 'service-provider', primary_reachable: true });
      const manual: Manual = { 't2-reinit-slony': () => initializeSlony(l, { org: 1000, db: 'fdb', origin: 'B' }) };
      /** The runbook dies once the drop in `stepId` has been committed, before its end is journaled. */
      const killedAfter = (stepId: string) => (e: RunEvent) => e.type === 'instance-finished' && e.stepId === stepId;
      const journaled = (r: LabRun, stepId: string) => r.events.some((e) => e.type === 'step-finished' && e.stepId === stepId);
      const startedIn = (r: LabRun) => r.events.flatMap((e) => (e.type === 'step-started' ? [e.stepId] : []));

      const first = await runInLab(ID, { inventory, env: secretsOf(l), manual, killAt: killedAfter('t1-drop-slony-secondary-fdb') });
      expect(await slonySchemas(l, 'B', 'fdb')).toBe(0);
      expect(journaled(first, 't1-drop-slony-secondary-fdb')).toBe(false);

      const second = await runInLab(ID, {
        inventory,
        env: secretsOf(l),
        manual,
        resumeOf: first,
        killAt: killedAfter('t2-drop-slony-primary-fdb'),
      });
      expect(second.error).toBeNull();
      // The resume ran the interrupted drop again, on a schema that was already gone, and went on.
      expect(startedIn(second)[0]).toBe('t1-drop-slony-secondary-fdb');
      expect(journaled(second, 't1-drop-slony-secondary-fdb')).toBe(true);
      expect(statusOf(second.summary, 't1-drop-slony-secondary-fdb') ?? 'journaled').not.toBe('failed');
      expect(await slonySchemas(l, 'A', 'fdb')).toBe(0);
      expect(journaled(second, 't2-drop-slony-primary-fdb')).toBe(false);

      const both: LabRun = { ...second, events: [...first.events, ...second.events] };
      const third = completed(await runInLab(ID, { inventory, env: secretsOf(l), manual, resumeOf: both }));
      expect(failures(third.summary)).toEqual([]);
      expect(third.summary.status, third.summary.message).toBe('succeeded');
      const startedThird = third.events.flatMap((e) => (e.type === 'step-started' ? [e.stepId] : []));
      expect(startedThird[0]).toBe('t2-drop-slony-primary-fdb');
      expect(startedThird).not.toContain('t1-drop-slony-secondary-fdb');
      expect(third.done).toEqual(['t2-appliances-running', 't2-reinit-slony']);
      expect(await catalogOf(l, 'B', 'fdb')).toEqual([{ set_id: 1, local_id: '1', master_node: true }]);
      expect(await catalogOf(l, 'A', 'fdb')).toEqual([{ set_id: 1, local_id: '2', master_node: false }]);
      expect(await l.query('B', 'fdb', 'SELECT name, capabilities FROM appliance ORDER BY name')).toEqual([
        { name: l.appliances.A.name, capabilities: 63 },
        { name: l.appliances.B.name, capabilities: 255 },
      ]);
    },
    LAB_RUN_MS,
  );

  it(
    'tenant, primary reachable, another tenant appliance C whose services write all the time, master SP FDB on its own server: C is stopped for the backup (the restore loses none of its writes), its old catalogs are dropped, and it rejoins FDB, EDB and AVDB as a subscriber of B',
    async () => {
      const l = await start('tenant', { others: 1 });
      const { A, B } = l.appliances;
      const C = l.appliances.C!;
      const DBS = ['fdb', 'edb', 'avdb'] as const;
      // Before the run C's dtService and av-manager write to the primary's FDB and AVDB.
      for (const db of ['fdb', 'avdb'] as const)
        await nextWrite(l, 'C', `C writing to A's ${db}`, (w) => w.db === db && w.host === A.address);
      const { summary } = await tenantFailoverWithPrimaryReachable(l);
      for (const db of DBS) expect(statusOf(summary, `t1-restore-${db}`), db).toBe('succeeded');

      // C's services were stopped before the row counts and the dumps, and nothing C wrote to A's
      // AVDB before that was lost by the restore on B.
      const stopped = l.commands('C').find((c) => c.tool === 'service' && c.argv.join(' ') === 'av-manager stop');
      expect(stopped).toBeDefined();
      const writtenBefore = l.writes('C').filter((w) => w.db === 'avdb' && w.host === A.address && w.time < stopped!.time).length;
      expect(writtenBefore).toBeGreaterThan(0);
      const onB = await l.query<{ n: number }>('B', 'avdb', 'SELECT count(*)::int AS n FROM app_assignment WHERE entity = $1', [
        `av-manager@${C.name}`,
      ]);
      expect(onB[0]!.n).toBeGreaterThanOrEqual(writtenBefore);

      // The "other appliance" steps ran on C: its catalogs dropped, its slons started, its services back.
      expect(slonStarts(l, 'C')).toEqual(['start_slon_fdb.sh', 'start_slon_edb.sh', 'start_slon_avdb.sh']);
      for (const db of DBS) expect(read(l, 'C', `/usr/local/desktone/release/active/conf/${db}.properties`), db).not.toContain(A.address);
      expect(l.services('C')).toEqual({ dtService: 'running', 'av-manager': 'running', diagnose: 'running' });
      for (const db of DBS) {
        expect(await catalogOf(l, 'B', db), db).toEqual([{ set_id: 1, local_id: '1', master_node: true }]);
        expect(await catalogOf(l, 'A', db), db).toEqual([{ set_id: 1, local_id: '2', master_node: false }]);
        expect(await catalogOf(l, 'C', db), db).toEqual([{ set_id: 1, local_id: '3', master_node: false }]);
      }
      for (const id of ['t3-verify-others-subscribed', 't4-verify-others-edb-subscribed', 't4-verify-others-avdb-subscribed'])
        expect(statusOf(summary, id), id).toBe('succeeded');
      await expectCapabilitiesMovedInMasterSp(l);
      expectNoSecretOnAppliances(l);
      // Once started again, C's services wrote to B only: no write went to A, whose EDB and AVDB
      // task 4 then replaced with B's. C goes on writing, to B.
      const restarted = l.commands('C').filter((c) => c.tool === 'service' && c.argv.join(' ') === 'av-manager start');
      expect(restarted).toHaveLength(1);
      expect(l.writes('C').filter((w) => w.time > restarted[0]!.time && w.host === A.address)).toEqual([]);
      for (const db of ['fdb', 'avdb'] as const)
        await nextWrite(l, 'C', `a new write of C to B's ${db}`, (w) => w.db === db && w.host === B.address);
    },
    LAB_RUN_MS,
  );

  it(
    'service provider, primary reachable, another SP appliance C whose dtService writes all the time: C is stopped for the backup, its old catalog dropped, and it rejoins FDB as a subscriber of B',
    async () => {
      const l = await start('service-provider', { others: 1 });
      const { A, B } = l.appliances;
      await nextWrite(l, 'C', "C's dtService writing to A's FDB", (w) => w.host === A.address);
      const { summary, done } = await run(
        l,
        { appliance_kind: 'service-provider', primary_reachable: true },
        {},
        { 't2-reinit-slony': () => initializeSlony(l, { org: 1000, db: 'fdb', origin: 'B' }) },
      );
      expect(failures(summary)).toEqual([]);
      expect(summary.status, summary.message).toBe('succeeded');
      expect(done).toEqual(['t2-appliances-running', 't2-reinit-slony']);
      // On C, in order: services stopped for the backup (1.5), dtService stopped (2.1), slons stopped
      // (2.4), dtService started and stopped again (2.7, 2.8), slon started (2.9), services started (2.12).
      const onC = commandsOn(l, 'C').filter((c) => !/ status$|^killall -q -s 0/.test(c));
      expect(onC).toEqual([
        'service dtService stop',
        'service av-manager stop',
        'service diagnose stop',
        'service dtService stop',
        'killall -w slon',
        'service dtService start',
        'service dtService stop',
        'start_slon_fdb.sh fdb',
        'service dtService start',
        'service av-manager start',
        'service diagnose start',
      ]);
      expect(read(l, 'C', FDB_PROPERTIES)).not.toContain(`fdb.host.1=${A.address}\n`);
      expect(await catalogOf(l, 'B', 'fdb')).toEqual([{ set_id: 1, local_id: '1', master_node: true }]);
      expect(await catalogOf(l, 'A', 'fdb')).toEqual([{ set_id: 1, local_id: '2', master_node: false }]);
      expect(await catalogOf(l, 'C', 'fdb')).toEqual([{ set_id: 1, local_id: '3', master_node: false }]);
      expect(statusOf(summary, 't2-verify-others-subscribed')).toBe('succeeded');
      for (const id of ['A', 'B', 'C'] as const)
        expect((await l.query(id, 'fdb', 'SELECT name, capabilities FROM appliance ORDER BY name')).slice(0, 2), id).toEqual([
          { name: A.name, capabilities: 63 },
          { name: B.name, capabilities: 255 },
        ]);
      await nextWrite(l, 'C', 'a new write of C to B', (w) => w.host === B.address);
    },
    LAB_RUN_MS,
  );

  it(
    "service provider, primary reachable, a writer the runbook cannot stop adds a row to A's FDB between the row counts and the dump: the restore check fails, the typed rollback puts B's FDB back as it was, and the run stops",
    async () => {
      const l = await start('service-provider');
      const { A, B } = l.appliances;
      const psql = (id: 'A' | 'B', sql: string) => {
        const c = l.appliances[id].db.fdb;
        const r = spawnSync(
          'psql',
          [`host=${c.host} port=${c.port} dbname=fdb user=${c.user} password=${c.password}`, '-qAtX', '-c', sql],
          {
            encoding: 'utf8',
          },
        );
        if (r.status !== 0) throw new Error(`psql on ${id}: ${r.stderr}`);
        return r.stdout.trim();
      };
      let bTasksBeforeRestore = '';
      const r = await runInLab(ID, {
        inventory: writeInventory(l, { appliance_kind: 'service-provider', primary_reachable: true }),
        env: secretsOf(l),
        manual: { 't2-reinit-slony': () => initializeSlony(l, { org: 1000, db: 'fdb', origin: 'B' }) },
        onEvent: (e) => {
          // A batch job elsewhere writes to A once the rows are counted; B as it was before the restore.
          if (e.type === 'step-finished' && e.stepId === 't1-count-rows-primary-fdb')
            psql('A', "insert into task (org_id, kind, state) values (1000, 'batch-job', 'done')");
          if (e.type === 'step-started' && e.stepId === 't1-restore-fdb') bTasksBeforeRestore = psql('B', 'select count(*) from task');
        },
      });
      expect(r.error).toBeNull();
      expect(r.summary!.status).toBe('failed');
      expect(statusOf(r.summary, 't1-restore-fdb')).toBe('failed');
      expect(r.summary!.steps.find((s) => s.id === 't1-restore-fdb')?.message).toMatch(/verification failed/);
      // The rollback asked for its own typed confirmation and restored B's dump taken before the restore.
      expect(r.typed).toContainEqual(['rollback-restore-fdb', `${B.name}/fdb`]);
      expect(statusOf(r.summary, 'rollback-restore-fdb')).toBe('succeeded');
      expect(bTasksBeforeRestore).toMatch(/^\d+$/);
      expect(psql('B', 'select count(*) from task')).toBe(bTasksBeforeRestore);
      expect(psql('B', "select count(*) from task where kind = 'batch-job'")).toBe('0');
      expect(psql('A', "select count(*) from task where kind = 'batch-job'")).toBe('1');
      // Nothing after the failed restore ran: B's configuration still names A.
      expect(statusOf(r.summary, 't1-edit-fdb-properties') ?? 'not run').toBe('not run');
      expect(read(l, 'B', FDB_PROPERTIES)).toContain(`fdb.host.1=${A.address}\n`);
    },
    LAB_RUN_MS,
  );

  it(
    'service provider, primary unreachable, another SP appliance C, A restarted now: C keeps writing (to B once B is writable), its old catalog is dropped, it joins B alone and A joins after its restart',
    async () => {
      const l = await start('service-provider', { others: 1 });
      const { A, B } = l.appliances;
      await l.stopPrimary();
      const { summary, done } = await run(
        l,
        { appliance_kind: 'service-provider', primary_reachable: false },
        { 't4-restart-primary-now': 'now' },
        {
          't2-reinit-slony': () => initializeSlony(l, { org: 1000, db: 'fdb', origin: 'B' }),
          't4-restart-primary': () => l.startPrimary(),
          't4-reinit-slony-fdb-sp': () => initializeSlony(l, { org: 1000, db: 'fdb', origin: 'B' }),
        },
      );
      expect(failures(summary)).toEqual([]);
      expect(summary.status, summary.message).toBe('succeeded');
      expect(done).toEqual(['t2-appliances-running', 't2-reinit-slony', 't4-restart-primary', 't4-reinit-slony-fdb-sp']);
      // With nothing to back up, task 1 left C's services alone: C wrote to B as soon as B's FDB
      // became writable (A down, B's catalog dropped).
      expect(commandsOn(l, 'C').filter((c) => c.startsWith('service ') && !c.endsWith(' status'))[0]).toBe('service dtService stop');
      expect(l.writes('C').some((w) => w.host === B.address)).toBe(true);
      // C joined B's new cluster in task 2 (A was down), A in task 4 after its cleaning.
      expect(await l.query('B', 'fdb', 'SELECT no_id, no_comment FROM _slony.sl_node ORDER BY no_id')).toEqual([
        { no_id: 1, no_comment: `${B.name} fdb` },
        { no_id: 2, no_comment: `${l.appliances.C!.name} fdb` },
        { no_id: 3, no_comment: `${A.name} fdb` },
      ]);
      expect(await catalogOf(l, 'C', 'fdb')).toEqual([{ set_id: 1, local_id: '2', master_node: false }]);
      expect(await catalogOf(l, 'A', 'fdb')).toEqual([{ set_id: 1, local_id: '3', master_node: false }]);
      expect(statusOf(summary, 't2-verify-others-subscribed')).toBe('succeeded');
      expect(l.services('C')).toEqual({ dtService: 'running', 'av-manager': 'running', diagnose: 'running' });
      await nextWrite(l, 'C', 'a new write of C to B', (w) => w.host === B.address);
    },
    LAB_RUN_MS,
  );

  it(
    'service provider, master_node false: the run stops and dtService is not started again',
    async () => {
      const l = await start('service-provider');
      const { summary } = await run(
        l,
        { appliance_kind: 'service-provider', primary_reachable: true },
        {},
        {
          // The operator initialises Slony from the wrong appliance: A stays the origin.
          't2-reinit-slony': () => initializeSlony(l, { org: 1000, db: 'fdb', origin: 'A' }),
        },
      );
      expect(summary.status).toBe('failed');
      const byId = new Map(summary.steps.map((s) => [s.id, s]));
      expect(byId.get('t2-reinit-slony')?.status).toBe('succeeded');
      expect(byId.get('t2-verify-master-node')?.status).toBe('failed');
      expect(byId.get('t2-verify-master-node')?.message).toMatch(/master_node/);
      expect(byId.get('t2-final-start-dtservice-secondary')?.status ?? 'not run').toBe('not run');
    },
    LAB_RUN_MS,
  );

  it(
    'service provider, primary unreachable, A restarted later: nothing runs on A, no restore, B promoted',
    async () => {
      const l = await start('service-provider');
      await l.stopPrimary();
      const { summary } = await run(
        l,
        { appliance_kind: 'service-provider', primary_reachable: false },
        // Task 4 is asked for a service provider whose primary was unreachable; "later" ends the run.
        { 't4-restart-primary-now': 'later' },
        {
          't2-reinit-slony': () => initializeSlony(l, { org: 1000, db: 'fdb', origin: 'B' }),
        },
      );
      expect(failures(summary)).toEqual([]);
      expect(summary.status, summary.message).toBe('succeeded');
      const ran = summary.steps.filter((s) => s.status === 'succeeded').map((s) => s.id);
      expect(ran.some((id) => /primary|restore|backup/.test(id) && !id.startsWith('t4'))).toBe(false);
      expect(ran.filter((id) => id.startsWith('t4-'))).toEqual(['t4-restart-primary-now']);
      expect(l.commands('A')).toEqual([]);
      expect(await l.query('B', 'fdb', 'SELECT name, capabilities FROM appliance ORDER BY name')).toEqual([
        { name: l.appliances.A.name, capabilities: 63 },
        { name: l.appliances.B.name, capabilities: 255 },
      ]);
      expect((await l.query<{ master_node: boolean }>('B', 'fdb', SLONY_VERIFY_SQL))[0]?.master_node).toBe(true);
    },
    LAB_RUN_MS,
  );

  it(
    'tenant, primary reachable: FDB, EDB and AVDB restored, tenant promoted, old primary restarted with EDB and AVDB re-initialised',
    async () => {
      const l = await start('tenant');
      for (const db of ['edb', 'avdb'] as const) expect(l.databases).toContain(db);
      const { summary } = await tenantFailoverWithPrimaryReachable(l);
      const ok = new Set(summary.steps.filter((s) => s.status === 'succeeded').map((s) => s.id));
      for (const db of ['fdb', 'edb', 'avdb']) for (const id of [`t1-backup-${db}`, `t1-restore-${db}`]) expect(ok.has(id), id).toBe(true);
      expect(ok.has('t3-update-capabilities') && ok.has('t3-verify-master-node')).toBe(true);
      // B's dtService, started again at task 1 step 13, wrote to B's FDB after the restore; task 3.5
      // still found the restored FDB (it no longer compares row counts that the service changed).
      expect(ok.has('t3-check-restored-fdb')).toBe(true);
      expect(l.writes('B').some((w) => w.service === 'dtService' && w.host === l.appliances.B.address)).toBe(true);
      for (const db of ['edb', 'avdb'] as const) {
        expect(read(l, 'B', `/usr/local/desktone/release/active/conf/${db}.properties`)).not.toContain(
          `${db}.host.1=${l.appliances.A.address}\n`,
        );
        expect((await l.query<{ master_node: boolean }>('B', db, SLONY_VERIFY_SQL))[0]?.master_node).toBe(true);
      }
      const slons = l
        .commands('B')
        .filter((c) => c.tool.startsWith('start_slon_'))
        .map((c) => c.tool);
      expect(slons).toEqual(['start_slon_fdb.sh', 'start_slon_edb.sh', 'start_slon_avdb.sh']);
      await expectCapabilitiesMovedInMasterSp(l);
      // A (reachable) rejoined every database as a subscriber of B: its FDB slon started before the
      // task 3 re-initialisation, its old EDB/AVDB catalogs dropped and slons started in task 4, its
      // services stopped; its databases were dumped before they were overwritten.
      expect(slonStarts(l, 'A')).toEqual(['start_slon_fdb.sh', 'start_slon_fdb.sh', 'start_slon_edb.sh', 'start_slon_avdb.sh']);
      for (const db of ['fdb', 'edb', 'avdb'] as const)
        expect(await catalogOf(l, 'A', db), db).toEqual([{ set_id: 1, local_id: '2', master_node: false }]);
      expect(l.services('A')).toEqual({ dtService: 'stopped', 'av-manager': 'stopped', diagnose: 'stopped' });
      expect(dumps().files).toEqual(
        expect.arrayContaining(['fdb-primary-before-task4.dump', 'edb-primary-before-task4.dump', 'avdb-primary-before-task4.dump']),
      );
      expect(new Set([...dumps().fileModes, ...dumps().dirModes.map((m) => m & 0o600)])).toEqual(new Set([0o600]));
    },
    LAB_RUN_MS,
  );

  it(
    'service provider, primary unreachable, A restarted now: A cleaned before FDB is re-initialised with A as a subscriber of B',
    async () => {
      const l = await start('service-provider');
      const { A, B } = l.appliances;
      await l.stopPrimary();
      let before: Awaited<ReturnType<typeof catalogOf>> = null;
      let beforeCapabilities: unknown[] = [];
      let atReinit: { slony: number; services: Record<string, string>; slons: object } | undefined;
      let pgBack: Promise<void> | undefined;
      const { summary, events, done } = await run(
        l,
        { appliance_kind: 'service-provider', primary_reachable: false },
        { 't4-restart-primary-now': 'now' },
        {
          't2-reinit-slony': () => initializeSlony(l, { org: 1000, db: 'fdb', origin: 'B' }),
          't4-restart-primary': async () => {
            await l.startPrimary();
            // What A brings back: the catalog and the data of before the failover.
            before = await catalogOf(l, 'A', 'fdb');
            beforeCapabilities = await l.query('A', 'fdb', 'SELECT name, capabilities FROM appliance ORDER BY name');
            // A's PostgreSQL comes up a few seconds after its SSH server: the runbook must wait for it.
            await A.pg.halt();
            pgBack = sleep(4000).then(() => A.pg.start());
          },
          't4-reinit-slony-fdb-sp': async () => {
            // The runbook cleaned A and started its slon before asking for the re-initialisation.
            atReinit = { slony: await slonySchemas(l, 'A', 'fdb'), services: l.services('A'), slons: l.slonPids('A') };
            await initializeSlony(l, { org: 1000, db: 'fdb', origin: 'B' });
          },
        },
      );
      expect(failures(summary)).toEqual([]);
      expect(summary.status, summary.message).toBe('succeeded');
      expect(done).toEqual(['t2-appliances-running', 't2-reinit-slony', 't4-restart-primary', 't4-reinit-slony-fdb-sp']);
      await pgBack;
      // The services and slons were stopped while the database was still down; the drop waited for it.
      expect(summary.steps.find((s) => s.id === 't4-wait-primary-db')?.message).toMatch(/passed after ([2-9]|\d\d+) poll/);

      // Before: A came back as the Slony master of FDB (node 1, origin) with the master role flags.
      expect(before).toEqual([{ set_id: 1, local_id: '1', master_node: true }]);
      expect(beforeCapabilities).toEqual([
        { name: A.name, capabilities: 255 },
        { name: B.name, capabilities: 63 },
      ]);
      // Cleaned before the re-initialisation: services stopped, no _slony schema, and the FDB slon
      // started again by the runbook (the Service Center's button starts none).
      expect(atReinit).toEqual({
        slony: 0,
        services: { dtService: 'stopped', 'av-manager': 'stopped', diagnose: 'stopped' },
        slons: { fdb: expect.any(Number) },
      });
      // A's FDB was dumped before its catalog was dropped, into a 0700 directory, readable only by its owner.
      expect(dumps()).toEqual({ files: ['fdb-primary-before-task4.dump'], fileModes: [0o600], dirModes: [0o700] });

      // Task 4 ran in this order, and only task 4 reached A.
      const ran = summary.steps.filter((s) => s.status === 'succeeded').map((s) => s.id);
      expect(ran.filter((id) => id.startsWith('t4-'))).toEqual([
        't4-restart-primary-now',
        't4-restart-primary',
        't4-stop-services-primary',
        't4-kill-slon-primary',
        't4-wait-primary-db',
        't4-backup-primary-fdb',
        't4-drop-slony-primary-fdb',
        't4-start-slon-primary-fdb',
        't4-reinit-slony-fdb-sp',
        't4-verify-primary-fdb-not-master',
        't4-verify-primary-capabilities-sp',
      ]);
      expect(ran.indexOf('t4-restart-primary')).toBeGreaterThan(ran.indexOf('t2-final-start-dtservice-secondary'));
      expect(stepsTouching(events, 'A')).toEqual([
        't4-restart-primary',
        't4-stop-services-primary',
        't4-kill-slon-primary',
        't4-wait-primary-db',
        't4-drop-slony-primary-fdb',
        't4-start-slon-primary-fdb',
        't4-verify-primary-fdb-not-master',
        't4-verify-primary-capabilities-sp',
      ]);
      expect(commandsBesidesSlonStarts(l, 'A')).toEqual(CLEANING_COMMANDS);
      expect(slonStarts(l, 'A')).toEqual(['start_slon_fdb.sh']);
      expect(l.services('A')).toEqual({ dtService: 'stopped', 'av-manager': 'stopped', diagnose: 'stopped' });

      // After: B is the origin (node 1), A node 2 subscribed; A's FDB has B's data (flags moved).
      expect(await catalogOf(l, 'B', 'fdb')).toEqual([{ set_id: 1, local_id: '1', master_node: true }]);
      expect(await catalogOf(l, 'A', 'fdb')).toEqual([{ set_id: 1, local_id: '2', master_node: false }]);
      expect(await l.query('B', 'fdb', 'SELECT no_id, no_comment FROM _slony.sl_node ORDER BY no_id')).toEqual([
        { no_id: 1, no_comment: `${B.name} fdb` },
        { no_id: 2, no_comment: `${A.name} fdb` },
      ]);
      for (const id of ['A', 'B'] as const) {
        expect(await l.query(id, 'fdb', 'SELECT name, capabilities FROM appliance ORDER BY name'), id).toEqual([
          { name: A.name, capabilities: 63 },
          { name: B.name, capabilities: 255 },
        ]);
      }
      expect(l.services('B')).toMatchObject({ dtService: 'running' });
    },
    LAB_RUN_MS,
  );

  it(
    'tenant, primary unreachable: nothing runs on A until task 4, no restore, tenant promoted; A comes back in task 4, is cleaned, and FDB/EDB/AVDB are re-initialised from B',
    async () => {
      const l = await start('tenant');
      const { A, B } = l.appliances;
      const DBS = ['fdb', 'edb', 'avdb'] as const;
      await l.stopPrimary();
      const before: Partial<Record<Db, Awaited<ReturnType<typeof catalogOf>>>> = {};
      let nodesAfterTask3: number[] = [];
      let atReinit: { slony: number[]; services: Record<string, string>; slons: object } | undefined;
      const { summary, events, done } = await run(
        l,
        { appliance_kind: 'tenant', primary_reachable: false },
        // "now" means the operator brings A back, and the manual step's check needs A over SSH.
        { 't4-restart-primary-now': 'now' },
        {
          't3-reinit-slony': () => initializeSlony(l, { org: l.orgId, db: 'fdb', origin: 'B' }),
          't4-restart-primary': async () => {
            // Task 3 re-initialised FDB while A was down: B alone in the cluster.
            nodesAfterTask3 = await nodes(l, 'fdb');
            await l.startPrimary();
            for (const db of DBS) before[db] = await catalogOf(l, 'A', db);
          },
          't4-reinit-slony-fdb-tenant': async () => {
            atReinit = {
              slony: await Promise.all(DBS.map((db) => slonySchemas(l, 'A', db))),
              services: l.services('A'),
              slons: l.slonPids('A'),
            };
            await initializeSlony(l, { org: l.orgId, db: 'fdb', origin: 'B' });
          },
          't4-reinit-slony-edb': () => initializeSlony(l, { org: l.orgId, db: 'edb', origin: 'B' }),
          't4-reinit-slony-avdb': () => initializeSlony(l, { org: l.orgId, db: 'avdb', origin: 'B' }),
        },
      );
      expect(failures(summary)).toEqual([]);
      expect(summary.status, summary.message).toBe('succeeded');
      expect(done).toEqual([
        't3-reinit-slony',
        't4-restart-primary',
        't4-reinit-slony-fdb-tenant',
        't4-reinit-slony-edb',
        't4-reinit-slony-avdb',
      ]);
      const byId = new Map(summary.steps.map((s) => [s.id, s]));

      // Tasks 1 to 3 did nothing on A: every step that reached A (or one of its databases) is in task 4,
      // from the check that A is up again on.
      const touchedA = stepsTouching(events, 'A');
      expect(touchedA).toEqual([
        't4-restart-primary',
        't4-stop-services-primary',
        't4-kill-slon-primary',
        't4-wait-primary-db',
        't4-drop-slony-primary-fdb',
        't4-drop-slony-primary-edb',
        't4-drop-slony-primary-avdb',
        't4-start-slon-primary-fdb',
        't4-start-slon-primary-edb-avdb',
        't4-verify-primary-fdb-not-master',
        't4-verify-primary-edb-not-master',
        't4-verify-primary-avdb-not-master',
      ]);
      for (const id of ['t1-stop-services-primary', 't1-kill-slon-primary', 't3-check-restored-fdb', 't3-drop-slony-primary-fdb']) {
        expect(byId.get(id)?.status, id).toBe('skipped');
        expect(byId.get(id)?.message, id).toMatch(/primary_reachable/);
      }
      // On A only task 4 ran a tool: the cleaning (service stop/status, killall), then the slon starts.
      expect(commandsBesidesSlonStarts(l, 'A')).toEqual(CLEANING_COMMANDS);
      expect(slonStarts(l, 'A')).toEqual(['start_slon_fdb.sh', 'start_slon_edb.sh', 'start_slon_avdb.sh']);

      // No backup or restore: every task 1.5 step is skipped and no backup directory was made.
      for (const db of DBS) {
        for (const id of [`t1-count-rows-primary-${db}`, `t1-backup-${db}`, `t1-restore-${db}`]) {
          expect(byId.get(id)?.status, id).toBe('skipped');
          expect(byId.get(id)?.message, id).toMatch(/primary_reachable/);
        }
      }
      expect(summary.steps.filter((s) => s.status === 'succeeded' && /^t1-.*(backup|restore)/.test(s.id))).toEqual([]);
      // The only dumps are those of A taken in task 4 before its data was replaced.
      expect(dumps()).toEqual({
        files: ['avdb-primary-before-task4.dump', 'edb-primary-before-task4.dump', 'fdb-primary-before-task4.dump'],
        fileModes: [0o600, 0o600, 0o600],
        dirModes: [0o700],
      });

      // Task 1: B writable and configured without A.
      for (const db of DBS) {
        const props = read(l, 'B', `/usr/local/desktone/release/active/conf/${db}.properties`);
        expect(props, db).not.toContain(`${db}.host.1=${A.address}\n`);
        expect(props, db).toContain(`${db}.host.2=${B.address}\n`);
      }
      expect(l.services('B')).toMatchObject({ dtService: 'running', 'av-manager': 'running', diagnose: 'running' });
      expect(l.commands('B').find((c) => c.tool === 'av-setup')?.env).toEqual({ DB_HOST: B.address, DB_PASSWORD: '<set>' });

      // Task 3: capabilities moved in the master SP FDB; B became the Slony master of FDB while A
      // was down: a one-node cluster.
      await expectCapabilitiesMovedInMasterSp(l);
      const slons = l
        .commands('B')
        .filter((c) => c.tool.startsWith('start_slon_'))
        .map((c) => c.tool);
      expect(slons).toEqual(['start_slon_fdb.sh', 'start_slon_edb.sh', 'start_slon_avdb.sh']);
      expect(nodesAfterTask3).toEqual([1]);

      // Task 4. Before: A came back claiming to be the Slony master (node 1, origin) of every database.
      for (const db of DBS) expect(before[db], db).toEqual([{ set_id: 1, local_id: '1', master_node: true }]);
      // The cleaning ran first, in this order, and was complete when the FDB re-initialisation was asked for.
      const ran = summary.steps.filter((s) => s.status === 'succeeded').map((s) => s.id);
      expect(ran.filter((id) => id.startsWith('t4-'))).toEqual([
        't4-restart-primary-now',
        't4-restart-primary',
        't4-stop-services-primary',
        't4-kill-slon-primary',
        't4-wait-primary-db',
        't4-backup-primary-fdb',
        't4-backup-primary-edb-avdb',
        't4-drop-slony-primary-fdb',
        't4-drop-slony-primary-edb',
        't4-drop-slony-primary-avdb',
        't4-start-slon-primary-fdb',
        't4-start-slon-primary-edb-avdb',
        't4-reinit-slony-fdb-tenant',
        't4-verify-primary-fdb-not-master',
        't4-reinit-slony-edb',
        't4-verify-primary-edb-not-master',
        't4-verify-others-edb-subscribed',
        't4-reinit-slony-avdb',
        't4-verify-primary-avdb-not-master',
        't4-verify-others-avdb-subscribed',
      ]);
      expect(byId.get('t4-restart-primary')?.message).toMatch(/check passed/);
      expect(atReinit).toEqual({
        slony: [0, 0, 0],
        services: { dtService: 'stopped', 'av-manager': 'stopped', diagnose: 'stopped' },
        slons: { fdb: expect.any(Number), edb: expect.any(Number), avdb: expect.any(Number) },
      });
      expect(l.services('A')).toEqual({ dtService: 'stopped', 'av-manager': 'stopped', diagnose: 'stopped' });

      // After: B is the origin (node 1) of FDB, EDB and AVDB, with A as node 2 subscribed to it;
      // A no longer claims to be the master anywhere.
      for (const db of DBS) {
        expect(await catalogOf(l, 'B', db), db).toEqual([{ set_id: 1, local_id: '1', master_node: true }]);
        expect(await catalogOf(l, 'A', db), db).toEqual([{ set_id: 1, local_id: '2', master_node: false }]);
        expect(await nodes(l, db), db).toEqual([1, 2]);
      }
    },
    LAB_RUN_MS,
  );
});
