/**
 * The state directory cannot be steered by another user: run ids stay inside it, a directory
 * someone else owns or may write is refused, files are never written through a planted link,
 * an edited plan or journal is reported rather than executed, and the lock of a live run is
 * never broken.
 */
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, STACK, startCli } from '../cli/run-cli.js';
import { ensureLabUser, LAB_USER } from '../harness/lab-user.js';
import { run, waitFor } from '../harness/util.js';
import { processStart } from '../../src/journal/lock.js';
import { createExclusive } from '../../src/journal/state-dir.js';
import { RunbookError } from '../../src/core/errors.js';
import { MARKS_RUNBOOK, runsJson, stateLab, type StateLab } from './state-lab.js';

let lab: StateLab;
afterEach(() => lab?.remove());

/** A run stopped at step two (which fails until `go`), to be resumed. */
async function stoppedRun(runId: string): Promise<void> {
  const r = await lab.exec(['--run-id', runId]);
  expect(r.code, r.stderr).toBe(1);
  expect(lab.log().at(-1)).toBe('one');
}

describe('--run-id', () => {
  it.each(['../../escaped', '.', '..', 'a/b', 'x\ny', '-rf', 'a..b'])(
    '%j is refused as a usage error (exit 2), nothing written',
    async (id) => {
      lab = stateLab();
      const r = await lab.exec(['--run-id', id]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`invalid run id ${JSON.stringify(id)}`);
      expect(r.stderr).toContain('letters, digits');
      expect(lab.log()).toEqual([]);
      expect(existsSync(join(lab.dir, 'escaped'))).toBe(false);
      expect(existsSync(lab.stateDir)).toBe(false);
    },
  );

  it('resume and report refuse an unsafe id the same way', async () => {
    lab = stateLab();
    for (const args of [
      ['resume', '../x', '--yes'],
      ['report', 'a/b'],
    ]) {
      const r = await lab.cli(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('invalid run id');
    }
  });
});

describe('a state directory another user could steer', () => {
  it('refuses a state directory owned by another user (exit 10), saying why and what to do', async () => {
    lab = stateLab();
    const user = await ensureLabUser();
    mkdirSync(lab.stateDir, { mode: 0o700 });
    chownSync(lab.stateDir, user.uid, user.gid);
    const r = await lab.exec([]);
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toContain(`unsafe state directory: ${lab.stateDir} belongs to uid ${user.uid}, not to root`);
    expect(r.stderr).toMatch(/hint: Use a state directory that only you own/);
    expect(lab.log()).toEqual([]);
  });

  it.each([
    ['0777', 'its group and other users (mode 0777)'],
    ['0770', 'its group (mode 0770)'],
    ['1777', 'its group and other users (mode 0777)'],
  ])('refuses a state directory of mode %s (writable by group or others)', async (mode, writers) => {
    lab = stateLab();
    mkdirSync(lab.stateDir);
    chmodSync(lab.stateDir, parseInt(mode, 8));
    const r = await lab.exec([]);
    expect(r.code, r.stderr).toBe(10);
    const unsafe = `unsafe state directory: ${lab.stateDir} is writable by ${writers}: they could plant files in it`;
    expect(r.stderr).toContain(unsafe);
    expect(lab.log()).toEqual([]);
    // Reading is refused too: a journal planted there would be believed.
    const runs = await lab.cli(['runs']);
    expect(runs.code).toBe(10);
    expect(runs.stderr).toContain(unsafe);
  });

  it('a plan.json link planted by another user in a shared state directory is never written through', async () => {
    lab = stateLab();
    await ensureLabUser();
    // The victim: a file of root's that the planted link points at.
    const victim = join(lab.dir, 'victim');
    writeFileSync(victim, 'precious\n');
    mkdirSync(lab.stateDir, { mode: 0o755 });
    chmodSync(lab.stateDir, 0o1777);
    chmodSync(lab.dir, 0o755);
    await run('runuser', ['-u', LAB_USER, '--', 'mkdir', '-p', join(lab.stateDir, 'runs', 'planted')]);
    await run('runuser', ['-u', LAB_USER, '--', 'ln', '-s', victim, join(lab.stateDir, 'runs', 'planted', 'plan.json')]);
    const r = await lab.exec(['--run-id', 'planted']);
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toContain('unsafe state directory');
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lab.log()).toEqual([]);
  });

  it('inside a private state directory, a link where a run file goes is not followed either', async () => {
    lab = stateLab();
    const victim = join(lab.dir, 'victim');
    writeFileSync(victim, 'precious\n');
    mkdirSync(join(lab.stateDir, 'runs', 'raced'), { recursive: true, mode: 0o700 });
    symlinkSync(victim, join(lab.stateDir, 'runs', 'raced', 'plan.json'));
    const r = await lab.exec(['--run-id', 'raced']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('run raced already exists');
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    // The file layer on its own: exclusive creation refuses the link, whatever its target.
    expect(() => createExclusive(join(lab.stateDir, 'runs', 'raced', 'plan.json'), 'overwritten')).toThrow(RunbookError);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it('a runs/ directory that is a link is refused', async () => {
    lab = stateLab();
    mkdirSync(lab.stateDir, { mode: 0o700 });
    mkdirSync(join(lab.dir, 'elsewhere'), { mode: 0o700 });
    symlinkSync(join(lab.dir, 'elsewhere'), join(lab.stateDir, 'runs'));
    const r = await lab.exec([]);
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toContain(`${join(lab.stateDir, 'runs')} is a symbolic link`);
    expect(readdirSync(join(lab.dir, 'elsewhere'))).toEqual([]);
  });
});

describe('the plan digest and the journal chain', () => {
  it('resume refuses a plan.json edited after the run started: the edited command never runs (exit 9)', async () => {
    lab = stateLab();
    await stoppedRun('edited-plan');
    const plan = readFileSync(lab.planFile('edited-plan'), 'utf8');
    expect(plan).toContain('echo three');
    writeFileSync(lab.planFile('edited-plan'), plan.replaceAll('echo three', 'echo EDITED'));
    lab.go();
    const r = await lab.cli(['resume', 'edited-plan', '--yes']);
    expect(r.code, r.stderr).toBe(9);
    expect(r.stderr).toContain('the journal of run edited-plan was altered: the stored plan was changed after the run started');
    expect(lab.log()).toEqual(['one']);
  });

  it('a forged run-finished line does not turn an interrupted run into "succeeded"', async () => {
    lab = stateLab();
    await stoppedRun('forged');
    const lines = readFileSync(lab.eventsFile('forged'), 'utf8').split('\n').filter(Boolean);
    appendFileSync(
      lab.eventsFile('forged'),
      JSON.stringify({
        time: new Date().toISOString(),
        type: 'run-finished',
        status: 'succeeded',
        message: 'all steps completed',
        exitCode: 0,
      }) + '\n',
    );
    const row = (await runsJson(lab)).runs.find((x) => x.id === 'forged');
    expect(row).toMatchObject({ state: 'failed', journal: 'altered' });
    expect(row?.problems[0]).toBe(`line ${lines.length + 1} is a record without a checksum: added or rewritten outside runbook`);
    const listed = await lab.cli(['runs']);
    expect(listed.stdout).toContain('JOURNAL ALTERED');
    const report = await lab.cli(['report', 'forged']);
    expect(report.stdout).toMatch(/^> \*\*Warning: this run's journal was altered\*\*/);
    lab.go();
    const r = await lab.cli(['resume', 'forged', '--yes']);
    expect(r.code, r.stderr).toBe(9);
    expect(lab.log()).toEqual(['one']);
  });

  it('an edited record in the middle, and a garbage line, are reported at their line', async () => {
    lab = stateLab();
    await stoppedRun('edited-line');
    const text = readFileSync(lab.eventsFile('edited-line'), 'utf8');
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.includes('"type":"step-finished"') && l.includes('"stepId":"one"'));
    lines[at] = lines[at]!.replace('"status":"succeeded"', '"status":"failed"');
    writeFileSync(lab.eventsFile('edited-line'), lines.join('\n'));
    let row = (await runsJson(lab)).runs.find((x) => x.id === 'edited-line');
    expect(row?.journal).toBe('altered');
    expect(row?.problems[0]).toBe(
      `line ${at + 1} (step-finished) does not match the chain: it was edited, or a record before it was removed or inserted`,
    );

    await stoppedRun('garbage');
    appendFileSync(lab.eventsFile('garbage'), 'rm -rf / # not json\n');
    row = (await runsJson(lab)).runs.find((x) => x.id === 'garbage');
    expect(row?.journal).toBe('altered');
    expect(row?.problems[0]).toMatch(/^line \d+ is not a journal record \(garbage\)$/);
    // The state comes from the records before the bad line.
    expect(row?.state).toBe('failed');
  });

  it('a torn last line (a crash mid-write) is accepted, said, dropped on resume, and the run completes', async () => {
    lab = stateLab();
    await stoppedRun('torn');
    appendFileSync(lab.eventsFile('torn'), '{"time":"2026-12-01T03:00:00.000Z","type":"step-sta');
    const before = (await runsJson(lab)).runs.find((x) => x.id === 'torn');
    expect(before).toMatchObject({ journal: 'torn last line', problems: [], state: 'failed' });
    expect((await lab.cli(['runs'])).stdout).toContain('failed, last line torn');
    expect((await lab.cli(['report', 'torn'])).stdout).toMatch(/^> Note: the journal's last line was cut off/);
    lab.go();
    const r = await lab.cli(['resume', 'torn', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("the journal's last line was cut off when the run died mid-write");
    expect(lab.log()).toEqual(['one', 'two', 'three']);
    const after = (await runsJson(lab)).runs.find((x) => x.id === 'torn');
    expect(after).toMatchObject({ journal: 'intact', state: 'succeeded' });
    const records = readFileSync(lab.eventsFile('torn'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; text?: string });
    expect(records.find((x) => x.type === 'torn-line-dropped')).toMatchObject({
      text: '{"time":"2026-12-01T03:00:00.000Z","type":"step-sta',
    });
  });

  it('exec --plan refuses a reviewed plan edited after it was written (exit 3), running nothing', async () => {
    lab = stateLab();
    const planFile = join(lab.dir, 'reviewed.json');
    const planned = await runCli(['plan', MARKS_RUNBOOK, '-i', lab.inventory, '-o', planFile]);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stderr).toMatch(/plan written to .*reviewed\.json \(digest sha256:[0-9a-f]{64}\)/);
    lab.go();
    const reviewed = readFileSync(planFile, 'utf8');
    writeFileSync(planFile, reviewed.replaceAll('echo one', 'echo EDITED'));
    const r = await lab.exec(['--plan', planFile]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(`the plan ${planFile} was changed after it was written`);
    const withoutDigest = JSON.parse(reviewed) as Record<string, unknown>;
    delete withoutDigest.digest;
    writeFileSync(planFile, JSON.stringify(withoutDigest, null, 2));
    const bare = await lab.exec(['--plan', planFile]);
    expect(bare.code, bare.stderr).toBe(3);
    expect(bare.stderr).toContain('carries no digest');
    expect(lab.log()).toEqual([]);
    // The plan as written runs.
    writeFileSync(planFile, reviewed);
    const ok = await lab.exec(['--plan', planFile]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(lab.log()).toEqual(['one', 'two', 'three']);
  });
});

describe('runs --break-lock --force', () => {
  it('refuses while the holder is alive on this host (exit 8); the stale lock breaks once it is gone', async () => {
    lab = stateLab();
    const runbook = join(lab.dir, 'slow.yaml');
    writeFileSync(
      runbook,
      readFileSync(MARKS_RUNBOOK, 'utf8').replace(
        'command: echo one >> {{ params.dir }}/log',
        'command: echo one >> {{ params.dir }}/log; sleep 60',
      ),
    );
    const live = startCli(['exec', runbook, '-i', lab.inventory, '--yes', '--state-dir', lab.stateDir, '--run-id', 'live']);
    try {
      await waitFor('step one to run', () => lab.log().includes('one'), { timeoutMs: 60_000 });
      const lockId = (await runsJson(lab)).locks[0]!.id;
      const r = await lab.cli(['runs', '--break-lock', lockId, '--force']);
      expect(r.code, r.stderr).toBe(8);
      expect(r.stderr).toContain(`which is still running on this host`);
      expect(r.stderr).toContain('--force never breaks the lock of a live run');
      expect((await runsJson(lab)).locks.map((l) => l.id)).toEqual([lockId]);
      live.child.kill('SIGKILL');
      await live.result;
      const broken = await lab.cli(['runs', '--break-lock', lockId]);
      expect(broken.code, broken.stderr).toBe(0);
      expect((await runsJson(lab)).locks).toEqual([]);
    } finally {
      if (live.child.exitCode === null && live.child.signalCode === null) live.child.kill('SIGKILL');
    }
  });

  it('a lock whose pid now belongs to another process (started later) is stale; the live holder is not', async () => {
    lab = stateLab();
    mkdirSync(join(lab.stateDir, 'locks'), { recursive: true, mode: 0o700 });
    chmodSync(lab.stateDir, 0o700);
    // This test process stands for the holder: alive, on this host.
    const lock = (id: string, procStart: string | null) =>
      writeFileSync(
        join(lab.stateDir, 'locks', `${id}.lock`),
        JSON.stringify({
          id,
          runbook: 'local-marks',
          targets: [],
          runId: id,
          pid: process.pid,
          host: hostname(),
          user: 'root',
          since: '2026-12-01T00:00:00Z',
          procStart,
        }),
        { mode: 0o600 },
      );
    lock('reused', '1');
    lock('alive', processStart(process.pid));
    const locks = (await runsJson(lab)).locks as Array<{ id: string; stale: boolean }>;
    expect(Object.fromEntries(locks.map((l) => [l.id, l.stale]))).toEqual({ reused: true, alive: false });
    const live = await lab.cli(['runs', '--break-lock', 'alive', '--force']);
    expect(live.code).toBe(8);
    expect(live.stderr).toContain('which is still running on this host');
    expect(live.stderr).toContain('--force never breaks the lock of a live run');
    const broken = await lab.cli(['runs', '--break-lock', 'reused']);
    expect(broken.code, broken.stderr).toBe(0);
  });
});

describe('input files', () => {
  const noCrash = (r: { stderr: string }) => {
    expect(r.stderr).not.toContain('internal error');
    expect(r.stderr).not.toMatch(STACK);
  };

  it('a FIFO, a device, a directory or an oversized file is refused at once (exit 3), never read', async () => {
    lab = stateLab();
    const fifo = join(lab.dir, 'fifo.yaml');
    await run('mkfifo', [fifo]);
    const big = join(lab.dir, 'big.yaml');
    writeFileSync(big, '');
    await run('truncate', ['-s', '17M', big]);
    const cases: Array<[string[], string]> = [
      [['validate', fifo], 'a named pipe (FIFO), not a regular file'],
      [['exec', MARKS_RUNBOOK, '--dry-run', '-i', '/dev/zero'], '/dev/zero: error: a device, not a regular file'],
      [['exec', MARKS_RUNBOOK, '--dry-run', '-i', fifo], 'a named pipe (FIFO), not a regular file'],
      [['exec', MARKS_RUNBOOK, '--dry-run', '-i', lab.dir], 'a directory, not a regular file'],
      [['exec', MARKS_RUNBOOK, '--dry-run', '-i', big], 'larger than the 16 MiB an input file may be'],
      [['exec', MARKS_RUNBOOK, '-i', lab.inventory, '--plan', fifo], 'a named pipe (FIFO), not a regular file'],
      [
        ['smoke', MARKS_RUNBOOK, '-i', lab.inventory, '--database-url', 'postgres://nobody@127.0.0.1:9/none', '--seed', fifo],
        `cannot read the smoke seed ${fifo}: a named pipe (FIFO), not a regular file`,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.timedOut, args.join(' ')).toBe(false);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(3);
      expect(r.stdout + r.stderr).toContain(message);
      noCrash(r);
    }
  });

  it('a YAML alias bomb is a located validation error (exit 3), in a runbook and in an inventory', async () => {
    lab = stateLab();
    const bomb = [
      'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
      'f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]',
    ].join('\n');
    const runbook = join(lab.dir, 'bomb.yaml');
    writeFileSync(runbook, `id: bomb\ntitle: Bomb\n${bomb}\n`);
    const inventory = join(lab.dir, 'bomb-inventory.yaml');
    writeFileSync(inventory, `name: bomb\n${bomb}\n`);
    for (const [args, file] of [
      [['validate', runbook], runbook],
      [['exec', MARKS_RUNBOOK, '--dry-run', '-i', inventory], inventory],
    ] as const) {
      const r = await runCli([...args]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stdout + r.stderr).toMatch(
        new RegExp(`${file.replaceAll('.', '\\.')}:\\d+:\\d+: error: YAML aliases expand too much \\(alias \\*[a-f]\\)`),
      );
      noCrash(r);
    }
  });

  it('invalid UTF-8 in a runbook or an inventory is an error at its line and column (exit 3)', async () => {
    lab = stateLab();
    const runbook = join(lab.dir, 'latin1.yaml');
    writeFileSync(runbook, Buffer.concat([Buffer.from('id: latin1\ntitle: "Mise '), Buffer.from([0xe0]), Buffer.from(' jour"\n')]));
    const inventory = join(lab.dir, 'latin1-inventory.yaml');
    writeFileSync(
      inventory,
      Buffer.concat([Buffer.from('name: local\nparameters:\n  dir: /tmp/caf\u00e9/'), Buffer.from([0xff]), Buffer.from('\n')]),
    );
    const v = await runCli(['validate', runbook]);
    expect(v.code).toBe(3);
    expect(v.stdout + v.stderr).toContain(`${runbook}:2:14: error: invalid UTF-8 (byte 0xe0): save the file as UTF-8`);
    const e = await runCli(['exec', MARKS_RUNBOOK, '--dry-run', '-i', inventory]);
    expect(e.code).toBe(3);
    expect(e.stdout + e.stderr).toContain(`${inventory}:3:18: error: invalid UTF-8 (byte 0xff)`);
    noCrash(v);
    noCrash(e);
  });
});
