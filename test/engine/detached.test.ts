/**
 * Detached steps against the suite's own sshd: the vendor tool (fixtures/detached/slow-tool.sh)
 * outlives a killed runbook, a dropped connection, Ctrl-C in a terminal and the step timeout;
 * resume and attach re-attach and judge it by its real exit status; a failing one reports its
 * exit code and log tail and its onFailure rule applies; only the operator kills it. Also: a
 * progress line of dots is never taken for a prompt, attached or detached, and Ctrl-C or a
 * timeout on an attached step stops the remote command's whole process group.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exampleEnv, useExampleLab } from './example-lab.js';
import { runbookWriter } from '../runbook/builders.js';
import { TerminalSession } from './tmux.js';
import { runCli, type CliResult } from '../cli/run-cli.js';
import { killAt, readJournal } from '../journal/journal-lab.js';

const TOOL = join(process.cwd(), 'fixtures', 'detached', 'slow-tool.sh');

const lab = useExampleLab();
let session: TerminalSession | undefined;
let n = 0;
afterEach(() => session?.kill());

const stateDir = () => join(lab.dir, 'state');
const env = () => exampleEnv(lab);
const uniqueId = (name: string) => `${name}-${process.pid}-${++n}`;
const marker = (host: string, tag: string) => join(lab.ssh.host(host).stateDir, `tool-${tag}.log`);
const finishedOn = (host: string, tag: string) =>
  existsSync(marker(host, tag)) ? readFileSync(marker(host, tag), 'utf8').split('\n').filter(Boolean) : [];

const writeRunbook = runbookWriter(() => lab.dir, 'detached', { targets: { app: 'hosts' } });
/** A runbook on app1 only: the detached tool step, then a step that marks that the run went on. */
const runbook = (tag: string, step: string, extra = '') =>
  writeRunbook(
    `${step}\n  - { id: after, title: after the tool, kind: ssh, target: app, command: 'echo after >> {{ host.vars.workdir }}/after-${tag}.log' }`,
    extra,
    `detached-${tag}`,
  );

function toolStep(tag: string, seconds: number, code: number, extra = ''): string {
  return `  - id: tool
    title: run the long vendor tool
    kind: ssh
    target: app
    detached: true
    command: ${TOOL} ${seconds} ${code} {{ host.vars.workdir }}/tool-${tag}.log
${extra}`;
}

/** Inventory with app1 alone in the role (the harness host of the tests). */
let oneHost: string;
beforeAll(() => {
  oneHost = lab.writeInventory();
  const text = readFileSync(oneHost, 'utf8').replace(/app: \[app1, app2\]/, 'app: [app1]');
  writeFileSync(oneHost, text);
});

const exec = (rb: string, runId: string, extra: string[] = [], kill?: { delayMs: number }) =>
  runCli(['exec', rb, '-i', oneHost, '--yes', '--state-dir', stateDir(), '--run-id', runId, ...extra], {
    env: env(),
    ...(kill ? { kill: killAt(journalFile(runId), { event: 'detached-started', stepId: 'tool', delayMs: kill.delayMs }) } : {}),
  });
const resume = (runId: string, extra: string[] = []) =>
  runCli(['resume', runId, '--yes', '--state-dir', stateDir(), ...extra], { env: env() });
const attach = (runId: string, extra: string[] = []) => runCli(['attach', runId, '--state-dir', stateDir(), ...extra], { env: env() });
const journalFile = (runId: string) => join(stateDir(), 'runs', runId, 'events.jsonl');

