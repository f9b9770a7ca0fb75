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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  provisionTimesTen,
  readTimesTenState,
  installTimesTenRelease,
  ttRows,
  isCompleteTtBackup,
  type TimesTenLabOptions,
} from '../../fixtures/lab/timesten/provision.js';
import { startSshLab, type SshLab } from '../harness/sshd.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { RunSummary } from '../../src/engine/executor.js';
import { completed, runInLab, statusOf, type Manual } from './run-in-lab.js';

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
    fs.mkdirSync(backups[h]!, { recursive: true });
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
const install: Manual = {
  'u07-install-new-release': () => installTimesTenRelease(shared(), 'upgradehost', NEW_RELEASE),
  'o19-install-new-release': () => installTimesTenRelease(shared(), 'originalhost', NEW_RELEASE),
};

describe(`${ID} in the lab`, () => {
  it('upgrades both stores online in the order of the source; replication works both ways at the end', async () => {
    provision();
    const { summary, done } = await run(writeInventory(), install);
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
    expect(notes('Original').filter((n) => n.startsWith('runbook-'))).toHaveLength(4);
    expect(notes('Upgrade').filter((n) => n.startsWith('runbook-'))).toHaveLength(4);
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
});
