/**
 * bomgar-failover-upgrade end to end against the fake appliance pair (fixtures/fakes/bomgar):
 * the real engine runs the runbook in-process; a scripted operator answers the prompts and
 * carries out the manual steps on the lab (Download Backup, Sync Now, Install This Update,
 * Establish Relationship) when the engine asks for them, exactly between the steps around them.
 *
 * The fake behaves like the appliances, not like the runbook expects: <version> carries a build
 * number (23.2.1.4815), OAuth tokens may live only a second, a backup may fail over by itself
 * while the primary installs an update, a failed backup download saves an HTML page.
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBomgarPair, type ApplianceName, type BomgarPair } from '../../fixtures/fakes/bomgar/index.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { RunSummary } from '../../src/engine/executor.js';
import { randomBytes } from 'node:crypto';
import { completed, outputOf, runInLab, statusOf, type Manual } from './run-in-lab.js';

const ID = 'bomgar-failover-upgrade';
const NEW_VERSION = '23.2.1';

let pair: BomgarPair;
let dir: string;
const PAIR = { version: '23.1.2', installMs: 300, dataSyncMs: 300, build: '4815' } as const;
/** Restarts the pair with other options (the scenario of one test). */
async function restartPair(extra: Parameters<typeof startBomgarPair>[0]): Promise<void> {
  await pair.stop();
  pair = await startBomgarPair({ ...PAIR, ...extra });
}

