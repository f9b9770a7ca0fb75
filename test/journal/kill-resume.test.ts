/**
 * A real run of the lab runbook is killed with SIGKILL at every step boundary (right after a
 * step's start is journaled, right after its end is) and in the middle of the long step; each
 * time `runbook resume` completes the run, no step leaves its mark twice, and the step that was
 * interrupted follows the unknown-outcome rule: its verification decides where it has one,
 * otherwise resume refuses without --unknown (exit 9) and the operator's choice is recorded.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  execArgs,
  hostLog,
  marksOf,
  openStep,
  remoteGone,
  remoteRunning,
  readJournal,
  killAt,
  startJournalLab,
  STEPS,
  VERIFIED,
  type JournalLab,
  type KillPoint,
} from './journal-lab.js';
import { runCli } from '../cli/run-cli.js';

let lab: JournalLab;
beforeAll(async () => {
  lab = await startJournalLab(['127.0.41.1', '127.0.41.2']);
});
afterAll(async () => {
  await lab?.stop();
});

const points: Array<{ name: string; kill: KillPoint; tag?: string }> = [
  ...STEPS.flatMap((s) => [
    { name: `after ${s} started`, kill: { event: 'step-started' as const, stepId: s } },
    { name: `after ${s} finished`, kill: { event: 'step-finished' as const, stepId: s } },
  ]),
  // Once its commands run on the hosts (for four seconds).
  {
    name: 'in the middle of the long step',
    tag: 'mid',
    kill: { event: 'step-started', stepId: 'long', until: () => remoteRunning(lab, 'steps-mid.log') },
  },
];

describe('kill and resume', () => {
  it.each(points.map((p, i) => [p.name, p.kill, i, p.tag ?? `k${i}`] as const))(
    'killed %s: resume completes the run, no step twice',
    async (_name, kill, i, tag) => {
      const runId = `kill-${i}`;
      const journal = join(lab.stateDir, 'runs', runId, 'events.jsonl');
      const first = await runCli(execArgs(lab, tag, runId), { env: lab.env, kill: killAt(journal, kill), timeoutMs: 60_000 });
      expect(first.signal, first.stderr).toBe('SIGKILL');
      const before = readJournal(lab.stateDir, runId);
      if (before.some((r) => r.type === 'run-finished')) {
        // The kill came after the run had ended (the boundary after the last step): nothing to resume.
        const again = await runCli(['resume', runId, '--yes', '--state-dir', lab.stateDir], { env: lab.env });
        expect(again.code).toBe(9);
        expect(again.stderr).toContain('already succeeded');
        for (const step of STEPS) expect(await marksOf(lab, tag, step)).toEqual((await marksOf(lab, tag, step)).map(() => 1));
        // Killed before it let go of its lock: the stale lock stays until broken explicitly.
        const runs = await runCli(['runs', '--json', '--state-dir', lab.stateDir], { env: lab.env });
        const locks = (JSON.parse(runs.stdout) as { locks: Array<{ id: string; runId: string; stale: boolean }> }).locks.filter(
          (l) => l.runId === runId,
        );
        for (const l of locks) {
          expect(l.stale).toBe(true);
          const broken = await runCli(['runs', '--break-lock', l.id, '--state-dir', lab.stateDir], { env: lab.env });
          expect(broken.code, broken.stderr).toBe(0);
          expect(broken.stdout).toContain(`Broke lock ${l.id} of run ${runId}`);
        }
        return;
      }
      const open = openStep(before);
      if (kill.event === 'step-started' && (kill.stepId === 'long' || kill.stepId === 'prepare')) expect(open).toBe(kill.stepId);
      // The long step's commands, cut off by the kill, end before their marks are read.
      if (open === 'long') await remoteGone(lab, `steps-${tag}.log`);
      const completedBefore = new Set(before.filter((r) => r.type === 'step-finished' && r.status === 'succeeded').map((r) => r.stepId));

      let unknownFlag: string[] = [];
      if (open && !VERIFIED.has(open)) {
        // Without a terminal and without --unknown, resume refuses and says what to do.
        const refused = await runCli(['resume', runId, '--yes', '--state-dir', lab.stateDir], { env: lab.env });
        expect(refused.code).toBe(9);
        expect(refused.stderr).toContain(`step ${open} started`);
        expect(refused.stderr).toContain('--unknown rerun');
        // The operator looks at the target, as the hint says, and decides.
        const marks = await marksOf(lab, tag, open as (typeof STEPS)[number]);
        expect(marks.every((m) => m === marks[0])).toBe(true);
        unknownFlag = ['--unknown', marks[0] === 1 ? 'done' : 'rerun'];
      }
      const resumed = await runCli(['resume', runId, '--yes', '--state-dir', lab.stateDir, ...unknownFlag], { env: lab.env });
      expect(resumed.stderr).toBe('');
      expect(resumed.code).toBe(0);
      expect(resumed.stdout).toContain('run succeeded');

      for (const step of STEPS) {
        const marks = await marksOf(lab, tag, step);
        expect(marks, `marks of ${step}`).toEqual(marks.map(() => 1));
      }
      const after = readJournal(lab.stateDir, runId);
      const resumeStart = after.findIndex((r) => r.type === 'run-started' && r.mode === 'resume');
      expect(resumeStart).toBeGreaterThan(0);
      const startedAgain = after
        .slice(resumeStart)
        .filter((r) => r.type === 'step-started')
        .map((r) => r.stepId);
      for (const id of completedBefore) expect(startedAgain, `${id} completed before the kill`).not.toContain(id);
      const notes = after.filter((r) => r.type === 'unknown-outcome');
      if (open) {
        expect(notes).toHaveLength(1);
        expect(notes[0]).toMatchObject({ stepId: open, by: VERIFIED.has(open) ? 'verification' : 'flag' });
        if (notes[0]!.decision === 'done') expect(startedAgain).not.toContain(open);
        else expect(startedAgain).toContain(open);
      } else {
        expect(notes).toHaveLength(0);
      }
      expect(after.at(-1)).toMatchObject({ type: 'run-finished', status: 'succeeded' });
    },
  );
});

describe('a fan-out step interrupted after some hosts finished', () => {
  it.each([
    ['without a verification, --unknown rerun', false, ['--unknown', 'rerun'], 'succeeded on h1'],
    ['with a verification, which decides host by host', true, [], 'verified on h1'],
  ])('%s: runs again only on the hosts that had not taken it', async (_name, verified, flags, why) => {
    const tag = verified ? 'partial-v' : 'partial';
    const runbook = join(lab.dir, `${tag}.yaml`);
    writeFileSync(
      runbook,
      `id: partial-fanout
title: One host fast, one slow
version: 1.0.0
parameters:
  tag: { type: string }
targets:
  app: { type: hosts }
steps:
  - id: mark
    title: Mark each host once
    kind: ssh
    target: app
    fanOut: { mode: serial }
    command: if [ -e {{ host.vars.workdir }}/slow-{{ params.tag }} ]; then while [ -e {{ host.vars.workdir }}/slow-{{ params.tag }} ]; do sleep 0.1; done; exit 1; fi && echo mark >> {{ host.vars.workdir }}/steps-{{ params.tag }}.log
${verified ? '    verify:\n      kind: ssh\n      command: grep -qx mark {{ host.vars.workdir }}/steps-{{ params.tag }}.log\n' : ''}`,
    );
    const runId = `${tag}-1`;
    const slow = join(lab.ssh.host('h2').stateDir, `slow-${tag}`);
    writeFileSync(slow, '');
    const args = ['-i', lab.inventory, '-p', `tag=${tag}`, '--yes', '--state-dir', lab.stateDir];
    const journal = join(lab.stateDir, 'runs', runId, 'events.jsonl');
    // Killed once h2's command runs (held by its slow file), after h1 finished: only h1 has its mark.
    const h2Command = join(lab.ssh.host('h2').stateDir, `steps-${tag}.log`);
    const killed = await runCli(['exec', runbook, ...args, '--run-id', runId], {
      env: lab.env,
      kill: killAt(journal, { event: 'instance-started', stepId: 'mark', target: 'h2', until: () => remoteRunning(lab, h2Command) }),
      timeoutMs: 60_000,
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(hostLog(lab, 'h1', tag)).toEqual(['mark']);
    expect(hostLog(lab, 'h2', tag)).toEqual([]);
    // The cut-off command outlives the kill (nothing stops it): released, it ends without a mark.
    rmSync(slow);
    await remoteGone(lab, h2Command);
    expect(hostLog(lab, 'h2', tag)).toEqual([]);

    const resumed = await runCli(['resume', runId, ...flags, '--yes', '--state-dir', lab.stateDir], { env: lab.env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(hostLog(lab, 'h1', tag)).toEqual(['mark']);
    expect(hostLog(lab, 'h2', tag)).toEqual(['mark']);
    const records = readJournal(lab.stateDir, runId);
    const resumeStart = records.findIndex((r) => r.type === 'run-started' && r.mode === 'resume');
    const rerunOn = records
      .slice(resumeStart)
      .filter((r) => r.type === 'instance-finished')
      .map((r) => r.target);
    expect(rerunOn).toEqual(['h2']);
    expect(records.find((r) => r.type === 'unknown-outcome')).toMatchObject({
      decision: 'rerun',
      by: verified ? 'verification' : 'flag',
      message: expect.stringContaining(`runs again on h2 only (${why})`),
    });
    expect(resumed.stdout).toContain('not run again on h1');
  });
});
