/**
 * The state directory's file system failing under a run: a disk that fills up during a step
 * (a real, small tmpfs mounted as the state directory) and a read-only one (a read-only bind
 * mount). Both end with a clear message and exit 10, never "internal error"; after a full disk
 * the journal stays readable and the run resumes.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, STACK } from '../cli/run-cli.js';
import { run } from '../harness/util.js';
import { MARKS_RUNBOOK, runsJson, stateLab, type StateLab } from './state-lab.js';

let lab: StateLab | undefined;
const mounts: string[] = [];

afterEach(async () => {
  // Unmounted before the lab directory holding the mount point is removed.
  for (const point of mounts.splice(0).reverse()) await run('umount', [point]).catch(() => run('umount', ['-l', point]));
  lab?.remove();
  lab = undefined;
});

async function mount(args: string[], point: string): Promise<void> {
  await run('mount', [...args, point]);
  mounts.push(point);
}

const clean = (r: { stderr: string }) => {
  expect(r.stderr).not.toContain('internal error');
  expect(r.stderr).not.toMatch(STACK);
};

describe('a disk that fills up during a run', () => {
  it('stops with exit 10 and a clear message; the journal stays readable and the run resumes', async () => {
    // Step two fills the disk that holds the state directory (once), as a dump or a log would.
    const runbook = (l: StateLab) => {
      const file = join(l.dir, 'fills-disk.yaml');
      writeFileSync(
        file,
        readFileSync(MARKS_RUNBOOK, 'utf8').replace(
          'command: test -e {{ params.dir }}/go && echo two >> {{ params.dir }}/log',
          `command: if [ ! -e {{ params.dir }}/filled ]; then touch {{ params.dir }}/filled; head -c 4M /dev/zero > ${join(l.stateDir, 'filler')}; fi; seq 1 5000; echo two >> {{ params.dir }}/log`,
        ),
      );
      return file;
    };
    lab = stateLab();
    const file = runbook(lab);
    mkdirSync(lab.stateDir);
    await mount(['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'runbook-state-full'], lab.stateDir);
    chmodSync(lab.stateDir, 0o700);
    const l = lab;
    const r = await runCli(['exec', file, '-i', l.inventory, '--yes', '--state-dir', l.stateDir, '--run-id', 'full']);
    expect(r.code, r.stdout + r.stderr).toBe(10);
    expect(r.stderr).toContain(`cannot write the journal ${lab.eventsFile('full')}: no space left on the device`);
    expect(r.stderr).toMatch(/hint: Free space there .* stays readable; then continue the run: runbook resume full/);
    clean(r);

    // Readable: every line whole and chained, the run listed; its lock released.
    const listed = await runsJson(lab);
    expect(listed.runs.find((x) => x.id === 'full')).toMatchObject({ journal: 'intact', problems: [] });
    expect(listed.locks).toEqual([]);
    const text = readFileSync(lab.eventsFile('full'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);

    // Its output could not be journaled: step two has no recorded end, and three never started.
    expect(lab.log()).toEqual(['one', 'two']);
    // Space freed: the run resumes; the operator sees step two's mark and says it is done.
    rmSync(join(lab.stateDir, 'filler'));
    const resumed = await lab.cli(['resume', 'full', '--yes', '--unknown', 'done']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(lab.log()).toEqual(['one', 'two', 'three']);
    expect((await runsJson(lab)).runs.find((x) => x.id === 'full')).toMatchObject({ journal: 'intact', state: 'succeeded' });
  });

  it('a disk already full when the run starts: exit 10 before any step runs', async () => {
    lab = stateLab();
    mkdirSync(lab.stateDir);
    await mount(['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'runbook-state-full'], lab.stateDir);
    await run('sh', ['-c', `head -c 1M /dev/zero > ${join(lab.stateDir, 'filler')} || true`]);
    const r = await lab.exec(['--run-id', 'nospace']);
    expect(r.code, r.stdout + r.stderr).toBe(10);
    // The first write is the lock's (written to a temporary file, then renamed): its name holds the pid.
    expect(r.stderr).toMatch(
      new RegExp(`^error: cannot write ${lab.stateDir}/locks/local-marks-[0-9a-f]{12}\\.lock\\.\\d+\\.tmp: no space left on the device\\n`),
    );
    clean(r);
    expect(lab.log()).toEqual([]);
  });
});

describe('a read-only state directory', () => {
  it('is refused with exit 10 and what to do; reading it still works', async () => {
    lab = stateLab();
    mkdirSync(lab.stateDir, { mode: 0o700 });
    await mount(['--bind', lab.stateDir], lab.stateDir);
    await run('mount', ['-o', 'remount,bind,ro', lab.stateDir]);
    const r = await lab.exec([]);
    expect(r.code, r.stdout + r.stderr).toBe(10);
    expect(r.stderr).toContain(`the file system is read-only`);
    expect(r.stderr).toContain('hint: Use a writable state directory: --state-dir <dir> or RUNBOOK_STATE_DIR.');
    clean(r);
    expect(lab.log()).toEqual([]);
    const runs = await lab.cli(['runs']);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toContain('No runs recorded');
  });
});
