/**
 * The execution engine against real servers: exit codes, timeouts, lost connections, host keys,
 * SQL errors and rollbacks, verifications, hostile values, fan-out, interactive programs.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exampleEnv, useExampleLab } from './example-lab.js';
import { runbookWriter } from '../runbook/builders.js';
import { runCli, startCli } from '../cli/run-cli.js';
import { waitFor } from '../harness/util.js';

const lab = useExampleLab(async (started) => {
  await started.pg.query('app', 'create table audit(id serial primary key, note text not null)');
  await started.pg.query('app', 'alter table audit owner to app_owner');
});

/** Writes a runbook with the example's targets and the given parameters and steps (YAML). */
const runbook = runbookWriter(() => lab.dir, 'engine-test', {
  parameters: {
    value: '{ type: string, default: plain }',
    db_admin_password: '{ type: secret, env: EXAMPLE_DB_PASSWORD }',
    release: "{ type: string, default: '1.0.0' }",
  },
  targets: { app: 'hosts', appdb: 'database', api: 'http' },
});

const env = () => exampleEnv(lab);
const exec = (rb: string, args: string[] = [], inventory = lab.inventoryPath) =>
  runCli(['exec', rb, '-i', inventory, '--yes', '--state-dir', join(lab.dir, 'state'), ...args], { env: env() });
const workdir = (host: string) => lab.ssh.host(host).stateDir;

/** Drops a host's SSH connections under the client: kills its per-connection sshd processes, not the listener. */
function killSshSessions(host: string): void {
  for (const p of lab.ssh.processes(host))
    if (/^sshd(-session)?: /.test(p.args) && !/listener|sshd_config/.test(p.args)) process.kill(p.pid, 'SIGKILL');
}