async function until(what: string, ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The journal says the tool runs detached (so the runbook may be cut off now). */
const detachedStarted = (runId: string) =>
  existsSync(journalFile(runId)) && readFileSync(journalFile(runId), 'utf8').includes('"type":"detached-started"');

function expectResumedToTheEnd(r: CliResult, runId: string, tag: string): void {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toContain('re-attached to the detached program');
  expect(r.stdout).toContain('slow-tool: finished with code 0');
  expect(finishedOn('app1', tag)).toEqual(['finished 0']);
  expect(readFileSync(join(lab.ssh.host('app1').stateDir, `after-${tag}.log`), 'utf8')).toBe('after\n');
  const records = readJournal(stateDir(), runId);
  expect(records.filter((x) => x.type === 'step-finished' && x.stepId === 'tool')).toEqual([
    expect.objectContaining({ status: 'succeeded', exitCode: 0 }),
  ]);
  expect(records.some((x) => x.type === 'unknown-outcome')).toBe(false);
}

describe('a detached step outlives the session', () => {
  it('kill -9 of runbook: the tool finishes; resume reports its real exit status and output and goes on', async () => {
    const tag = uniqueId('kill');
    const runId = tag;
    const rb = runbook(tag, toolStep(tag, 6, 0));
    // SIGKILL as soon as the journal says the tool runs detached.
    const killed = await runCli(['exec', rb, '-i', oneHost, '--yes', '--state-dir', stateDir(), '--run-id', runId], {
      env: env(),
      kill: killAt(journalFile(runId), { event: 'detached-started', stepId: 'tool', delayMs: 500 }),
    });
    expect(killed.signal).toBe('SIGKILL');
    const started = readJournal(stateDir(), runId).find((x) => x.type === 'detached-started')!;
    expect(started).toMatchObject({
      stepId: 'tool',
      target: 'app1',
      pid: expect.any(Number),
      dir: expect.stringContaining(`/.runbook/detached/${runId}/tool-app1-`),
    });
    expect(statSync(started.dir as string).mode & 0o777).toBe(0o700);
    expect(finishedOn('app1', tag)).toEqual([]);
    // The tool goes on without the runbook and ends on its own.
    await until('the tool finished', () => finishedOn('app1', tag).length === 1);
    const resumed = await resume(runId);
    expectResumedToTheEnd(resumed, runId, tag);
    expect(resumed.stdout).toMatch(/Upgrading database \.+ done/);
  });

  it('the SSH connection dropped mid-step: the run stops with exit 11, the tool goes on, resume completes', async () => {
    const tag = uniqueId('drop');
    const runId = tag;
    const rb = runbook(tag, toolStep(tag, 8, 0));
    const pending = exec(rb, runId);
    await until('the tool runs detached', () => detachedStarted(runId));
    // Drop the connection: kill the sshd processes serving it (not the tool, in its own session).
    for (const p of lab.ssh.processes('app1').filter((x) => /^sshd: runbook-lab/.test(x.args))) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const first = await pending;
    expect(first.code, first.stdout + first.stderr).toBe(11);
    expect(first.stdout).toContain('the connection was lost; the detached program keeps running on app1');
    expect(first.stderr).toContain(`runbook attach ${runId}`);
    expect(readJournal(stateDir(), runId).find((x) => x.type === 'detached-left')).toMatchObject({ reason: 'connection' });
    expect(finishedOn('app1', tag)).toEqual([]);
    await until('the tool finished', () => finishedOn('app1', tag).length === 1);
    expectResumedToTheEnd(await resume(runId), runId, tag);
  });

  it('a step timeout shorter than the tool: nothing is killed, the run stops clearly, resume completes', async () => {
    const tag = uniqueId('timeout');
    const runId = tag;
    const rb = runbook(tag, toolStep(tag, 6, 0, '    timeout: 2s'));
    const first = await exec(rb, runId);
    expect(first.code, first.stdout + first.stderr).toBe(11);
    expect(first.stdout).toContain('stopped waiting at the step timeout; the detached program keeps running on app1');
    expect(first.stdout).not.toMatch(/after the tool/);
    await until('the tool finished', () => finishedOn('app1', tag).length === 1);
    expect(finishedOn('app1', tag)).toEqual(['finished 0']);
    expectResumedToTheEnd(await resume(runId), runId, tag);
  });

  it('Ctrl-C in a terminal only detaches; resume re-attaches', async () => {
    const tag = uniqueId('ctrlc');
    const runId = tag;
    const rb = runbook(tag, toolStep(tag, 8, 0));
    session = TerminalSession.start(['exec', rb, '-i', oneHost, '--yes', '--state-dir', stateDir(), '--run-id', runId], env());
    // The live view shows whole lines: the line of dots appears only once it ends.
    await session.waitFor(/slow-tool: starting/);
    session.send('C-c');
    expect(await session.exitCode()).toBe(11);
    // The first Ctrl-C says what happens to the detached program, not a grace time it does not get.
    expect(session.screen()).toContain('the detached program of tool on app1 keeps running on its target');
    expect(session.screen()).not.toContain('to end (Ctrl-C again');
    expect(session.screen()).toContain('stopped waiting (Ctrl-C); the detached program keeps running on app1');
    expect(finishedOn('app1', tag)).toEqual([]);
    // The report shows the program left running, with its pid and log, then finished after resume.
    const report = async () => (await runCli(['report', runId, '--state-dir', stateDir()], { env: env() })).stdout;
    expect(await report()).toMatch(/- Detached program on app1: left running \(.*Ctrl-C.*\), pid \d+, log `[^`]+\/log`/);
    await until('the tool finished', () => finishedOn('app1', tag).length === 1);
    expectResumedToTheEnd(await resume(runId), runId, tag);
    expect(await report()).toMatch(/- Detached program on app1: finished, pid \d+, log `[^`]+\/log`/);
  });

  it('attach re-attaches, answers a prompt through the FIFO with the runbook rules, judges and stops', async () => {
    const tag = uniqueId('attach');
    const runId = tag;
    const rb = runbook(
      tag,
      toolStep(tag, 2, 0, `    pty:\n      answers:\n        - { prompt: 'upgrade the product now\\? \\[Y/N\\]', answer: 'y' }`).replace(
        `tool-${tag}.log`,
        `tool-${tag}.log ask`,
      ),
    );
    // The runbook is killed before the tool asks: the answer comes from the attach session.
    const first = await exec(rb, runId, [], { delayMs: 300 });
    expect(first.signal).toBe('SIGKILL');
    const attached = await attach(runId);
    expect(attached.code, attached.stdout + attached.stderr).toBe(0);
    expect(attached.stdout).toContain('slow-tool: finished with code 0');
    expect(finishedOn('app1', tag)).toEqual(['finished 0']);
    const records = readJournal(stateDir(), runId);
    expect(records.find((x) => x.type === 'instance-finished' && x.stepId === 'tool')).toMatchObject({
      status: 'succeeded',
      answers: [{ prompt: 'Do you wish to upgrade the product now? [Y/N]', answer: 'y' }],
    });
    // attach stops after the step: the next one waits for resume.
    expect(existsSync(join(lab.ssh.host('app1').stateDir, `after-${tag}.log`))).toBe(false);
    const resumed = await resume(runId);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readFileSync(join(lab.ssh.host('app1').stateDir, `after-${tag}.log`), 'utf8')).toBe('after\n');
  });

  it('a failing detached tool: exit code and log tail reported, its rollback runs', async () => {
    const tag = uniqueId('fail');
    const runId = tag;
    const rb = runbook(
      tag,
      toolStep(tag, 1, 3, '    onFailure: { rollback: [undo] }'),
      `rollback:\n  - { id: undo, title: undo, kind: ssh, target: app, command: 'echo undone >> {{ host.vars.workdir }}/undo-${tag}.log' }`,
    );
    const r = await exec(rb, runId);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain('exit code 3, expected 0 (log: slow-tool: finished with code 3)');
    expect(r.stdout).toMatch(/last lines of .*\/log:/);
    expect(r.stdout).toContain('slow-tool: ERROR: schema step 42 failed (code 3)');
    expect(readFileSync(join(lab.ssh.host('app1').stateDir, `undo-${tag}.log`), 'utf8')).toBe('undone\n');
    expect(readJournal(stateDir(), runId).find((x) => x.type === 'step-finished' && x.stepId === 'tool')).toMatchObject({
      status: 'failed',
      exitCode: 3,
    });
  });

  it('only the operator kills it: attach --kill needs the typed target names, and the journal records it', async () => {
    const tag = uniqueId('killop');
    const runId = tag;
    const rb = runbook(tag, toolStep(tag, 30, 0, '    timeout: 2s'));
    const left = await exec(rb, runId);
    expect(left.code).toBe(11);
    expect(left.stdout).toContain(`stopped waiting at the step timeout; the detached program keeps running on app1 (pid `);
    expect(left.stdout).toContain(`): re-attach with runbook attach ${runId}`);
    const refused = await attach(runId, ['--kill']);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('--confirm-kill app1');
    const wrong = await attach(runId, ['--kill', '--confirm-kill', 'app2']);
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toContain('error: not killed: the confirmation "app2" is not "app1"');
    const killed = await attach(runId, ['--kill', '--confirm-kill', 'app1']);
    expect(killed.code, killed.stdout + killed.stderr).toBe(1);
    expect(killed.stdout).toContain('killed by the operator');
    expect(finishedOn('app1', tag)).toEqual([]);
    const records = readJournal(stateDir(), runId);
    expect(records.find((x) => x.type === 'detached-killed')).toMatchObject({ stepId: 'tool', target: 'app1' });
    expect(records.find((x) => x.type === 'step-finished' && x.stepId === 'tool')).toMatchObject({ status: 'failed' });
  });
});