beforeEach(async () => {
  pair = await startBomgarPair(PAIR);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-bomgar-lab-'));
  fs.mkdirSync(path.join(dir, 'backups'));
});
afterEach(async () => {
  await pair?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeInventory(params: Record<string, string | number> = {}): string {
  const endpoint = (n: ApplianceName) => `
  support-${n.toLowerCase()}:
    url: '${pair.url(n)}'
    ca: ${pair.caCertPath}
    auth: { type: oauth2-client-credentials, tokenPath: /oauth2/token, clientId: ${pair.credentials.oauth.clientId}, clientSecret: { env: BOMGAR_CLIENT_SECRET } }`;
  const file = path.join(dir, 'inventory.yaml');
  fs.writeFileSync(
    file,
    `name: bomgar lab pair
endpoints:${endpoint('A')}${endpoint('B')}
roles:
  appliance_a: support-a
  appliance_b: support-b
parameters:
  target_version: ${NEW_VERSION}
  backup_dir: ${path.join(dir, 'backups')}
${Object.entries(params)
  .map(([k, v]) => `  ${k}: ${v}`)
  .join('\n')}
`,
  );
  return file;
}

/** Calls the command API of an appliance as an operator would by hand (legacy user/password). */
function commandApi(n: ApplianceName, query: Record<string, string>): Promise<string> {
  const u = new URL('/api/command', pair.url(n));
  for (const [k, v] of Object.entries({ ...query, username: pair.credentials.user.username, password: pair.credentials.user.password }))
    u.searchParams.set(k, v);
  return new Promise((resolve, reject) => {
    https
      .get(u, { ca: pair.caCert }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

const labRun = (answers: Record<string, string>, manual: Manual, params: Record<string, string | number> = {}) =>
  runInLab(ID, { inventory: writeInventory(params), env: { BOMGAR_CLIENT_SECRET: pair.credentials.oauth.clientSecret }, answers, manual });

async function run(
  answers: Record<string, string>,
  manual: Manual,
  params: Record<string, string | number> = {},
): Promise<{ summary: RunSummary; events: RunEvent[]; done: string[] }> {
  return completed(await labRun(answers, manual, params));
}

const status = statusOf;

const backupAndSync: Manual = {
  // "Download Backup": a binary file of a believable size (the vendor's format is not documented here).
  'download-backup': () => fs.writeFileSync(path.join(dir, 'backups', 'support-backup.nsb'), randomBytes(200 * 1024)),
  'sync-now': async () => {
    await new Promise((r) => setTimeout(r, 1100)); // the sync time has a one-second resolution
    expect(pair.syncNow().ok).toBe(true);
  },
};

/** The asynchronous method by hand up to the role changes: B updated, "Become Primary" on B, "Become Backup" (forced) on A. */
const asyncByHand = (afterABackup: () => void = () => undefined): Manual => ({
  ...backupAndSync,
  'async-update-b': () => pair.installUpdate('B', NEW_VERSION),
  // "Become Primary" on B: A cannot be contacted (versions differ), B is promoted anyway.
  'async-b-primary-manual': async () => {
    expect(await commandApi('B', { action: 'set_failover_role', role: 'primary' })).toContain('Successfully');
  },
  // "Become Backup" on A, forced: A still reports primary and cannot contact B.
  'async-a-backup-manual': async () => {
    expect(pair.appliance('A').role).toBe('primary');
    expect(await commandApi('A', { action: 'set_failover_role', role: 'backup', force: '1' })).toContain('Successfully');
    afterABackup();
  },
});

describe(`${ID} in the lab`, () => {
  it('synchronous: A is updated first and keeps its role, then B, then failover is re-established', async () => {
    const { summary, done } = await run(
      { 'choose-method': 'synchronous' },
      {
        ...backupAndSync,
        'sync-update-a': () => pair.installUpdate('A', NEW_VERSION),
        'sync-update-b': () => pair.installUpdate('B', NEW_VERSION),
        'sync-reestablish': () => pair.establishFailover('A'),
      },
    );
    expect(summary.status, summary.message).toBe('succeeded');
    expect(done).toEqual([
      'plan-windows',
      'download-backup',
      'sync-now',
      'sync-window-1',
      'sync-update-a',
      'sync-interim',
      'sync-window-2',
      'sync-update-b',
      'sync-reestablish',
    ]);
    expect(summary.steps.filter((s) => s.id.startsWith('async-')).every((s) => s.status === 'skipped')).toBe(true);
    const state = pair.state();
    expect([state.A.version, state.A.role, state.B.version, state.B.role]).toEqual([NEW_VERSION, 'primary', NEW_VERSION, 'backup']);
    expect(state.failoverEstablished).toBe(true);
    // The role never changed through the API.
    expect(pair.requests().filter((r) => r.action === 'set_failover_role')).toEqual([]);
  });

  it('asynchronous through the API: B is updated first and becomes primary, then A is updated', async () => {
    const { summary, done } = await run(
      { 'choose-method': 'asynchronous', 'role-change-method': 'api' },
      {
        ...backupAndSync,
        'async-update-b': () => pair.installUpdate('B', NEW_VERSION),
        'async-update-a': async () => {
          // A is updated only once it is the backup.
          expect(pair.appliance('A').role).toBe('backup');
          await pair.installUpdate('A', NEW_VERSION);
        },
        'async-reestablish': () => pair.establishFailover('B'),
      },
    );
    expect(summary.status, summary.message).toBe('succeeded');
    expect(done).toEqual([
      'plan-windows',
      'download-backup',
      'sync-now',
      'async-window-1',
      'async-update-b',
      'async-interim',
      'async-window-2',
      'async-swing-network',
      'async-update-a',
      'async-reestablish',
    ]);
    const state = pair.state();
    expect([state.A.version, state.A.role, state.B.version, state.B.role]).toEqual([NEW_VERSION, 'backup', NEW_VERSION, 'primary']);
    expect(state.failoverEstablished).toBe(true);
    const roleChanges = pair.requests().filter((r) => r.action === 'set_failover_role');
    // A refused the plain change (it cannot contact B); the forced one followed.
    expect(roleChanges.map((r) => [r.appliance, r.params.role, r.params.force ?? null, r.status])).toEqual([
      ['B', 'primary', null, 200],
      ['A', 'backup', null, 200],
      ['A', 'backup', '1', 200],
    ]);
    expect(roleChanges.every((r) => r.unknownParams.length === 0)).toBe(true);
  });

  it('asynchronous by hand: the operator makes B primary and A backup on the failover pages, then A is updated', async () => {
    const { summary, done } = await run(
      { 'choose-method': 'asynchronous', 'role-change-method': 'manual' },
      {
        ...asyncByHand(),
        'async-update-a': async () => {
          // A is updated only once it is the backup.
          expect([pair.appliance('A').role, pair.appliance('B').role]).toEqual(['backup', 'primary']);
          await pair.installUpdate('A', NEW_VERSION);
        },
        'async-reestablish': () => pair.establishFailover('B'),
      },
    );
    expect(summary.status, summary.message).toBe('succeeded');
    expect(done).toEqual([
      'plan-windows',
      'download-backup',
      'sync-now',
      'async-window-1',
      'async-update-b',
      'async-interim',
      'async-window-2',
      'async-b-primary-manual',
      'async-swing-network',
      'async-a-backup-manual',
      'async-update-a',
      'async-reestablish',
    ]);
    for (const id of ['async-b-primary-api', 'async-a-backup-api']) expect(status(summary, id), id).toBe('skipped');
    for (const id of [
      'async-wait-b-primary',
      'async-verify-b-primary',
      'async-verify-a-backup',
      'async-check-a-updated',
      'health-after-b-primary',
      'health-after-a-backup',
    ])
      expect(status(summary, id), id).toBe('succeeded');
    const state = pair.state();
    expect([state.A.version, state.A.role, state.B.version, state.B.role]).toEqual([NEW_VERSION, 'backup', NEW_VERSION, 'primary']);
    expect(state.failoverEstablished).toBe(true);
    // The runbook talks to the command API with its OAuth account; the person used the legacy
    // user, standing in for the failover pages. Only the person changed roles.
    const requests = pair.requests();
    expect(requests.some((r) => r.auth === 'bearer' && r.action === 'check_health')).toBe(true);
    const roleChanges = requests.filter((r) => r.action === 'set_failover_role');
    expect(roleChanges.map((r) => [r.appliance, r.params.role, r.auth, r.principal, r.status])).toEqual([
      ['B', 'primary', 'password', pair.credentials.user.username, 200],
      ['A', 'backup', 'password', pair.credentials.user.username, 200],
    ]);
  });

  it('asynchronous by hand, role mismatch: A still reports primary, so the run stops before A is updated', async () => {
    const { summary, done } = await run(
      { 'choose-method': 'asynchronous', 'role-change-method': 'manual' },
      {
        ...backupAndSync,
        'async-update-b': () => pair.installUpdate('B', NEW_VERSION),
        // "Become Primary" on B; the operator then forgets "Become Backup" on A.
        'async-b-primary-manual': async () => {
          expect(await commandApi('B', { action: 'set_failover_role', role: 'primary' })).toContain('Successfully');
        },
      },
    );
    expect(summary.status).toBe('failed');
    expect(status(summary, 'async-verify-b-primary')).toBe('succeeded');
    expect(status(summary, 'async-verify-a-backup')).toBe('failed');
    // The run stopped at the failed verification: A's update was never reached.
    expect(status(summary, 'async-update-a')).toBeUndefined();
    expect(done).not.toContain('async-update-a');
    expect(pair.appliance('A').version).toBe('23.1.2');
    expect(pair.appliance('A').role).toBe('primary');
  });

  it('stops before any change when the backup was not saved', async () => {
    const { summary, done } = await run({ 'choose-method': 'synchronous' }, {});
    expect(summary.status).toBe('failed');
    expect(status(summary, 'download-backup')).toBe('failed');
    expect(done).toEqual(['plan-windows', 'download-backup']);
    expect(pair.appliance('A').version).toBe('23.1.2');
  });

  it('asynchronous through the API: the forced role change on A needs A typed, and only after the plain call failed', async () => {
    const r = await labRun(
      { 'choose-method': 'asynchronous', 'role-change-method': 'api' },
      {
        ...backupAndSync,
        'async-update-b': () => pair.installUpdate('B', NEW_VERSION),
        'async-update-a': () => pair.installUpdate('A', NEW_VERSION),
        'async-reestablish': () => pair.establishFailover('B'),
      },
    );
    expect(r.summary?.status, r.summary?.message ?? r.error?.message).toBe('succeeded');
    expect(r.typed).toEqual([['async-a-backup-api-forced', 'support-a']]);
    const aRequests = pair.requests().filter((x) => x.appliance === 'A' && x.action === 'set_failover_role');
    expect(aRequests.map((x) => x.params.force ?? null)).toEqual([null, '1']);
  });

  // The HTTP target renews a token ahead of its expires_in (and once on a 401): with one-second
  // tokens and pauses longer than that, the run needs several tokens from each appliance.
  it('a short OAuth token lifetime: the run gets new tokens and completes', async () => {
    await restartPair({ tokenTtlSeconds: 1 });
    const { summary } = await run(
      { 'choose-method': 'synchronous' },
      {
        ...backupAndSync,
        'sync-update-a': async () => {
          await pair.installUpdate('A', NEW_VERSION);
          await new Promise((res) => setTimeout(res, 1500)); // every token issued so far has expired
        },
        'sync-update-b': () => pair.installUpdate('B', NEW_VERSION),
        'sync-reestablish': () => pair.establishFailover('A'),
      },
    );
    expect(summary.status, summary.message).toBe('succeeded');
    const tokensIssued = (appliance: string) =>
      pair.requests().filter((x) => x.appliance === appliance && x.path === '/oauth2/token' && x.status === 200).length;
    expect(tokensIssued('A')).toBeGreaterThan(1);
    expect(pair.requests().filter((x) => x.path === '/api/command' && x.status === 401)).toEqual([]);
  });

  it('synchronous, automatic failover while A updates: B took the primary role, the run stops before B is touched', async () => {
    await restartPair({ autoFailoverMs: 100 });
    const { summary, events, done } = await run(
      { 'choose-method': 'synchronous' },
      {
        ...backupAndSync,
        'sync-update-a': () => pair.installUpdate('A', NEW_VERSION),
        'sync-update-b': () => pair.installUpdate('B', NEW_VERSION),
        'sync-reestablish': () => pair.establishFailover('A'),
      },
    );
    expect(summary.status).toBe('failed');
    expect(status(summary, 'sync-check-b-not-primary')).toBe('failed');
    expect(outputOf(events, 'explain-automatic-failover')).toContain('failed over by itself');
    expect(done).not.toContain('sync-update-b');
    expect(done).not.toContain('sync-reestablish');
    expect([pair.appliance('A').role, pair.appliance('B').role, pair.appliance('B').version]).toEqual(['primary', 'primary', '23.1.2']);
  });

  it("asynchronous, B's last data sync too old for the role change: the run stops before any role changes", async () => {
    const { summary, events, done } = await run(
      { 'choose-method': 'asynchronous', 'role-change-method': 'api' },
      {
        ...backupAndSync,
        'async-update-b': async () => {
          await pair.installUpdate('B', NEW_VERSION);
          pair.backdateLastSync(3 * 86_400_000); // the interim period lasted three days
        },
      },
      { max_data_sync_age_minutes: 24 * 60 },
    );
    expect(summary.status).toBe('failed');
    expect(status(summary, 'async-check-b-sync-recent')).toBe('failed');
    expect(outputOf(events, 'async-check-b-sync-recent')).toMatch(/Too old: changes made on A since then would be lost/);
    expect(pair.requests().filter((r) => r.action === 'set_failover_role')).toEqual([]);
    expect(done).toContain('async-interim');
    expect([pair.appliance('A').role, pair.appliance('B').role]).toEqual(['primary', 'backup']);
  });

  it('a login page saved instead of the backup is refused before anything is installed', async () => {
    const { summary, done } = await run(
      { 'choose-method': 'synchronous' },
      {
        'download-backup': () =>
          fs.writeFileSync(
            path.join(dir, 'backups', 'support-backup.nsb'),
            `<!DOCTYPE html>\n<html><head><title>Login</title></head><body>${'x'.repeat(100 * 1024)}</body></html>\n`,
          ),
      },
    );
    expect(summary.status).toBe('failed');
    expect(status(summary, 'download-backup')).toBe('failed');
    expect(done).toEqual(['plan-windows', 'download-backup']);
    expect(pair.appliance('A').version).toBe('23.1.2');
  });

  it('asynchronous by hand: A is the backup but reports a fault (<success>0): the run stops before A is updated', async () => {
    const { summary, done } = await run(
      { 'choose-method': 'asynchronous', 'role-change-method': 'manual' },
      asyncByHand(() => pair.setHealthy('A', false, 'Database integrity check failed.')),
    );
    expect(summary.status).toBe('failed');
    expect(status(summary, 'async-verify-a-backup')).toBe('failed');
    expect(done).not.toContain('async-update-a');
    expect(pair.appliance('A').version).toBe('23.1.2');
  });
});