describe('commands over SSH', () => {
  it('fails the step with the exit code and stderr of the remote command, exit 1', async () => {
    const rb = runbook(`  - { id: fail, title: fails, kind: ssh, target: app, command: 'echo boom >&2; exit 3' }
  - { id: never, title: never runs, kind: local, command: 'true' }`);
    const r = await exec(rb);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('exit code 3, expected 0 (stderr: boom)');
    expect(r.stdout).not.toMatch(/never succeeded/);
  });

  it('accepts the exit codes a step declares', async () => {
    const rb = runbook(
      `  - { id: grep, title: grep finds nothing, kind: ssh, target: app, readOnly: true, command: 'grep -q nothing /etc/hostname', expect: { exitCode: [0, 1] } }`,
    );
    expect((await exec(rb)).code).toBe(0);
  });

  it('times out a command that runs too long', async () => {
    const rb = runbook(`  - { id: slow, title: slow, kind: ssh, target: app, timeout: 1s, command: 'sleep 30' }`);
    const started = Date.now();
    const r = await exec(rb);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('timed out after 1s');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a connection lost mid-step is an unknown outcome (exit 6); resume runs the step only where no success was recorded', async () => {
    const rb = runbook(
      `  - { id: long, title: long, kind: ssh, target: app, command: 'echo ran >> {{ host.vars.workdir }}/lost.log; [ -e {{ host.vars.workdir }}/go ] || sleep 30' }
  - { id: after, title: after, kind: ssh, target: app, command: 'echo after >> {{ host.vars.workdir }}/lost.log' }`,
    );
    const log = (host: string) => join(workdir(host), 'lost.log');
    writeFileSync(join(workdir('app2'), 'go'), '');
    const runId = `engine-lost`;
    const pending = exec(rb, ['--run-id', runId]);
    // app1 is in its sleep once its log line is there; then its SSH session dies under it.
    await waitFor('app1 to start the step', () => existsSync(log('app1')) && existsSync(log('app2')), { timeoutMs: 60_000 });
    killSshSessions('app1');
    const r = await pending;
    expect(r.code).toBe(6);
    expect(r.stdout).toContain('connection to app1 was lost while the command ran; its outcome is unknown');
    expect(r.stdout).toMatch(/long\s+unknown/);
    expect(r.stderr).toContain('the connection to app1 was lost during step long');
    writeFileSync(join(workdir('app1'), 'go'), '');
    const resumed = await runCli(['resume', runId, '--yes', '--unknown', 'rerun', '--state-dir', join(lab.dir, 'state')], { env: env() });
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('not run again on app2');
    expect(readFileSync(log('app1'), 'utf8')).toBe('ran\nran\nafter\n');
    expect(readFileSync(log('app2'), 'utf8')).toBe('ran\nafter\n');
  });

  it('resume runs a failed fan-out step again only on the hosts where it failed', async () => {
    const rb = runbook(
      `  - { id: s, title: s, kind: ssh, target: app, command: 'echo ran >> {{ host.vars.workdir }}/failed.log; [ -e {{ host.vars.workdir }}/fixed ]' }`,
    );
    writeFileSync(join(workdir('app2'), 'fixed'), '');
    const runId = `engine-failed`;
    const failed = await exec(rb, ['--run-id', runId]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('✘ s failed in ');
    expect(failed.stdout).toContain(' — app1: exit code 1, expected 0 (1 of 2 failed)\n');
    expect(failed.stdout).toContain('■ run failed: step s failed\n');
    writeFileSync(join(workdir('app1'), 'fixed'), '');
    const resumed = await runCli(['resume', runId, '--yes', '--state-dir', join(lab.dir, 'state')], { env: env() });
    expect(resumed.code).toBe(0);
    expect(readFileSync(join(workdir('app1'), 'failed.log'), 'utf8')).toBe('ran\nran\n');
    expect(readFileSync(join(workdir('app2'), 'failed.log'), 'utf8')).toBe('ran\n');
  });

  it('an SSH handshake that hangs ends with exit 6 and a clear message after the connect timeout, no crash', async () => {
    const sshd = lab.ssh.processes('app1').find((p) => /listener|sshd_config/.test(p.args));
    expect(sshd).toBeDefined();
    // A stopped sshd still accepts TCP connections (the kernel does), but never speaks.
    process.kill(sshd!.pid, 'SIGSTOP');
    try {
      const fast = join(lab.dir, `hang-inventory.yaml`);
      writeFileSync(fast, readFileSync(lab.inventoryPath, 'utf8').replace('connectTimeout: 10s', 'connectTimeout: 2s'));
      const rb = runbook(`  - { id: x, title: x, kind: ssh, target: app, readOnly: true, command: 'true' }`);
      const r = await exec(rb, [], fast);
      expect(r.stderr).not.toContain('internal error');
      expect(r.stderr).not.toContain('Unhandled');
      expect(r.stdout).toContain('cannot connect to app1');
      expect(r.stdout).toContain('Timed out while waiting for handshake');
      expect(r.code).toBe(6);
    } finally {
      process.kill(sshd!.pid, 'SIGCONT');
    }
  });

  it('a precondition that cannot reach its host ends the run with exit 6', async () => {
    const rb = runbook(
      `  - { id: x, title: x, kind: ssh, target: app, command: 'true' }`,
      `preconditions:
  - { title: reachable, kind: ssh, target: app, command: 'true' }`,
    );
    await lab.ssh.stopHost('app1');
    try {
      const r = await exec(rb);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain('no connection to app1');
    } finally {
      await lab.ssh.startHost('app1');
    }
  });

  it('delivers hostile values to the remote program byte for byte', async () => {
    const hostile = `it's "quoted" $(touch /tmp/runbook-pwned) \`id\` ; rm -rf / && * ~ \n Grüße 日本 🚀 -x`;
    const rb = runbook(`  - id: write
    title: write the value
    kind: ssh
    target: app
    env: { HOSTILE: '{{ params.value }}' }
    command: printf '%s' {{ params.value }} > {{ host.vars.workdir }}/value.txt && printf '%s' "$HOSTILE" > {{ host.vars.workdir }}/env.txt`);
    const r = await exec(rb, ['-p', `value=${hostile}`]);
    expect(r.code).toBe(0);
    for (const host of ['app1', 'app2']) {
      expect(readFileSync(join(workdir(host), 'value.txt'), 'utf8')).toBe(hostile);
      expect(readFileSync(join(workdir(host), 'env.txt'), 'utf8')).toBe(hostile);
    }
    expect(() => readFileSync('/tmp/runbook-pwned')).toThrow();
  });

  it('answers an interactive program over a pseudo-terminal and fails on an unexpected prompt', async () => {
    for (const host of ['app1', 'app2']) {
      const script = join(workdir(host), 'ask.sh');
      writeFileSync(
        script,
        '#!/bin/sh\nprintf "Do you wish to upgrade the product now? [Y/N] "\nread a\nprintf "Backed up? [y/n] "\nread b\necho "answers: $a $b"\n',
      );
      chmodSync(script, 0o755);
    }
    const answered = runbook(`  - id: ask
    title: interactive
    kind: ssh
    target: app
    command: sh {{ host.vars.workdir }}/ask.sh
    pty:
      answers:
        - { prompt: 'upgrade the product now\\? \\[Y/N\\]', answer: 'y' }
        - { prompt: 'Backed up\\? \\[y/n\\]', answer: 'y' }
    expect: { stdout: { contains: 'answers: y y' } }`);
    const ok = await exec(answered);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/app1 │ answers: y y/);
    expect(ok.stdout).toMatch(/app2 │ answers: y y/);
    const unexpected = runbook(`  - id: ask
    title: interactive
    kind: ssh
    target: app
    command: sh {{ host.vars.workdir }}/ask.sh
    pty:
      unexpectedPromptAfter: 1s
      answers:
        - { prompt: 'upgrade the product now\\? \\[Y/N\\]', answer: 'y' }`);
    const r = await exec(unexpected);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('unexpected prompt, no answer configured: "Backed up? [y/n]"');
  });
});

