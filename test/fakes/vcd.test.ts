import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { fakeLab, type FakeLab } from './helpers.js';
import {
  provisionVcd,
  readVcdState,
  markCellUpgraded,
  updateVcdState,
  readServices,
  type VcdLabOptions,
} from '../../fixtures/lab/vcd/provision.js';

const PW = 's3cret!';

describe('VCD fakes', () => {
  let lab: FakeLab;
  beforeEach(() => {
    lab = fakeLab(['cell1', 'cell2']);
  });
  afterEach(() => lab.cleanup());

  const setup = (o: Partial<VcdLabOptions> = {}, cells: Partial<Record<'cell1' | 'cell2', object>> = {}) =>
    provisionVcd({
      sharedDir: lab.shared,
      sysadmin: { user: 'administrator', password: PW },
      cells: (['cell1', 'cell2'] as const).map((n) => ({
        name: n,
        treeDir: lab.hosts[n]!.tree,
        stateDir: lab.hosts[n]!.state,
        ...(cells[n] ?? {}),
      })),
      ...o,
    });
  const bin = (cell: string, tool: string) => path.join(lab.hosts[cell]!.tree, 'bin', tool);
  const cmt = (cell: string, ...args: string[]) =>
    lab.run(cell, bin(cell, 'cell-management-tool'), ['-u', 'administrator', '-p', PW, 'cell', ...args]);
  const upgrade = (cell: string, input: string, args: string[] = []) => lab.run(cell, bin(cell, 'upgrade'), args, { input });

  it('happy path: quiesce and shut down the old cell, upgrade the database from the upgraded cell, start it', () => {
    setup({}, { cell1: { upgraded: true }, cell2: { running: true, jobs: [0.6, 1.2] } });
    expect(cmt('cell2', '--status').stdout).toBe('Job count = 2\nIs Active = true\nIn Maintenance Mode = false\n');
    expect(cmt('cell2', '--quiesce', 'true').code).toBe(0);
    // Jobs end by the clock, however often the status is read.
    const counts = new Set<string>();
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      const s = cmt('cell2', '--status').stdout;
      counts.add(s.split('\n')[0]!);
      if (s.includes('Job count = 0')) break;
    }
    expect([...counts]).toContain('Job count = 0');
    // The fake's jobs end on a clock: the first status may come before or after the first one ended.
    expect([...counts][0]).toMatch(/Job count = [12]/);
    expect(cmt('cell2', '--shutdown').code).toBe(0);
    expect(readServices(lab.hosts.cell2!.state)['vmware-vcd']).toBe('stopped');
    const r = upgrade('cell1', 'y\ny\ny\n');
    expect(r.code, r.out).toBe(0);
    expect(r.stdout).toContain('Welcome to the vCloud Director upgrade utility');
    expect(r.stdout).toContain('Do you wish to upgrade the product now? [Y/N]: ');
    expect(r.stdout).toContain('Enter [y] after the backup is complete. ');
    expect(r.stdout).toContain('Start it now? [y/n]: ');
    expect(r.stdout).toContain('Database upgrade complete');
    // Progress dots come without a newline while each task runs.
    expect(r.stdout).toMatch(/Started executing task at [^\n]+\n\.{5}Successfully ran upgrade task\n/);
    const s = readVcdState(lab.shared);
    expect(s.db).toMatchObject({ upgraded: true, schemaVersion: '10.5.1', upgradedBy: 'cell1' });
    expect(s.cells.cell1!.service).toBe('running');
    expect(readServices(lab.hosts.cell1!.state)['vmware-vcd']).toBe('running');
    // The old cell cannot start against the upgraded database; once upgraded it can.
    const st = lab.run('cell2', 'service', ['vmware-vcd', 'start']);
    expect(st.code).toBe(1);
    expect(st.stderr).toMatch(/cannot connect to the database/);
    markCellUpgraded(lab.shared, 'cell2');
    expect(lab.run('cell2', 'service', ['vmware-vcd', 'start']).code).toBe(0);
    expect(lab.run('cell2', 'service', ['vmware-vcd', 'status']).stdout).toBe('vmware-vcd is running\n');
    const log = lab.commands('cell2');
    expect(log.map((c) => c.tool).slice(-4)).toEqual(['cell-management-tool', 'service', 'service', 'service']);
    expect(JSON.stringify(log)).not.toContain(PW);
    expect(log[0]!.argv).toEqual(['-u', 'administrator', '-p', '***', 'cell', '--status']);
  });

  it('prompts end without a trailing newline; EOF at a prompt is an error', () => {
    setup({}, { cell1: { upgraded: true } });
    const r = upgrade('cell1', 'y\n');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Enter \[y\] after the backup is complete\. \n$/);
    expect(r.stderr).toMatch(/no answer/);
    expect(readVcdState(lab.shared).db.upgraded).toBe(false);
  });

  it('--backup-completed skips the backup prompt; n at the start prompt leaves the service stopped', () => {
    setup({}, { cell1: { upgraded: true } });
    const r = upgrade('cell1', 'y\nn\n', ['--backup-completed']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('after the backup');
    expect(readVcdState(lab.shared).cells.cell1!.service).toBe('stopped');
  });

  it('an active cell: n exits without change, y aborts too', () => {
    setup({}, { cell1: { upgraded: true }, cell2: { running: true } });
    const n = upgrade('cell1', 'y\ny\nn\n');
    expect(n.code).toBe(1);
    expect(n.stdout).toContain('cell2 (10.10.0.12)');
    expect(n.stdout).toContain('Continue with the upgrade? [y/n]: ');
    const y = upgrade('cell1', 'y\ny\ny\n');
    expect(y.code).toBe(1);
    expect(y.stderr).toMatch(/still active/);
    expect(readVcdState(lab.shared).db.upgraded).toBe(false);
  });

  it('refuses with running tasks, an incompatible NSX manager, or on a cell that is not upgraded', () => {
    setup({ runningTasks: 3 }, { cell1: { upgraded: true } });
    const t = upgrade('cell1', 'y\ny\ny\n');
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/3 task\(s\) are still running/);
    updateVcdState(lab.shared, (s) => {
      s.db.runningTasks = 0;
      s.db.nsxManagers[0]!.compatible = false;
    });
    const n = upgrade('cell1', 'y\n');
    expect(n.code).toBe(1);
    expect(n.stderr).toMatch(
      /One or more vShield Manager servers registered to this vCloud Director installation are not supported by the version .*Upgrade canceled/,
    );
    expect(readVcdState(lab.shared).db.upgraded).toBe(false);
    const old = upgrade('cell2', 'y\n');
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/Upgrade this cell to 10\.5\.1 first/);
  });

  it('a job without an end never drains by itself, quiesced or not', () => {
    setup({}, { cell1: { upgraded: true }, cell2: { running: true, jobs: [null, 0] } });
    expect(cmt('cell2', '--quiesce', 'true').code).toBe(0);
    for (let i = 0; i < 3; i++) expect(cmt('cell2', '--status').stdout).toMatch(/^Job count = 1\nIs Active = false/);
  });

  it('a refusal exits with the configured cancel code (the vendor exit codes are unconfirmed)', () => {
    setup({ nsxCompatible: false, cancelExitCode: 0 }, { cell1: { upgraded: true } });
    const r = upgrade('cell1', 'y\n');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Upgrade canceled/);
    expect(r.stdout).not.toMatch(/Upgrade complete/);
  });

  it('validates options', () => {
    setup({}, { cell1: { upgraded: true } });
    const u = upgrade('cell1', '', ['--bogus']);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/Unrecognized option: --bogus[\s\S]*usage: upgrade/);
    const k = upgrade('cell1', '', ['--maintenance-cell', '10.10.0.11']);
    expect(k.code).toBe(1);
    expect(k.stderr).toContain('requires --private-key-path');
    expect(upgrade('cell1', '', ['--enable-ceip', 'maybe']).code).toBe(1);
  });

  it('cell-management-tool: wrong password, stopped cell, shutdown refused while jobs run', () => {
    setup({}, { cell1: { upgraded: true }, cell2: { running: true, jobs: [null] } });
    const w = lab.run('cell2', bin('cell2', 'cell-management-tool'), ['-u', 'administrator', '-p', 'nope', 'cell', '--status']);
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/Authentication failed/);
    expect(cmt('cell1', '--status').stderr).toMatch(/Connection refused/);
    const s = cmt('cell2', '-s');
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/1 running job/);
    // Password prompt when -p is missing.
    const p = lab.run('cell2', bin('cell2', 'cell-management-tool'), ['-u', 'administrator', 'cell', '--status'], { input: `${PW}\n` });
    expect(p.stdout).toMatch(/^Password: \nJob count = 1/);
  });
});
