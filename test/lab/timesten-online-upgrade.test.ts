/**
 * timesten-online-upgrade end to end in the lab: originalhost and upgradehost (real sshd each, the
 * TimesTen fakes on PATH, a /backup tree per host). The fakes keep both stores' releases, agents,
 * receiver states and bookmarks, so a step out of order fails like the real tool. The real engine
 * runs the runbook in-process; a scripted operator confirms and carries out the manual steps
 * (the new release's installation is `installTimesTenRelease`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  provisionTimesTen,
  readTimesTenState,
  installTimesTenRelease,
  ttRows,
  isCompleteTtBackup,
  ttApplicationWrite,
  ttOrderIds,
  type TimesTenLabOptions,
  type TtDsn,
} from '../../fixtures/lab/timesten/provision.js';
import { startSshLab, type SshLab } from '../harness/sshd.js';
import { FAKES_BIN_DIR } from '../../fixtures/fakes/lib/provision.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { RunSummary } from '../../src/engine/executor.js';
import { completed, outputOf, runInLab, statusOf, type LabRun, type Manual } from './run-in-lab.js';

const ID = 'timesten-online-upgrade';
const NEW_RELEASE = '18.1.4.1.0';

let lab: SshLab;
let dir: string;
const backups: Record<string, string> = {};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-tt-lab-'));
  fs.chmodSync(dir, 0o755);
  for (const h of ['originalhost', 'upgradehost']) {
    backups[h] = path.join(dir, `${h}-backup`);
    fs.mkdirSync(backups[h], { recursive: true });
  }
  lab = await startSshLab({
    hosts: [
      { name: 'originalhost', address: '127.0.62.1', mounts: { '/backup': backups.originalhost! } },
      { name: 'upgradehost', address: '127.0.62.2', mounts: { '/backup': backups.upgradehost! } },
    ],
  });
}, 180_000);

afterAll(async () => {
  await lab?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const shared = () => lab.host('originalhost').sharedDir;

function provision(extra: Partial<TimesTenLabOptions> = {}): void {
  for (const b of Object.values(backups)) for (const f of fs.readdirSync(b)) fs.rmSync(path.join(b, f), { force: true });
  provisionTimesTen({
    sharedDir: shared(),
    original: { stateDir: lab.host('originalhost').stateDir, backupDir: backups.originalhost },
    upgrade: { stateDir: lab.host('upgradehost').stateDir, backupDir: backups.upgradehost },
    ...extra,
  });
}

function writeInventory(params: Record<string, string | boolean> = {}): string {
  const hosts = lab.hosts
    .map((h) => `  ${h.name}: { address: ${h.address}, port: ${h.port}, user: ${lab.user}, identityFile: ${lab.clientKeyPath} }`)
    .join('\n');
  const file = path.join(dir, `inventory-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(
    file,
    `name: timesten lab
ssh:
  knownHostsFile: ${lab.knownHostsPath}
hosts:
${hosts}
roles:
  original: originalhost
  upgrade: upgradehost
parameters:
  new_release: ${NEW_RELEASE}
${Object.entries(params)
  .map(([k, v]) => `  ${k}: ${v}`)
  .join('\n')}
`,
  );
  return file;
}

async function run(inventory: string, manual: Manual = {}): Promise<{ summary: RunSummary; events: RunEvent[]; done: string[] }> {
  const r = await runInLab(ID, { inventory, manual });
  return { ...completed(r), done: [...r.done, ...r.typed.map(([id, t]) => `typed ${id}=${t}`)] };
}

const status = statusOf;
/** Outcomes of a step's verifications or checks, in order. */
const checks = (events: RunEvent[], stepId: string, phase: 'verify' | 'check') =>
  events.flatMap((e) => (e.type === 'check-finished' && e.stepId === stepId && e.phase === phase ? [e.status] : []));

/**
 * The applications keep writing: to Original while replication Original -> Upgrade is paused and
 * the Upgrade store is being rebuilt (steps 1 to 7), to Upgrade while replication Upgrade ->
 * Original is paused and the Original store is being rebuilt (steps 15 to 22). Returns the ids
 * written; every one must be in both stores at the end.
 */
function applications(): { manual: Manual; written: number[] } {
  const written: number[] = [];
  let next = 5000;
  const write = (host: string, dsn: TtDsn, n: number) => {
    for (let i = 0; i < n; i++) {
      const id = next++;
      ttApplicationWrite(shared(), { name: host, stateDir: lab.host(host).stateDir }, dsn, id);
      written.push(id);
    }
  };
  const manual: Manual = {
    'u07-install-new-release': () => {
      write('originalhost', 'Original', 3);
      installTimesTenRelease(shared(), 'upgradehost', NEW_RELEASE);
    },
    'u14-move-applications-to-upgrade': () => write('upgradehost', 'Upgrade', 2),
    'o19-install-new-release': () => {
      write('upgradehost', 'Upgrade', 3);
      installTimesTenRelease(shared(), 'originalhost', NEW_RELEASE);
    },
  };
  return { manual, written };
}
const install: Manual = applications().manual;