describe('secrets of a detached step', () => {
  it.each([
    ['without a terminal', false],
    ['in a pseudo-terminal', true],
  ])('%s: the value reaches the program, never a file it leaves behind', async (_name, pty) => {
    const tag = uniqueId(`secret-${String(pty)}`);
    const secret = `s3cr3t-${tag}-'"$x`;
    const path = join(lab.dir, `detached-${tag}.yaml`);
    writeFileSync(
      path,
      `id: detached-${tag}
title: Detached secret
parameters:
  token: { type: secret, env: DETACHED_TOKEN }
targets:
  app: { type: hosts }
steps:
  - id: tool
    title: uses a secret
    kind: ssh
    target: app
    detached: true
    env: { TOKEN: '{{ params.token }}' }
    command: printf '%s' "$TOKEN" > {{ host.vars.workdir }}/token-${tag}
${pty ? "    pty: { answers: [{ prompt: 'never asked', answer: 'y' }] }\n" : ''}`,
    );
    const r = await runCli(['exec', path, '-i', oneHost, '--yes', '--state-dir', stateDir(), '--run-id', tag], {
      env: { ...env(), DETACHED_TOKEN: secret },
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(join(lab.ssh.host('app1').stateDir, `token-${tag}`), 'utf8')).toBe(secret);
    const dir = readJournal(stateDir(), tag).find((x) => x.type === 'detached-started')!.dir as string;
    // (not the FIFO: reading it would wait for a writer)
    for (const f of readdirSync(dir).filter((x) => x !== 'in')) expect(readFileSync(join(dir, f), 'utf8')).not.toContain('s3cr3t');
    expect(readdirSync(dir).sort()).toEqual((pty ? ['in', 'log', 'pid', 'run.sh', 'status'] : ['log', 'pid', 'run.sh', 'status']).sort());
    expect(readFileSync(journalFile(tag), 'utf8')).not.toContain('s3cr3t');
  });
});

describe('on a terminal', () => {
  it('a detached program waiting on a prompt no rule answers: the operator is asked and the answer reaches it', async () => {
    const tag = uniqueId('ask');
    const rb = runbook(
      tag,
      toolStep(
        tag,
        1,
        0,
        `    pty:\n      unexpectedPromptAfter: 1s\n      answers:\n        - { prompt: 'never asked', answer: 'n' }`,
      ).replace(`tool-${tag}.log`, `tool-${tag}.log ask`),
    );
    session = TerminalSession.start(['exec', rb, '-i', oneHost, '--yes', '--state-dir', stateDir(), '--run-id', tag], env());
    await session.waitFor(/no rule of the runbook answers\. Answer to send/);
    session.type('y');
    session.send('Enter');
    expect(await session.exitCode()).toBe(0);
    expect(finishedOn('app1', tag)).toEqual(['finished 0']);
    expect(readJournal(stateDir(), tag).find((x) => x.type === 'instance-finished' && x.stepId === 'tool')).toMatchObject({
      answers: [{ prompt: 'Do you wish to upgrade the product now? [Y/N]', answer: 'y (typed by the operator)' }],
    });
  });

  it('Ctrl-C twice on an attached step stops the remote process group at once and says so', async () => {
    const tag = uniqueId('ctrlc-attached');
    const out = join(lab.ssh.host('app1').stateDir, `group-${tag}.log`);
    const rb = runbook(
      tag,
      `  - { id: tool, title: nested, kind: ssh, target: app, env: { OUT: '{{ host.vars.workdir }}/group-${tag}.log' }, command: 'echo started; sh -c "sleep 6; echo survived >> \\$OUT"' }`,
    );
    session = TerminalSession.start(['exec', rb, '-i', oneHost, '--yes', '--state-dir', stateDir(), '--run-id', tag], env());
    await session.waitFor(/app1 │ started/);
    session.send('C-c');
    await session.waitFor(/no new step will start/);
    session.send('C-c');
    expect(await session.exitCode()).toBe(130);
    await new Promise((res) => setTimeout(res, 7000));
    expect(existsSync(out)).toBe(false);
    expect(readFileSync(journalFile(tag), 'utf8')).toContain('stopped the remote command on app1 (process group');
  });
});

describe('a detached local step', () => {
  it('runs apart from runbook on the operator machine too, and resume re-attaches after a kill -9', async () => {
    const tag = uniqueId('local');
    const home = join(lab.dir, `home-${tag}`);
    const rb = runbook(
      tag,
      `  - { id: tool, title: local tool, kind: local, detached: true, command: '${TOOL} 3 0 ${join(lab.dir, `local-${tag}.log`)}' }`,
    );
    const killed = await runCli(['exec', rb, '-i', oneHost, '--yes', '--state-dir', stateDir(), '--run-id', tag], {
      env: { ...env(), HOME: home },
      kill: killAt(journalFile(tag), { event: 'detached-started', stepId: 'tool', delayMs: 300 }),
    });
    expect(killed.signal).toBe('SIGKILL');
    await until('the local tool finished', () => existsSync(join(lab.dir, `local-${tag}.log`)));
    const resumed = await runCli(['resume', tag, '--yes', '--state-dir', stateDir()], { env: { ...env(), HOME: home } });
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('slow-tool: finished with code 0');
    expect(readJournal(stateDir(), tag).find((x) => x.type === 'detached-started')).toMatchObject({
      target: null,
      dir: expect.stringContaining(`${home}/.runbook/detached/${tag}/tool-local-`),
    });
  });
});

describe('what the target needs', () => {
  it('a missing tool (here setsid) is named and nothing is started', async () => {
    const tag = uniqueId('missing');
    // The operator machine as a target without util-linux: a PATH with only node and sh.
    const bin = join(lab.dir, `bin-${tag}`);
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const rb = runbook(
      tag,
      `  - { id: tool, title: local tool, kind: local, detached: true, command: 'echo ran > ${join(lab.dir, `ran-${tag}`)}' }`,
    );
    const r = await runCli(['exec', rb, '-i', oneHost, '--yes', '--state-dir', stateDir(), '--run-id', tag], {
      env: { ...env(), PATH: bin, HOME: join(lab.dir, `home-${tag}`) },
    });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain('this machine has no `setsid`, which a detached step needs');
    expect(existsSync(join(lab.dir, `ran-${tag}`))).toBe(false);
  });
});

describe('progress is not a prompt', () => {
  const dots = (tag: string, detached: boolean) =>
    runbook(
      tag,
      `  - id: tool
    title: dots for longer than the prompt timeout
    kind: ssh
    target: app
    ${detached ? 'detached: true' : 'readOnly: false'}
    command: ${TOOL} 4 0 {{ host.vars.workdir }}/tool-${tag}.log
    pty:
      unexpectedPromptAfter: 1s
      answers:
        - { prompt: 'never asked', answer: 'y' }`,
    );
  it.each([
    ['attached', false],
    ['detached', true],
  ])('%s: a line of dots without a newline for longer than unexpectedPromptAfter completes', async (_name, detached) => {
    const tag = uniqueId(`dots-${String(detached)}`);
    const r = await exec(dots(tag, detached), tag);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toContain('unexpected prompt');
    expect(finishedOn('app1', tag)).toEqual(['finished 0']);
  });

  it('detached, without a terminal: a real unexpected prompt stops the waiting, never the tool', async () => {
    const tag = uniqueId('prompt');
    const rb = runbook(
      tag,
      toolStep(
        tag,
        1,
        0,
        `    pty:\n      unexpectedPromptAfter: 1s\n      answers:\n        - { prompt: 'never asked', answer: 'y' }`,
      ).replace(`tool-${tag}.log`, `tool-${tag}.log ask`),
    );
    const r = await exec(rb, tag);
    expect(r.code, r.stdout + r.stderr).toBe(11);
    expect(r.stdout).toContain('the program waits on a prompt no rule answers ("Do you wish to upgrade the product now? [Y/N]")');
    const left = readJournal(stateDir(), tag).find((x) => x.type === 'detached-left');
    expect(left).toMatchObject({ reason: 'prompt', prompt: 'Do you wish to upgrade the product now? [Y/N]' });
    // Still there, still waiting: the operator can answer it on a terminal with runbook attach.
    const pid = readJournal(stateDir(), tag).find((x) => x.type === 'detached-started')!.pid as number;
    expect(lab.ssh.processes('app1').some((p) => p.pid === pid)).toBe(true);
    expect((await attach(tag, ['--kill', '--confirm-kill', 'app1'])).code).toBe(1);
  });
});

describe('an attached step stopped by the runbook', () => {
  it('a timeout stops the whole remote process group, not only its shell', async () => {
    const tag = uniqueId('group');
    const rb = runbook(
      tag,
      `  - { id: tool, title: nested, kind: ssh, target: app, timeout: 1s, env: { OUT: '{{ host.vars.workdir }}/group-${tag}.log' }, command: 'sh -c "sleep 4; echo survived >> \\$OUT"' }`,
    );
    const r = await exec(rb, tag);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain('timed out after 1s');
    await new Promise((res) => setTimeout(res, 5000));
    expect(existsSync(join(lab.ssh.host('app1').stateDir, `group-${tag}.log`))).toBe(false);
  });
});
