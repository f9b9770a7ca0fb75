/** Confirmations, typed confirmations, manual steps and Ctrl-C answered in a real terminal (tmux). */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exampleEnv, useExampleLab } from './example-lab.js';
import { runbookWriter } from '../runbook/builders.js';
import { runCli } from '../cli/run-cli.js';
import { TerminalSession } from './tmux.js';

const lab = useExampleLab();
let session: TerminalSession | undefined;
afterEach(() => session?.kill());

const runbook = runbookWriter(() => lab.dir, 'terminal', { targets: { app: 'hosts', appdb: 'database', api: 'http' } });

const marker = (name: string) => join(lab.ssh.host('app1').stateDir, name);
const start = (rb: string, ...args: string[]) =>
  (session = TerminalSession.start(['exec', rb, '-i', lab.inventoryPath, '--state-dir', join(lab.dir, 'state'), ...args], exampleEnv(lab)));

describe('in a terminal', () => {
  it('asks before a changing step; "No" (the default) aborts with exit 5 and runs nothing', async () => {
    const rb = runbook(`  - { id: touch, title: touch a file, kind: ssh, target: app, command: 'touch {{ host.vars.workdir }}/declined' }`);
    const s = start(rb, '--run-id', 'refused-touch');
    await s.waitFor(/Run step touch: touch a file\? \(on role app: 2 hosts \(app1, app2\)\) \(y\/N\)/);
    s.send('Enter');
    expect(await s.exitCode()).toBe(5);
    const report = await runCli(['report', 'refused-touch', '--format', 'json', '--state-dir', join(lab.dir, 'state')]);
    const touch = (JSON.parse(report.stdout) as { steps: Array<{ id: string; outcome: string; message: string }> }).steps[0];
    expect([touch?.id, touch?.outcome, touch?.message]).toEqual(['touch', 'refused', 'refused by the operator: not run']);
    expect(s.screen()).toContain('declined step touch');
    // Refused in red words, never under inquirer's green check mark.
    expect(s.screen()).toContain('✘ touch refused by the operator: not run');
    expect(s.screen()).not.toContain('✔');
    expect(existsSync(marker('declined'))).toBe(false);
  });

  it('runs the step when the operator answers y', async () => {
    const rb = runbook(`  - { id: touch, title: touch a file, kind: ssh, target: app, command: 'touch {{ host.vars.workdir }}/accepted' }`);
    const s = start(rb);
    await s.waitFor(/Run step touch: touch a file\? \(on role app: 2 hosts \(app1, app2\)\) \(y\/N\)/);
    s.type('y');
    s.send('Enter');
    expect(await s.exitCode()).toBe(0);
    expect(existsSync(marker('accepted'))).toBe(true);
  });

  it('requires the typed name for a destructive step, even with --yes; a wrong name aborts', async () => {
    const rb = runbook(
      `  - { id: wipe, title: wipe, kind: ssh, target: app, destructive: true, confirm: { typed: '{{ roles.app.name }}' }, command: 'touch {{ host.vars.workdir }}/wiped' }`,
    );
    let s = start(rb, '--yes');
    // The typed text names one host; the prompt says the step acts on both.
    await s.waitFor(/acts on role app: 2 hosts \(app1, app2\)\. Type "app1" to run it/);
    s.type('app2');
    s.send('Enter');
    expect(await s.exitCode()).toBe(5);
    expect(s.screen()).toMatch(/✘ wipe refused by the operator: not run/);
    expect(s.screen()).not.toContain('✔');
    expect(existsSync(marker('wiped'))).toBe(false);
    s.kill();
    s = start(rb, '--yes');
    await s.waitFor(/Type "app1" to run it/);
    s.type('app1');
    s.send('Enter');
    expect(await s.exitCode()).toBe(0);
    expect(existsSync(marker('wiped'))).toBe(true);
  });

  it('shows a manual step, waits for the operator, then runs its check', async () => {
    const flag = marker('manual-done');
    const rb = runbook(`  - id: by-hand
    title: do it by hand
    kind: manual
    instructions: Create manual-done in the work directory of {{ roles.app.addresses }}
    check: { kind: ssh, target: app, command: 'test -f {{ host.vars.workdir }}/manual-done' }`);
    const s = start(rb);
    await s.waitFor(/Done\? \(No aborts the run\)/);
    expect(s.screen()).toContain('Create manual-done in the work directory of 127.0.40.1,127.0.40.2');
    writeFileSync(flag, '');
    s.type('y');
    s.send('Enter');
    // app2 has no such file: the check fails there, the operator is offered retry or abort.
    await s.waitFor(/Retry the check after fixing it, or abort\?/);
    writeFileSync(join(lab.ssh.host('app2').stateDir, 'manual-done'), '');
    s.send('Enter'); // "retry the check" is the first choice
    expect(await s.exitCode()).toBe(0);
    expect(s.screen()).toContain('done; check passed');
  });

  it('Ctrl-C stops new work, gives the running command its grace period, and exits 130', async () => {
    const rb = runbook(`  - { id: slow, title: slow, kind: ssh, target: app, command: 'sleep 2; touch {{ host.vars.workdir }}/slow-done' }
  - { id: after, title: after, kind: ssh, target: app, command: 'touch {{ host.vars.workdir }}/after' }`);
    const s = start(rb, '--yes');
    await s.waitFor(/● slow: slow/);
    s.send('C-c');
    await s.waitFor(/no new step will start/);
    expect(await s.exitCode()).toBe(130);
    expect(existsSync(marker('slow-done'))).toBe(true);
    expect(existsSync(marker('after'))).toBe(false);
  });
});

describe('parameters and secrets on a terminal', () => {
  it('asks for a missing parameter and a missing secret (masked), and never shows the secret', async () => {
    const rb = join(lab.dir, 'params.yaml');
    writeFileSync(
      rb,
      `id: params-prompt
title: Parameters asked on a terminal
parameters:
  ticket: { type: string, pattern: 'CHG[0-9]+', description: change ticket }
  token: { type: secret, env: PARAMS_PROMPT_TOKEN, description: API token }
targets:
  app: { type: hosts }
  appdb: { type: database }
  api: { type: http }
steps:
  - { id: show, title: show, kind: ssh, target: app, readOnly: true, env: { T: '{{ params.token }}' }, command: 'echo ticket {{ params.ticket }} "token=$T"' }
`,
    );
    const s = start(rb);
    await s.waitFor(/ticket \(change ticket\)/);
    s.type('CHG42');
    s.send('Enter');
    await s.waitFor(/API token:/);
    s.type('tok-s3cr3t-value');
    s.send('Enter');
    expect(await s.exitCode()).toBe(0);
    const screen = s.screen();
    expect(screen).toContain('ticket CHG42 token=***');
    expect(screen).not.toContain('tok-s3cr3t-value');
  });
});