describe(`${ID} in the lab`, () => {
  it('upgrades both stores online in the order of the source; every application write made during the pauses is delivered', async () => {
    provision();
    const apps = applications();
    const { summary, done, events } = await run(writeInventory(), apps.manual);
    expect(summary.status, summary.message).toBe('succeeded');
    expect(done).toEqual([
      'u01-stop-applications',
      'u07-install-new-release',
      'o13-keep-applications-on-original',
      'u14-stop-applications-on-original',
      'u14-move-applications-to-upgrade',
      'o19-install-new-release',
      'typed u06-destroy-upgrade=Upgrade',
      'typed o18-destroy-original=Original',
    ]);
    const tt = readTimesTenState(shared());
    for (const dsn of ['Original', 'Upgrade'] as const) {
      expect(tt.stores[dsn].release).toBe(NEW_RELEASE);
      expect(tt.stores[dsn].schemeRelease).toBe(NEW_RELEASE);
      expect(tt.stores[dsn].agent).toBe('running');
      expect(tt.stores[dsn].ports).toEqual({ Original: 22012, Upgrade: 22011 });
    }
    // Each marker row reached the other store; the last one (step 23) went Upgrade -> new Original.
    const notes = (dsn: 'Original' | 'Upgrade') => ttRows(shared(), dsn).map((r) => String(r.NOTE));
    expect(notes('Original').filter((n) => n.startsWith('runbook-'))).toHaveLength(5);
    expect(notes('Upgrade').filter((n) => n.startsWith('runbook-'))).toHaveLength(5);
    // Application writes made while replication was paused, on both sides, reached both stores.
    expect(apps.written).toHaveLength(8);
    for (const dsn of ['Original', 'Upgrade'] as const) expect(ttOrderIds(shared(), dsn)).toEqual(expect.arrayContaining(apps.written));
    // Steps 9, 11 and 20 were verified.
    for (const id of ['u09-upgrade-repdefs', 'o20-upgrade-repdefs', 'u20-reset-bookmark'])
      expect(checks(events, id, 'verify'), id).toEqual(['succeeded']);
    for (const id of ['u11-sleep-after-stop', 'u11-sleep-after-start']) expect(status(summary, id)).toBe('succeeded');
    expect(isCompleteTtBackup(path.join(backups.upgradehost!, 'upgrade.dat'))).toBe(true);
    expect(isCompleteTtBackup(path.join(backups.originalhost!, 'original.dat'))).toBe(true);
  }, 180_000);

  it('Temporary=1 stores are unloaded instead of destroyed and RAM-loaded before the restore', async () => {
    provision({ temporary: 1 });
    const { summary, done } = await run(writeInventory({ temporary: true }), install);
    expect(summary.status, summary.message).toBe('succeeded');
    expect(done).toContain('typed u06-unload-upgrade=Upgrade');
    expect(done).toContain('typed o18-unload-original=Original');
    for (const id of ['u06-destroy-upgrade', 'o18-destroy-original']) expect(status(summary, id)).toBe('skipped');
    for (const id of ['u08-ramload-upgrade', 'o19-ramload-original']) expect(status(summary, id)).toBe('succeeded');
    const ev = readTimesTenState(shared()).events.map((e) => e.event);
    expect(ev.some((e) => e.startsWith('ramUnload:Upgrade'))).toBe(true);
    expect(ev.some((e) => e.startsWith('destroy'))).toBe(false);
  }, 180_000);

  it('a failing backup stops the run: the Upgrade store is not destroyed', async () => {
    provision({ backupFails: true });
    const { summary, done } = await run(writeInventory(), install);
    expect(summary.status).toBe('failed');
    expect(status(summary, 'u05-backup-upgrade')).toBe('failed');
    expect(summary.steps.map((s) => s.id)).not.toContain('u06-destroy-upgrade');
    expect(done.some((d) => d.startsWith('typed '))).toBe(false);
    const tt = readTimesTenState(shared());
    expect(tt.stores.Upgrade.exists).toBe(true);
    expect(tt.stores.Upgrade.release).toBe('11.2.2.8.0');
    expect(isCompleteTtBackup(path.join(backups.upgradehost!, 'upgrade.dat'))).toBe(false);
  }, 180_000);

  it('a user table without a primary key fails the preconditions: nothing is changed', async () => {
    provision({ tableWithoutPk: true });
    await expect(run(writeInventory(), install)).rejects.toThrow(/precondition/);
    const tt = readTimesTenState(shared());
    expect(tt.stores.Original.receivers.Upgrade?.state).toBe('start');
    expect(tt.events).toEqual([]);
  }, 180_000);

  it('a bookmark reset that drops the updates logged since step 15 stops the run at step 20; nothing is reported as upgraded', async () => {
    // The vendor does not document what a cleared bookmark sends next; this reading drops them.
    provision({ resetSkipsPending: true });
    const apps = applications();
    const { summary, events } = await run(writeInventory(), apps.manual);
    expect(summary.status).toBe('failed');
    expect(status(summary, 'u20-reset-bookmark')).toBe('failed');
    expect(checks(events, 'u20-reset-bookmark', 'verify')).toEqual(['failed']);
    expect(status(summary, 'u22-resume-upgrade-to-original')).toBeUndefined();
  }, 180_000);

  it('a restore that fails half-way: the run stops with the recovery steps; after them, resume restores again and completes', async () => {
    provision({ restoreFailsOnce: ['Upgrade'] });
    const apps = applications();
    const first = await runInLab(ID, { inventory: writeInventory(), manual: apps.manual });
    expect(first.summary?.status).toBe('failed');
    expect(status(first.summary, 'u08-restore-upgrade')).toBe('failed');
    const guidance = first.manual.find((m) => m.stepId === 'recover-failed-restore-upgrade')?.instructions ?? '';
    expect(guidance).toMatch(/PARTIAL/);
    expect(guidance).toMatch(/ttDestroy Upgrade/);
    expect(guidance).toMatch(/applications? on the Original system/);
    expect(guidance).toMatch(/-bookmark/);
    // The check after the guided step failed: the operator had not destroyed the partial store yet.
    expect(checks(first.events, 'recover-failed-restore-upgrade', 'check')).toEqual(['failed']);
    // Resuming as is fails again: the partial store is still there.
    const again = await runInLab(ID, { inventory: writeInventory(), manual: apps.manual, resumeOf: first });
    expect(status(again.summary, 'u08-restore-upgrade')).toBe('failed');
    expect(outputOf(again.events, 'u08-restore-upgrade')).toMatch(/TT2207/);
    // The operator follows the steps shown: destroy the partial store (check passes), resume.
    const recovered: LabRun = await runInLab(ID, {
      inventory: writeInventory(),
      manual: { ...apps.manual, 'recover-failed-restore-upgrade': () => destroyAsOperator('upgradehost', 'Upgrade') },
      resumeOf: first,
    });
    expect(recovered.summary?.status).toBe('failed');
    expect(
      recovered.events.some((e) => e.type === 'step-finished' && e.stepId === 'recover-failed-restore-upgrade' && e.status === 'succeeded'),
    ).toBe(true);
    const final = await runInLab(ID, { inventory: writeInventory(), manual: apps.manual, resumeOf: first });
    expect(final.summary?.status, final.summary?.message).toBe('succeeded');
    for (const dsn of ['Original', 'Upgrade'] as const) expect(ttOrderIds(shared(), dsn)).toEqual(expect.arrayContaining(apps.written));
  }, 300_000);

  it('access control without credentials in the DSN: a precondition refuses clearly, before any change', async () => {
    provision({ accessControl: { uid: 'ttadm', pwd: 'secret', credentialsInDsn: { upgradehost: true } } });
    const r = await runInLab(ID, { inventory: writeInventory(), manual: install });
    expect(r.error?.message).toMatch(/precondition/);
    const failed = r.events.flatMap((e) =>
      e.type === 'check-finished' && e.phase === 'precondition' && e.status === 'failed' ? [e.title] : [],
    );
    expect(failed).toContain('The TimesTen utilities reach the Original store without asking for a user ID or password');
    expect(failed.join('\n')).not.toMatch(/Upgrade store without asking/);
    expect(readTimesTenState(shared()).events).toEqual([]);
  }, 180_000);
});

/** The operator destroys a partial store by hand (as the recovery steps say). */
function destroyAsOperator(host: string, dsn: TtDsn): void {
  const r = spawnSync(path.join(FAKES_BIN_DIR, 'ttDestroy'), [dsn], {
    encoding: 'utf8',
    input: '',
    env: { ...process.env, LAB_HOST: host, LAB_STATE: lab.host(host).stateDir, LAB_SHARED: shared() },
  });
  if (r.status !== 0) throw new Error(`ttDestroy ${dsn}: ${r.stdout}${r.stderr}`);
}
