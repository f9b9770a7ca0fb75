/**
 * The run lock (a second run on the same targets is refused with exit 8), run states in
 * `runbook runs`, resume refusing a changed runbook unless forced, --only recorded, and a run
 * with secrets whose every artifact (journal, plan, lock, report, terminal output) is searched
 * for the secret values.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, appendFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TerminalSession } from '../engine/tmux.js';
import {
  DB_PASSWORD,
  execArgs,
  marksOf,
  openStep,
  readJournal,
  RUNBOOK,
  startJournalLab,
  STEPS,
  TOKEN,
  killAt,
  type JournalLab,
} from './journal-lab.js';
import { runCli, type CliResult } from '../cli/run-cli.js';

let lab: JournalLab;
beforeAll(async () => {
  lab = await startJournalLab(['127.0.42.1', '127.0.42.2']);
});
afterAll(async () => {
  await lab?.stop();
});

const journalOf = (runId: string) => join(lab.stateDir, 'runs', runId, 'events.jsonl');
const runsJson = async () => {
  const r = await runCli(['runs', '--json', '--state-dir', lab.stateDir], { env: lab.env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as {
    runs: Array<{ id: string; state: string; lastStep: string | null; operator: string; runbook: string }>;
    locks: Array<{ id: string; runId: string; stale: boolean }>;
  };
};
const stateOf = async (runId: string) => (await runsJson()).runs.find((r) => r.id === runId)?.state;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('run lock', () => {
  it('refuses a second run on the same runbook and targets with exit 8, touching nothing', async () => {
    const first = runCli(execArgs(lab, 'c1', 'lock-a'), { env: lab.env });
    // Wait until the first run is in its long step.
    for (
      let i = 0;
      i < 300 && !(existsSync(journalOf('lock-a')) && readFileSync(journalOf('lock-a'), 'utf8').includes('"stepId":"long"'));
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    expect(await stateOf('lock-a')).toBe('running');
    const second = await runCli(execArgs(lab, 'c2', 'lock-b'), { env: lab.env });
    expect(second.code).toBe(8);
    expect(second.stderr).toContain('is being run by run lock-a');
    expect(existsSync(join(lab.stateDir, 'runs', 'lock-b'))).toBe(false);
    for (const step of STEPS) expect((await marksOf(lab, 'c2', step)).every((n) => n === 0)).toBe(true);
    const done = await first;
    expect(done.code, done.stderr).toBe(0);
    expect(await stateOf('lock-a')).toBe('succeeded');
    // The lock is gone with the run.
    expect((await runsJson()).locks.filter((l) => l.runId === 'lock-a')).toEqual([]);
  });

  it("keeps a killed run's lock as stale: a new run is refused until the lock is broken", async () => {
    const killed = await runCli(execArgs(lab, 'st1', 'stale-a'), {
      env: lab.env,
      kill: killAt(journalOf('stale-a'), { event: 'step-finished', stepId: 'prepare' }),
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(await stateOf('stale-a')).toBe('unknown');
    const table = await runCli(['runs', '--state-dir', lab.stateDir], { env: lab.env });
    // Killed when prepare's end is journaled: record may have started in the moment before SIGKILL landed.
    expect(table.stdout).toMatch(/stale-a\s+journal-lab\s+\S+\s+\S+@\S+\s+unknown \(crashed\)\s+(prepare|record)/);
    expect(table.stdout).toContain('Stale lock journal-lab-');
    const refused = await runCli(execArgs(lab, 'st2', 'stale-b'), { env: lab.env });
    expect(refused.code).toBe(8);
    expect(refused.stderr).toContain('whose process is gone');
    expect(refused.stderr).toContain('runbook runs --break-lock journal-lab-');
    const lockId = /--break-lock (\S+)/.exec(refused.stderr)![1]!;
    const broken = await runCli(['runs', '--break-lock', lockId, '--state-dir', lab.stateDir], { env: lab.env });
    expect(broken.code, broken.stderr).toBe(0);
    // The operator gives up the killed run: resume with abort records it.
    const aborted = await runCli(['resume', 'stale-a', '--yes', '--unknown', 'abort', '--state-dir', lab.stateDir], { env: lab.env });
    expect(aborted.code, aborted.stderr).toBe(0);
    // Nothing was open (killed after a step finished), so there was nothing to abort: the run completed.
    expect(await stateOf('stale-a')).toBe('succeeded');
  });

  it('records an abort on an unknown outcome, and an interrupted run resumes', async () => {
    const killed = await runCli(execArgs(lab, 'ab1', 'abort-a'), {
      env: lab.env,
      kill: killAt(journalOf('abort-a'), { event: 'step-started', stepId: 'local-note' }),
    });
    expect(killed.signal).toBe('SIGKILL');
    const aborted = await runCli(['resume', 'abort-a', '--yes', '--unknown', 'abort', '--state-dir', lab.stateDir], { env: lab.env });
    expect(aborted.code).toBe(5);
    expect(aborted.stderr).toBe(
      `error: run abort-a aborted on resume\nhint: The journal records the decision (${join(lab.stateDir, 'runs', 'abort-a')}).\n`,
    );
    expect(aborted.stdout).toContain('■ run aborted: the operator aborted the resume\n');
    expect(await stateOf('abort-a')).toBe('aborted');
    expect(readJournal(lab.stateDir, 'abort-a').find((r) => r.type === 'unknown-outcome')).toMatchObject({
      stepId: 'local-note',
      decision: 'abort',
      by: 'flag',
    });

    const { code } = await runCli(execArgs(lab, 'int1', 'int-a'), {
      env: lab.env,
      kill: { ...killAt(journalOf('int-a'), { event: 'step-started', stepId: 'long' }), signal: 'SIGINT' },
    });
    expect(code).toBe(130);
    expect(await stateOf('int-a')).toBe('interrupted');
    const resumed = await runCli(['resume', 'int-a', '--yes', '--state-dir', lab.stateDir], { env: lab.env });
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const step of STEPS) expect(await marksOf(lab, 'int1', step)).toEqual((await marksOf(lab, 'int1', step)).map(() => 1));
  });
});

describe('resume guards and selection', () => {
  it('refuses when the runbook changed since the run started, unless forced (recorded)', async () => {
    const copy = join(lab.dir, 'journal-lab-copy.yaml');
    copyFileSync(RUNBOOK, copy);
    const args = execArgs(lab, 'ch1', 'changed-a');
    args[1] = copy;
    const killed = await runCli(args, { env: lab.env, kill: killAt(journalOf('changed-a'), { event: 'step-finished', stepId: 'record' }) });
    expect(killed.signal).toBe('SIGKILL');
    appendFileSync(copy, '# edited after the run started\n');
    const refused = await runCli(['resume', 'changed-a', '--yes', '--state-dir', lab.stateDir], { env: lab.env });
    expect(refused.code).toBe(9);
    expect(refused.stderr).toContain(`the runbook ${copy} changed since run changed-a started`);
    expect(refused.stderr).toContain('--force');
    const forced = await runCli(['resume', 'changed-a', '--yes', '--force', '--state-dir', lab.stateDir], { env: lab.env });
    expect(forced.code, forced.stderr).toBe(0);
    const records = readJournal(lab.stateDir, 'changed-a');
    expect(records.find((r) => r.type === 'resume-forced')).toMatchObject({ changed: [`the runbook ${copy}`] });
    expect(records.filter((r) => r.type === 'run-started').at(-1)).toMatchObject({ mode: 'resume', selection: { forced: true } });
  });

  it('records --only and --from in the journal', async () => {
    const only = await runCli(execArgs(lab, 'o1', 'only-a', ['--only', 'prepare']), { env: lab.env });
    expect(only.code, only.stderr).toBe(0);
    const records = readJournal(lab.stateDir, 'only-a');
    // The journal opens with the plan's digest, then the run's start.
    expect(records[0]).toMatchObject({ type: 'journal-started', planDigest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(records[1]).toMatchObject({ type: 'run-started', selection: { only: 'prepare', from: null } });
    expect(records.filter((r) => r.type === 'step-skipped').map((r) => r.stepId)).toEqual(STEPS.filter((s) => s !== 'prepare'));
    const from = await runCli(execArgs(lab, 'o2', 'from-a', ['--from', 'finish-db']), { env: lab.env });
    expect(from.code, from.stderr).toBe(0);
    expect(readJournal(lab.stateDir, 'from-a')[1]).toMatchObject({ selection: { from: 'finish-db', only: null } });
  });
});

describe('secrets in every artifact', () => {
  it('never writes the token or the database password, even when a program echoes the token in pieces', async () => {
    const outputs: CliResult[] = [];
    const killed = await runCli(execArgs(lab, 'sec1', 'secret-a'), {
      env: lab.env,
      kill: killAt(journalOf('secret-a'), { event: 'step-started', stepId: 'finish-db' }),
    });
    outputs.push(killed);
    // The kill races the short insert: the step may have finished before the signal landed.
    const interrupted = openStep(readJournal(lab.stateDir, 'secret-a')) === 'finish-db';
    // The operator looks whether the insert happened, and says so.
    const [before] = await marksOf(lab, 'sec1', 'finish-db');
    const resumed = await runCli(['resume', 'secret-a', '--yes', '--unknown', before ? 'done' : 'rerun', '--state-dir', lab.stateDir], {
      env: lab.env,
    });
    outputs.push(resumed);
    expect(await marksOf(lab, 'sec1', 'finish-db')).toEqual([1]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const md = await runCli(['report', 'secret-a', '--format', 'md', '--state-dir', lab.stateDir], { env: lab.env });
    const json = await runCli(['report', 'secret-a', '--format', 'json', '--state-dir', lab.stateDir], { env: lab.env });
    const runs = await runCli(['runs', '--state-dir', lab.stateDir], { env: lab.env });
    const runsJ = await runCli(['runs', '--json', '--state-dir', lab.stateDir], { env: lab.env });
    outputs.push(md, json, runs, runsJ);
    for (const o of outputs.slice(2)) expect(o.code, o.stderr).toBe(0);

    const needles = [TOKEN, DB_PASSWORD, TOKEN.slice(0, 12), TOKEN.slice(6)];
    const artifacts: Array<[string, string]> = [
      ...filesUnder(lab.stateDir).map((f) => [f, readFileSync(f, 'utf8')] as [string, string]),
      ...outputs.flatMap(
        (o, i) =>
          [
            [`stdout ${i}`, o.stdout],
            [`stderr ${i}`, o.stderr],
          ] as Array<[string, string]>,
      ),
    ];
    expect(artifacts.some(([f]) => f.endsWith('plan.json'))).toBe(true);
    for (const [where, text] of artifacts) for (const needle of needles) expect(text.includes(needle), `${needle} in ${where}`).toBe(false);

    // The program did echo it: the journal shows the mask where the token was.
    const echoed = readJournal(lab.stateDir, 'secret-a')
      .filter((r) => r.type === 'output' && r.stepId === 'echo-secret')
      .map((r) => String(r.text))
      .join('');
    expect(echoed).toContain('token=***');
    expect(echoed).toContain('again ***');

    // The report is the change-ticket record.
    expect(md.stdout).toContain('# Run secret-a');
    expect(md.stdout).toMatch(/\| Operator \| \S+@\S+ \|/);
    expect(md.stdout).toContain('| tag | sec1 |');
    expect(md.stdout).toContain('| api_token | *** |');
    for (const step of STEPS) expect(md.stdout).toContain(`### ${step}: `);
    expect(md.stdout).toContain('Verification on h1: succeeded');
    const report = JSON.parse(json.stdout) as {
      state: string;
      sessions: unknown[];
      steps: Array<{ id: string; outcome: string; commands: unknown[]; durationMs: number | null; notes: string[] }>;
    };
    expect(report.state).toBe('succeeded');
    expect(report.sessions).toHaveLength(2);
    expect(report.steps.map((s) => [s.id, s.outcome])).toEqual(
      STEPS.map((s) => [s, s === 'finish-db' && interrupted && before ? 'marked done' : 'succeeded']),
    );
    if (interrupted)
      expect(report.steps.find((s) => s.id === 'finish-db')!.notes[0]).toMatch(
        /outcome unknown after an interruption: (rerun|done) \(decided by flag/,
      );
    // A step marked done after an interruption has no measured duration.
    expect(report.steps.every((s) => s.commands.length > 0 && (s.durationMs !== null || s.outcome === 'marked done'))).toBe(true);
  });
});

describe('unknown outcome on a terminal', () => {
  it('asks the operator (run again, mark done, abort) and records the answer', async () => {
    const killed = await runCli(execArgs(lab, 'tty1', 'tty-a'), {
      env: lab.env,
      kill: killAt(journalOf('tty-a'), { event: 'step-started', stepId: 'prepare' }),
    });
    expect(killed.signal).toBe('SIGKILL');
    const [mark] = await marksOf(lab, 'tty1', 'prepare');
    // A tmux server of its own: another test file's server may come and go meanwhile.
    process.env.TMUX_TMPDIR = mkdtempSync(join(lab.dir, 'tmux-'));
    const session = TerminalSession.start(['resume', 'tty-a', '--yes', '--state-dir', lab.stateDir], lab.env);
    try {
      await session.waitFor(/Step prepare has no verification\. What happened to it\?/);
      // The operator looks at the host: the mark is there (done) or not (run again, the default).
      if (mark) session.send('Down');
      session.send('Enter');
      expect(await session.exitCode(60_000)).toBe(0);
    } finally {
      session.kill();
    }
    expect(await marksOf(lab, 'tty1', 'prepare')).toEqual([1]);
    expect(readJournal(lab.stateDir, 'tty-a').find((r) => r.type === 'unknown-outcome')).toMatchObject({
      stepId: 'prepare',
      decision: mark ? 'done' : 'rerun',
      by: 'operator',
    });
  });
});