describe('SQL', () => {
  it('binds values, rolls back a failed transaction and runs the named rollback steps', async () => {
    const rb = runbook(
      `  - id: tx
    title: two statements, the second fails
    kind: sql
    target: appdb
    sql:
      - insert into audit(note) values ({{ params.value }})
      - insert into audit(note) values (null)
    onFailure: { rollback: [note-rollback] }`,
      `rollback:
  - { id: note-rollback, title: record the rollback, kind: sql, target: appdb, sql: "insert into audit(note) values ('rolled back')" }`,
    );
    const hostile = "x'); drop table audit; --";
    const r = await exec(rb, ['-p', `value=${hostile}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/null value in column "note".*\[SQLSTATE 23502\] \(transaction rolled back\)/);
    expect(r.stdout).toContain('rolling back after tx: note-rollback');
    const rows = await lab.pg.query('app', 'select note from audit order by id');
    expect(rows.map((x) => x.note)).toEqual(['rolled back']);
  });

  it('stores hostile values exactly through bind parameters', async () => {
    const hostile = "Robert'); DROP TABLE audit; -- $1 \\ 日本";
    const rb = runbook(
      `  - { id: ins, title: insert, kind: sql, target: appdb, sql: 'insert into audit(note) values ({{ params.value }})' }`,
    );
    expect((await exec(rb, ['-p', `value=${hostile}`])).code).toBe(0);
    const rows = await lab.pg.query('app', 'select note from audit where note = $1', [hostile]);
    expect(rows).toHaveLength(1);
  });

  it('fails a step whose verification fails', async () => {
    const rb = runbook(`  - id: ins
    title: insert
    kind: sql
    target: appdb
    sql: "insert into audit(note) values ('checked')"
    verify: { kind: sql, sql: "select count(*)::int as n from audit where note = 'never'", expect: { firstRow: { n: 1 } } }`);
    const r = await exec(rb);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('verification failed: column n is 0, expected 1');
  });
});

describe('preconditions and checks', () => {
  it('reports every failing precondition together and changes nothing (exit 4)', async () => {
    const rb = runbook(
      `  - { id: change, title: change, kind: ssh, target: app, command: 'touch {{ host.vars.workdir }}/changed' }`,
      `preconditions:
  - { title: first fails, kind: ssh, target: app, command: 'false' }
  - { title: second fails, kind: sql, target: appdb, sql: 'select 1 where false', expect: { rows: 1 } }
  - { title: passes, kind: local, command: 'true' }`,
    );
    const r = await exec(rb);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/✘ first fails \[app1\]/);
    expect(r.stdout).toMatch(/✘ second fails \[appdb\] — 0 row\(s\) returned, expected 1/);
    expect(r.stderr).toContain('2 of 3 precondition(s) failed');
    expect(() => readFileSync(join(workdir('app1'), 'changed'))).toThrow();
    const check = await runCli(['check', rb, '-i', lab.inventoryPath], { env: env() });
    expect(check.code).toBe(4);
  });
});

describe('host keys', () => {
  it('always stops on a changed host key', async () => {
    const changed = join(lab.dir, 'changed_known_hosts');
    const lines = readFileSync(lab.ssh.knownHostsPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.replace(/ssh-ed25519 \S+/, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'));
    writeFileSync(changed, lines.join('\n') + '\n');
    const rb = runbook(`  - { id: x, title: x, kind: ssh, target: app, command: 'true' }`);
    const r = await exec(rb, ['--accept-new-host-keys'], lab.writeInventory({ knownHosts: changed }));
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('has CHANGED');
    expect(r.stderr).toContain('ssh-keygen -R');
  });

  it('records a new host key with --accept-new-host-keys', async () => {
    const fresh = join(lab.dir, 'fresh_known_hosts');
    writeFileSync(fresh, '');
    const rb = runbook(`  - { id: x, title: x, kind: ssh, target: app, readOnly: true, command: 'true' }`);
    const r = await exec(rb, ['--accept-new-host-keys'], lab.writeInventory({ knownHosts: fresh }));
    expect(r.code).toBe(0);
    expect(readFileSync(fresh, 'utf8').trim().split('\n')).toHaveLength(2);
  });
});

describe('fan-out', () => {
  it('stops starting hosts after the first failure in serial mode and tolerates maxFailures', async () => {
    const serial = runbook(
      `  - { id: s, title: serial, kind: ssh, target: app, fanOut: { mode: serial }, command: 'echo ran >> {{ host.vars.workdir }}/serial.log; [ {{ host.name }} = app2 ]' }`,
    );
    const r = await exec(serial);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('1 not started');
    expect(() => readFileSync(join(workdir('app2'), 'serial.log'))).toThrow();
    const tolerant = runbook(
      `  - { id: t, title: tolerant, kind: ssh, target: app, fanOut: { mode: parallel, maxFailures: 1 }, command: '[ {{ host.name }} = app2 ]' }`,
    );
    expect((await exec(tolerant)).code).toBe(0);
  });
});

describe('Ctrl-C during a serial fan-out', () => {
  it('lets the running host finish, records the others as interrupted (130, no rollback), and resume runs only them', async () => {
    const rb = runbook(
      `  - { id: s, title: serial, kind: ssh, target: app, fanOut: { mode: serial }, onFailure: { rollback: [undo] }, command: 'echo start >> {{ host.vars.workdir }}/ctrlc.log; sleep 1; echo end >> {{ host.vars.workdir }}/ctrlc.log' }`,
      `rollback:
  - { id: undo, title: undo, kind: ssh, target: app, command: 'echo undo >> {{ host.vars.workdir }}/ctrlc.log' }`,
    );
    const log = (host: string) => join(workdir(host), 'ctrlc.log');
    const runId = `engine-ctrlc`;
    const state = join(lab.dir, 'state');
    const running = startCli(['exec', rb, '-i', lab.inventoryPath, '--yes', '--state-dir', state, '--run-id', runId], { env: env() });
    await waitFor('app1 to start', () => existsSync(log('app1')), { timeoutMs: 60_000 });
    running.child.kill('SIGINT');
    const { code, stdout } = await running.result;
    expect(code).toBe(130);
    expect(stdout).toMatch(/s\s+interrupted/);
    expect(stdout).not.toContain('rolling back');
    expect(readFileSync(log('app1'), 'utf8')).toBe('start\nend\n');
    expect(existsSync(log('app2'))).toBe(false);
    const events = readFileSync(join(state, 'runs', runId, 'events.jsonl'), 'utf8');
    expect(events).not.toContain('rollback-started');
    expect(events).toContain('"status":"interrupted"');
    const resumed = await runCli(['resume', runId, '--yes', '--state-dir', state], { env: env() });
    expect(resumed.code).toBe(0);
    expect(readFileSync(log('app1'), 'utf8')).toBe('start\nend\n');
    expect(readFileSync(log('app2'), 'utf8')).toBe('start\nend\n');
  });
});

describe('output', () => {
  it('--json prints one event per line, secrets masked', async () => {
    const rb = runbook(
      `  - { id: echo, title: echo secret, kind: ssh, target: app, readOnly: true, env: { P: '{{ params.db_admin_password }}' }, command: 'echo "pw=$P"' }`,
    );
    const r = await runCli(['--json', 'exec', rb, '-i', lab.inventoryPath, '--yes', '--state-dir', join(lab.dir, 'state')], { env: env() });
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; text?: string });
    expect(events[0]?.type).toBe('run-started');
    expect(events.some((e) => e.type === 'output' && e.text?.includes('pw=***'))).toBe(true);
    expect(r.stdout).not.toContain(lab.dbPassword);
  });
});

describe('retries, batches and statement timeouts', () => {
  it('retries a retryable step until it passes', async () => {
    const rb = runbook(`  - id: flaky
    title: passes on the third attempt
    kind: ssh
    target: app
    retries: { count: 3, delay: 100ms }
    command: 'f={{ host.vars.workdir }}/attempts; echo x >> $f; [ $(wc -l < $f) -ge 3 ]'`);
    const r = await exec(rb);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(attempt 3)');
    expect(
      readFileSync(join(workdir('app1'), 'attempts'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(3);
  });

  it('runs batches one after the other', async () => {
    const rb = runbook(
      `  - { id: b, title: batches, kind: ssh, target: app, fanOut: { mode: batches, batchSize: 1 }, command: 'date +%s%N > {{ host.vars.workdir }}/batch; sleep 0.3' }`,
    );
    expect((await exec(rb)).code).toBe(0);
    const t1 = Number(readFileSync(join(workdir('app1'), 'batch'), 'utf8'));
    const t2 = Number(readFileSync(join(workdir('app2'), 'batch'), 'utf8'));
    expect(Math.abs(t2 - t1) / 1e6).toBeGreaterThanOrEqual(250);
  });

  it('cancels a SQL statement at the step timeout', async () => {
    const rb = runbook(
      `  - { id: slow, title: slow query, kind: sql, target: appdb, readOnly: true, timeout: 1s, sql: 'select pg_sleep(10)' }`,
    );
    const started = Date.now();
    const r = await exec(rb);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('canceling statement due to statement timeout');
    expect(Date.now() - started).toBeLessThan(8000);
  });
});

describe('OpenSSH client configuration', () => {
  it('reaches a host by its ~/.ssh/config alias, and another through ProxyJump', async () => {
    const app1 = lab.ssh.host('app1');
    const app2 = lab.ssh.host('app2');
    const config = join(lab.dir, 'ssh_config');
    writeFileSync(
      config,
      `Host db-gateway\n  HostName ${app1.address}\n  Port ${app1.port}\n  User ${lab.ssh.user}\n  IdentityFile ${lab.ssh.clientKeyPath}\n\nHost inner\n  HostName ${app2.address}\n  Port ${app2.port}\n  User ${lab.ssh.user}\n  IdentityFile ${lab.ssh.clientKeyPath}\n  ProxyJump db-gateway\n`,
    );
    const inventory = join(lab.dir, 'alias-inventory.yaml');
    writeFileSync(
      inventory,
      `ssh: { configFile: ${config}, knownHostsFile: ${lab.ssh.knownHostsPath} }\nhosts:\n  db-gateway: {}\n  inner: {}\ndatabases:\n  appdb: { host: ${lab.pg.host}, port: ${lab.pg.port}, database: app, user: app_owner, password: { env: EXAMPLE_DB_PASSWORD } }\nendpoints:\n  api: { url: 'http://127.0.0.1:${lab.httpPort}' }\nroles:\n  app: [db-gateway, inner]\n  appdb: appdb\n  api: api\n`,
    );
    const rb = runbook(
      `  - { id: who, title: who, kind: ssh, target: app, readOnly: true, command: 'echo "$LAB_HOST via $SSH_CONNECTION"' }`,
    );
    const r = await exec(rb, [], inventory);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/db-gateway │ app1 via .* 127\.0\.40\.1 \d+/);
    expect(r.stdout).toMatch(/inner │ app2 via .* 127\.0\.40\.2 \d+/);
    // Without the gateway the inner host cannot be reached: the jump is really used.
    await lab.ssh.stopHost('app1');
    try {
      const down = await exec(rb, [], inventory);
      // A connection failure ends the run with exit 6, as the exit-code table says.
      expect(down.code).toBe(6);
      expect(down.stdout).toMatch(/✘ inner .* cannot connect to db-gateway/);
    } finally {
      await lab.ssh.startHost('app1');
    }
  });
});

describe('reviewed plans', () => {
  it('executes a plan written by `runbook plan -o`, and refuses it once the inventory changed', async () => {
    const rb = runbook(
      `  - { id: mark, title: mark, kind: ssh, target: app, command: 'echo {{ params.value }} > {{ host.vars.workdir }}/reviewed' }`,
    );
    const inventory = lab.writeInventory();
    const planFile = join(lab.dir, 'reviewed-plan.json');
    const planned = await runCli(['plan', rb, '-i', inventory, '-p', 'value=as-reviewed', '-o', planFile], { env: env() });
    expect(planned.code).toBe(0);
    const r = await runCli(['exec', rb, '--plan', planFile, '-i', inventory, '--yes', '--state-dir', join(lab.dir, 'state')], {
      env: env(),
    });
    expect(r.code).toBe(0);
    expect(readFileSync(join(workdir('app1'), 'reviewed'), 'utf8')).toBe('as-reviewed\n');
    writeFileSync(inventory, readFileSync(inventory, 'utf8') + '# edited after review\n');
    const refused = await runCli(['exec', rb, '--plan', planFile, '-i', inventory, '--yes'], { env: env() });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('changed since the plan');
  });
});
