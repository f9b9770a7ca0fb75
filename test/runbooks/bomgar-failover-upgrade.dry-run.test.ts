/** Dry-run of bomgar-failover-upgrade: the whole plan, both methods in one runbook, the seed's remarks covered. */
import { describe, expect, it } from 'vitest';
import { itValidatesAndPrintsItsPlan, shippedRunbook } from './dry-run.js';

const ID = 'bomgar-failover-upgrade';
const SECRET = 'client-secret-never-shown-4711';
const rb = shippedRunbook(ID, { env: { BOMGAR_CLIENT_SECRET: SECRET } });
const { cli, plan: planWith, inventory: INVENTORY } = rb;
const plan = () => planWith(['-i', INVENTORY]);

const SYNC_STEPS = [
  'sync-window-1',
  'sync-update-a',
  'sync-check-a-updated',
  'sync-check-b-not-primary',
  'sync-interim',
  'sync-window-2',
  'sync-update-b',
  'sync-check-b-updated',
  'sync-reestablish',
  'health-after-a-primary',
  'health-after-b-backup',
];
const ASYNC_STEPS = [
  'async-window-1',
  'async-update-b',
  'async-check-b-updated',
  'async-interim',
  'async-window-2',
  'async-record-b-last-sync',
  'async-check-b-sync-recent',
  'role-change-method',
  'async-b-primary-api',
  'async-b-primary-manual',
  'async-wait-b-primary',
  'async-swing-network',
  'async-a-backup-api',
  'async-a-backup-api-forced',
  'async-a-backup-manual',
  'async-verify-b-primary',
  'async-verify-a-backup',
  'async-update-a',
  'async-check-a-updated',
  'async-reestablish',
  'health-after-b-primary',
  'health-after-a-backup',
];

describe(`${ID} dry-run`, () => {
  itValidatesAndPrintsItsPlan(rb, { '': ['-i', INVENTORY] });

  it('has the steps in order: choice, health before, backup and sync, then both methods, then health after', async () => {
    const p = await plan();
    expect(p.steps.map((s) => s.id)).toEqual([
      'choose-method',
      'plan-windows',
      'health-before-a',
      'health-before-b',
      'record-last-sync',
      'download-backup',
      'sync-now',
      ...SYNC_STEPS.slice(0, 9),
      ...ASYNC_STEPS.slice(0, 20),
      ...SYNC_STEPS.slice(9),
      ...ASYNC_STEPS.slice(20),
    ]);
    expect(p.preconditions).toHaveLength(4);
  });

  it('selects each method at run time from the choose-method prompt', async () => {
    const p = await plan();
    const byId = new Map(p.steps.map((s) => [s.id, s]));
    expect(byId.get('choose-method')?.kind).toBe('prompt');
    for (const id of SYNC_STEPS) expect(byId.get(id)?.condition.text, id).toBe('steps.choose-method == "synchronous"');
    for (const id of ASYNC_STEPS) expect(byId.get(id)?.condition.text, id).toContain('steps.choose-method == "asynchronous"');
    expect(byId.get('async-b-primary-api')?.condition.text).toContain('steps.role-change-method == "api"');
    expect(byId.get('async-b-primary-manual')?.condition.text).toContain('steps.role-change-method == "manual"');
    // Nothing is skipped by parameters: the branches are decided at run time by the answers.
    expect(p.steps.every((s) => s.condition.decided !== 'skip')).toBe(true);
    for (const id of [...SYNC_STEPS, ...ASYNC_STEPS]) expect(byId.get(id)?.condition.decided, id).toBe('at-run-time');
  });

  it('installs updates as manual steps checked through the API, and stops on a role mismatch', async () => {
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY]);
    const block = (id: string) => {
      const start = r.stdout.indexOf(`. ${id}:`);
      const end = r.stdout.indexOf('\n\n', start);
      return r.stdout.slice(start, end);
    };
    for (const id of ['sync-update-a', 'sync-update-b', 'async-update-b', 'async-update-a']) {
      expect(block(id)).toContain('[manual]');
      expect(block(id)).toContain('Install This Update');
      expect(block(id)).toContain('GET /check_health');
    }
    // Versions match by prefix (a build number may follow the release in <version>), dots literally.
    expect(block('sync-check-a-updated')).toContain('<version>\\\\s*23\\\\.2\\\\.1(?![0-9])[^<]*</version>');
    // A forced role change is destructive, typed, and only after the plain call failed.
    expect(block('async-a-backup-api')).not.toContain('force=1');
    expect(block('async-a-backup-api-forced')).toContain('force=1');
    expect(block('async-a-backup-api-forced')).toMatch(/type "support-a" to confirm, DESTRUCTIVE/);
    expect(block('async-a-backup-api-forced')).toContain('steps.async-a-backup-api == "error"');
    expect(block('async-b-primary-api')).toContain('GET /api/command?action=set_failover_role&role=primary&data_sync_first=0');
    expect(block('async-verify-b-primary')).toContain('failover_role>\\\\s*primary');
    expect(block('async-verify-a-backup')).toContain('failover_role>\\\\s*backup');
    expect(block('download-backup')).toContain('Download Backup');
    expect(block('sync-now')).toContain('Sync Now');
    const { steps } = await plan();
    for (const id of ['async-verify-b-primary', 'async-verify-a-backup', 'sync-check-a-updated']) {
      expect(steps.find((s) => s.id === id)?.onFailure.mode, id).toBe('stop');
    }
  });

  it('maps each of the seed remarks 1-4 (and the two alternatives) to a step source', async () => {
    const p = await plan();
    const sources = p.steps.map((s) => s.source ?? '');
    for (const remark of [
      'Remarque 1',
      'Remarque 2',
      'Remarque 3',
      'Remarque 4',
      'IMPORTANT',
      'Mise à niveau synchrone',
      'Mise à niveau asynchrone',
    ]) {
      expect(
        sources.some((s) => s.includes(remark)),
        remark,
      ).toBe(true);
    }
    expect(p.steps.every((s) => (s.source ?? '').length > 0)).toBe(true);
  });

  it('dry-runs each branch: asynchronous answer and a data sync before the role change', async () => {
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY, '--answer', 'choose-method=asynchronous', '-p', 'data_sync_first=1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('data_sync_first = 1');
    expect(r.stdout).toContain('action=set_failover_role&role=primary&data_sync_first=1');
    const s = await cli(['exec', ID, '--dry-run', '-i', INVENTORY, '--answer', 'choose-method=synchronous']);
    expect(s.code, s.stderr).toBe(0);
    const bad = await cli(['exec', ID, '--dry-run', '-i', INVENTORY, '-p', 'data_sync_first=2']);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('(command line): error: --param data_sync_first: parameter "data_sync_first": 2 is above the maximum 1\n');
  });
});
