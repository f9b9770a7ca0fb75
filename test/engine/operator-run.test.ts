/**
 * Operator conventions of a run, on the example lab's real sshd hosts: --limit (dry-run, run,
 * journal and report), identical per-host commands shown once, values bound at run time shown in
 * the report (secrets masked), and the fan-out counter of the terminal view.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Chalk } from 'chalk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/engine/events.js';
import { createTerminalRenderer } from '../../src/ui/terminal-renderer.js';
import { waitFor } from '../harness/util.js';
import { runCli } from '../cli/run-cli.js';
import { startExampleLab, type ExampleLab } from './example-lab.js';

let lab: ExampleLab;
let rb: string;
const SECRET = 'tok-never-shown-41';

beforeAll(async () => {
  lab = await startExampleLab();
  rb = join(lab.dir, 'operator-run.yaml');
  writeFileSync(
    rb,
    `id: operator-run
title: Operator run
version: 1.0.0
parameters:
  token: { type: secret, env: OP_TOKEN }
targets:
  app: { type: hosts }
steps:
  - { id: pick, title: Pick a colour, kind: prompt, question: Which colour?, choices: [blue, green] }
  - id: paint
    title: Paint every host
    kind: ssh
    target: app
    command: 'echo {{ steps.pick.value }} {{ params.token }} > "$LAB_STATE/painted"'
  - { id: look, title: Look at one host, kind: ssh, target: app, command: 'cat {{ host.vars.workdir }}/painted' }
`,
  );
});

afterAll(async () => {
  await lab?.stop();
});

const env = () => ({ EXAMPLE_DB_PASSWORD: lab.dbPassword, OP_TOKEN: SECRET });
const painted = (host: string) => existsSync(join(lab.ssh.host(host).stateDir, 'painted'));

describe('--limit, collapsed commands and run-time values', () => {
  it('the dry-run shows the limit and each identical command once with all its hosts', async () => {
    const all = await runCli(['plan', rb, '-i', lab.inventoryPath], { env: env() });
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(
      /on app1, app2 \(runbook-lab@127\.0\.40\.1:\d+, runbook-lab@127\.0\.40\.2:\d+\):\n\s+\$ echo <steps\.pick\.value> \*\*\* > /,
    );
    const limited = await runCli(['plan', rb, '-i', lab.inventoryPath, '--limit', 'app2'], { env: env() });
    expect(limited.code).toBe(0);
    expect(limited.stdout).toContain('Limited to: app2 (--limit app2)');
    expect(limited.stdout).not.toContain('on app1');
    const bad = await runCli(['plan', rb, '-i', lab.inventoryPath, '--limit', 'app9'], { env: env() });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('--limit app9: not a host or a role of hosts of the inventory (hosts: app1, app2)');
    const reviewed = await runCli(['exec', rb, '--plan', join(lab.dir, 'plan.json'), '--limit', 'app1'], { env: env() });
    expect(reviewed.code).toBe(2);
    expect(reviewed.stderr).toContain('--limit with --plan: a reviewed plan runs on the hosts it was made for');
  });

  it('runs on the limited hosts only, and the report records the limit, the bound value and collapsed commands', async () => {
    const state = join(lab.dir, 'state-limit');
    const run = await runCli(
      [
        'exec',
        rb,
        '-i',
        lab.inventoryPath,
        '--yes',
        '--answer',
        'pick=blue',
        '--limit',
        'app2',
        '--state-dir',
        state,
        '--run-id',
        'limited',
      ],
      { env: env() },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(painted('app2')).toBe(true);
    expect(painted('app1')).toBe(false);
    const md = await runCli(['report', 'limited', '--format', 'md', '--state-dir', state], { env: env() });
    expect(md.stdout).toContain('| Limited to | app2 (--limit app2) |');
    expect(md.stdout).toMatch(/# on app2\n\$ echo blue \*\*\* > /);
    expect(md.stdout).not.toContain('<steps.pick.value>');
    expect(md.stdout).not.toContain(SECRET);

    const all = join(lab.dir, 'state-all');
    expect(
      (
        await runCli(['exec', rb, '-i', lab.inventoryPath, '--yes', '--answer', 'pick=green', '--state-dir', all, '--run-id', 'all'], {
          env: env(),
        })
      ).code,
    ).toBe(0);
    const report = await runCli(['report', 'all', '--format', 'md', '--state-dir', all], { env: env() });
    // The same command on both hosts is written once; commands that differ per host stay apart.
    expect(report.stdout).toMatch(/# on app1, app2\n\$ echo green \*\*\* > /);
    expect(report.stdout).toMatch(/# on app1\n\$ cat .*\n# on app2\n\$ cat /);
    // The JSON report collapses them the same way (docs/report.md).
    const json = await runCli(['report', 'all', '--format', 'json', '--state-dir', all], { env: env() });
    const steps = (JSON.parse(json.stdout) as { reportVersion: number; steps: Array<{ id: string; commands: unknown }> }).steps;
    const commandsOf = (id: string) => steps.find((s) => s.id === id)?.commands;
    expect(commandsOf('paint')).toEqual([{ targets: ['app1', 'app2'], lines: [expect.stringMatching(/^\$ echo green \*\*\* > /)] }]);
    expect(commandsOf('look')).toEqual([
      { targets: ['app1'], lines: [expect.stringMatching(/^\$ cat /)] },
      { targets: ['app2'], lines: [expect.stringMatching(/^\$ cat /)] },
    ]);
  });
});

describe('fan-out progress counter', () => {
  const c = new Chalk({ level: 0 });
  const at = (e: Record<string, unknown>) => ({ time: '2026-01-01T00:00:00Z', ...e }) as RunEvent;
  const started = at({
    type: 'step-started',
    stepId: 's',
    title: 'S',
    kind: 'ssh',
    phase: 'main',
    attempt: 1,
    targets: ['h1', 'h2', 'h3'],
    commands: [],
  });
  const finished = (target: string, status: string) =>
    at({ type: 'instance-finished', stepId: 's', target, status, message: status === 'failed' ? 'exit 1' : 'ok', durationMs: 5 });

  it('counts done, failed and running targets on each finished host line', () => {
    let out = '';
    const render = createTerminalRenderer((t) => (out += t), c);
    render(started);
    for (const t of ['h1', 'h2', 'h3']) render(at({ type: 'instance-started', stepId: 's', target: t }));
    render(finished('h2', 'succeeded'));
    render(finished('h1', 'failed'));
    render(finished('h3', 'succeeded'));
    expect(out).toContain('✔ h2 5ms  [1/3 done, 0 failed, 2 running]');
    expect(out).toContain('✘ h1 5ms — exit 1  [1/3 done, 1 failed, 1 running]');
    expect(out).toContain('✔ h3 5ms  [2/3 done, 1 failed, 0 running]');
  });

  it('shows the counter in the live status line while hosts run', async () => {
    let out = '';
    const render = createTerminalRenderer((t) => (out += t), c, { live: true });
    render(started);
    render(at({ type: 'instance-started', stepId: 's', target: 'h1' }));
    render(at({ type: 'instance-started', stepId: 's', target: 'h2' }));
    render(finished('h1', 'succeeded'));
    // The status line is redrawn on a timer: wait for the text (the bound only guards).
    await waitFor('the status line with the counter', () => /s: 1\/3 done, 0 failed, 1 running/.test(out), { timeoutMs: 10_000 });
    render.pause();
  });
});
