/**
 * Dry-run of timesten-online-upgrade: the whole plan for Temporary=0 and Temporary=1 stores
 * (snapshots), the 23 source steps in order (Upgrade system's part first in each step), the
 * recognisable-update confirmations, the `sleep 10` waits, and the destroy steps that need a
 * verified backup and a typed data-store name.
 */
import { describe, expect, it } from 'vitest';
import type { PlannedStep } from '../../src/planner/plan-types.js';
import { commandOf, running as runningSteps, itValidatesAndPrintsItsPlan, shippedRunbook, step, text, waitOf } from './dry-run.js';

const ID = 'timesten-online-upgrade';
const rb = shippedRunbook(ID);
const { cli, plan, inventory: INVENTORY } = rb;
const running = (p: { steps: PlannedStep[] }) => runningSteps(p.steps);
/** Source step number of a step ("seed 004, step 11 (...)" -> 11). */
const stepNumber = (s: PlannedStep) => Number(/step (\d+)/.exec(s.source ?? '')?.[1]);

describe(`${ID} dry-run`, () => {
  itValidatesAndPrintsItsPlan(rb, { 'Temporary=0': ['-i', INVENTORY], 'Temporary=1': ['-i', INVENTORY, '-p', 'temporary=true'] });

  it('implements the 23 source steps in order, the Upgrade system first within a step', async () => {
    const p = await plan(['-i', INVENTORY]);
    const numbers = p.steps.map(stepNumber);
    expect(numbers.every((n) => Number.isInteger(n) && n >= 1 && n <= 23)).toBe(true);
    expect([...numbers].sort((a, b) => a - b)).toEqual(numbers); // never goes back
    expect(new Set(numbers)).toEqual(new Set(Array.from({ length: 23 }, (_, i) => i + 1)));
    for (let n = 1; n <= 23; n++) {
      const inStep = p.steps.filter((s) => stepNumber(s) === n);
      const firstOriginal = inStep.findIndex((s) => /Original system/.test(s.source ?? ''));
      const lastUpgrade = inStep.map((s) => /Upgrade system/.test(s.source ?? '')).lastIndexOf(true);
      // Step 13's Original part ("keep the applications on Original until confirmed") follows the confirmation.
      if (firstOriginal >= 0 && lastUpgrade >= 0) expect(lastUpgrade, `step ${n}`).toBeLessThan(firstOriginal);
    }
  });

  it('checks the requirements before anything changes', async () => {
    const titles = (await plan(['-i', INVENTORY])).preconditions.map((c) => c.title).join('\n');
    expect(titles).toMatch(/primary key or a unique NOT NULL index/);
    expect(titles).toMatch(/static port/);
    expect(titles).toMatch(/Room on the Original host's backup file system/);
    expect(titles).toMatch(/Room on the Upgrade host's backup file system/);
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY]);
    expect(r.stdout).toContain('select perm_in_use_size from v\\$monitor');
  });

  it('confirms replication with a marker row inserted on one side and polled on the other', async () => {
    const p = await plan(['-i', INVENTORY]);
    const pairs: Array<[string, string, string, string]> = [
      ['u02-mark-upgrade', 'upgrade', 'o02-wait-marker-on-original', 'original'],
      ['u13-mark-original', 'original', 'u13-wait-marker-on-upgrade', 'upgrade'],
      ['u14-mark-original-last', 'original', 'u14-wait-last-marker-on-upgrade', 'upgrade'],
      ['u23-mark-upgrade', 'upgrade', 'u23-wait-marker-on-original', 'original'],
    ];
    for (const [mark, markRole, wait, waitRole] of pairs) {
      expect(step(p, mark).action.role).toBe(markRole);
      expect(text(commandOf(step(p, mark)).command)).toContain('insert into $CHECK_TABLE');
      expect(commandOf(step(p, mark)).capture?.regex).toBe('MARKER=([A-Za-z0-9-]+)');
      expect(step(p, wait).kind).toBe('wait');
      const until = waitOf(step(p, wait)).until;
      expect(until?.role).toBe(waitRole);
      const marker = until && commandOf(until).env.find((e) => e.name === 'MARKER');
      expect(text(marker?.value)).toBe(`<steps.${mark}.value>`);
    }
  });

  it('waits 10 seconds after each receiver state change of step 11', async () => {
    const p = await plan(['-i', INVENTORY]);
    const ids = p.steps.filter((s) => stepNumber(s) === 11).map((s) => s.id);
    expect(ids).toEqual(['u11-receiver-stop', 'u11-sleep-after-stop', 'u11-receiver-start', 'u11-sleep-after-start']);
    for (const id of ['u11-sleep-after-stop', 'u11-sleep-after-start']) expect(waitOf(step(p, id)).durationMs).toBe(10_000);
    expect(text(commandOf(step(p, 'u11-receiver-stop')).command)).toBe('ttRepAdmin -dsn Upgrade -receiver -name Original -state stop');
  });

  it('destroys a store only after its verified backup, with the data store name typed', async () => {
    const p = await plan(['-i', INVENTORY]);
    for (const [destroy, backup, dsn, file] of [
      ['u06-destroy-upgrade', 'u05-backup-upgrade', 'Upgrade', '/backup/upgrade.dat'],
      ['o18-destroy-original', 'o17-backup-original', 'Original', '/backup/original.dat'],
    ] as const) {
      const s = step(p, destroy);
      expect(s.destructive).toBe(true);
      expect(s.confirm.mode).toBe('typed');
      expect(text(s.confirm.expected)).toBe(dsn);
      expect(s.condition.text).toContain(`steps.${backup} succeeded`);
      expect(text(commandOf(s).command)).toBe(`test -s ${file} && ttMigrate -l ${file} >/dev/null && ttDestroy ${dsn}`);
      expect(step(p, backup).verify?.title).toMatch(/exists, is not empty/);
      expect(p.steps.findIndex((x) => x.id === backup)).toBeLessThan(p.steps.findIndex((x) => x.id === destroy));
    }
  });

  it('unloads and RAM-loads Temporary=1 stores instead of destroying them', async () => {
    const permanent = running(await plan(['-i', INVENTORY]));
    const temporary = running(await plan(['-i', INVENTORY, '-p', 'temporary=true']));
    expect(permanent).toEqual(expect.arrayContaining(['u06-destroy-upgrade', 'o18-destroy-original']));
    expect(permanent).not.toEqual(expect.arrayContaining(['u06-unload-upgrade']));
    expect(temporary).toEqual(
      expect.arrayContaining(['u06-unload-upgrade', 'o18-unload-original', 'u08-ramload-upgrade', 'o19-ramload-original']),
    );
    expect(temporary).not.toContain('u06-destroy-upgrade');
    expect(temporary).not.toContain('o18-destroy-original');
    expect(temporary.indexOf('u08-ramload-upgrade')).toBe(temporary.indexOf('u08-restore-upgrade') - 1);
    expect(temporary.indexOf('o19-ramload-original')).toBe(temporary.indexOf('o19-restore-original') - 1);
    const p = await plan(['-i', INVENTORY, '-p', 'temporary=true']);
    expect(step(p, 'u06-unload-upgrade').destructive).toBe(true);
    expect(text(step(p, 'u06-unload-upgrade').confirm.expected)).toBe('Upgrade');
  });

  it('installs the new release as a manual step checked with ttVersion, on both systems', async () => {
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY]);
    const installs = r.stdout.split('\n\n').filter((b) => /install-new-release/.test(b));
    expect(installs).toHaveLength(2);
    for (const b of installs) {
      expect(b).toContain('[manual]');
      expect(b).toContain('$ ttVersion');
      expect(b).toContain('expect stdout contains "TimesTen Release 18.1.4.1.0 "');
    }
  });
});
