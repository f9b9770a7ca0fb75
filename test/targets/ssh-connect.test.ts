/**
 * How `runbook` opens its SSH connections, seen from the system calls of real runs (strace)
 * against a real sshd: Nagle's algorithm is off from the TCP connect on (not only once the
 * handshake is over); `exec` starts the handshakes once the input is valid, before the journal
 * is created, while dry-run, plan, validate and a bad input connect to nothing; an unknown host
 * key still stops the run before any command; a host that was down when the run started is
 * connected to again when its step comes.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshLab, type SshLab } from '../harness/sshd.js';
import { CLI } from '../cli/run-cli.js';

let lab: SshLab;
let dir: string;
let inventory: string;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-ssh-connect-'));
  chmodSync(dir, 0o755); // the lab user reads the lab's authorized_keys below it
  lab = await startSshLab({ labDir: join(dir, 'lab'), hosts: [{ name: 'app1', address: '127.0.144.1' }] });
  const h = lab.host('app1');
  inventory = join(dir, 'inventory.yaml');
  writeFileSync(
    inventory,
    `name: ssh connect lab
ssh: { knownHostsFile: ${lab.knownHostsPath}, configFile: /dev/null, connectTimeout: 30s }
hosts:
  app1: { address: ${h.address}, port: ${h.port}, user: ${lab.user}, identityFile: ${lab.clientKeyPath} }
roles:
  app: [app1]
`,
  );
});
afterAll(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function runbook(command: string, firstLocalCommand?: string): string {
  const path = join(dir, `rb-${++n}.yaml`);
  const local = firstLocalCommand
    ? `  - id: first
    title: runs here first
    kind: local
    command: ${JSON.stringify(firstLocalCommand)}
`
    : '';
  writeFileSync(
    path,
    `id: ssh-connect-${n}
title: SSH connect ${n}
parameters:
  tag: { type: string, default: mark, pattern: '^[a-z]+$' }
targets:
  app: { type: hosts }
steps:
${local}  - id: touch
    title: leaves a mark on the host
    kind: ssh
    target: app
    command: ${command}
`,
  );
  return path;
}

interface Traced {
  code: number;
  output: string;
  /** The system calls, one per line, in order. */
  calls: string[];
}

/** Runs the CLI under strace (connect, setsockopt, write), all processes. */
async function traced(args: string[]): Promise<Traced> {
  const trace = join(dir, `trace-${++n}`);
  const result = await promisify(execFile)(
    'strace',
    ['-f', '-qq', '-s', '200', '-e', 'trace=connect,setsockopt,write', '-o', trace, process.execPath, CLI, ...args],
    { env: { ...process.env, NO_COLOR: '1', CI: 'true' } },
  ).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, output: e.stdout + e.stderr }),
  );
  return { ...result, calls: readFileSync(trace, 'utf8').split('\n').filter(Boolean) };
}

/** The descriptor of the TCP connection to the lab host, from its connect() call. */
function hostSocket(calls: string[]): string | undefined {
  const h = lab.host('app1');
  const connect = calls.find((c) => c.includes(`sin_port=htons(${h.port})`) && c.includes(`inet_addr("${h.address}")`));
  return connect ? /connect\((\d+),/.exec(connect)?.[1] : undefined;
}

describe('SSH connections', () => {
  it('turn Nagle off (TCP_NODELAY) before the first byte of the handshake', async () => {
    const run = await traced(['exec', runbook("'true'"), '-i', inventory, '--yes', '--state-dir', join(dir, 'state')]);
    expect(run.code, run.output).toBe(0);
    const fd = hostSocket(run.calls);
    expect(fd, 'the run connected to the host').toBeDefined();
    const noDelay = run.calls.findIndex((c) => new RegExp(`setsockopt\\(${fd}, SOL_TCP, TCP_NODELAY, \\[1\\]`).test(c));
    const ident = run.calls.findIndex((c) => new RegExp(`write\\(${fd}, "SSH-2\\.0-`).test(c));
    expect(ident, 'the client sent its identification').toBeGreaterThan(0);
    expect(noDelay, 'TCP_NODELAY was set').toBeGreaterThan(0);
    expect(noDelay).toBeLessThan(ident);
  });

  it('are opened by exec once the input is valid, before the journal is started', async () => {
    const run = await traced(['exec', runbook("'true'"), '-i', inventory, '--yes', '--state-dir', join(dir, 'state')]);
    expect(run.code, run.output).toBe(0);
    const connect = run.calls.findIndex((c) => c.includes(`inet_addr("${lab.host('app1').address}")`));
    const journalStarted = run.calls.findIndex((c) => c.includes('\\"type\\":\\"journal-started\\"'));
    expect(journalStarted, 'the journal was started').toBeGreaterThan(0);
    expect(connect, 'the run connected to the host').toBeGreaterThan(0);
    expect(connect).toBeLessThan(journalStarted);
  });

  it.each([
    ['a dry-run', (rb: string) => ['exec', rb, '-i', inventory, '--dry-run']],
    ['plan', (rb: string) => ['plan', rb, '-i', inventory]],
    ['validate', (rb: string) => ['validate', rb, inventory]],
    ['exec with a bad parameter', (rb: string) => ['exec', rb, '-i', inventory, '--yes', '-p', 'tag=NOT-VALID']],
  ])('are never opened by %s', async (name, args) => {
    const run = await traced(args(runbook("'true'")));
    expect(run.code, run.output).toBe(name.startsWith('exec') ? 3 : 0);
    expect(hostSocket(run.calls), 'no connection to the host').toBeUndefined();
  });

  it('stop at an unknown host key before any command, opened ahead or not', async () => {
    const strangers = join(dir, 'inventory-unknown-key.yaml');
    writeFileSync(join(dir, 'empty_known_hosts'), '');
    writeFileSync(strangers, readFileSync(inventory, 'utf8').replace(lab.knownHostsPath, join(dir, 'empty_known_hosts')));
    const mark = join(lab.host('app1').stateDir, 'unknown-key-mark');
    const run = await traced(['exec', runbook(`touch ${mark}`), '-i', strangers, '--yes', '--state-dir', join(dir, 'state')]);
    expect(run.code, run.output).toBe(7);
    expect(existsSync(mark)).toBe(false);
    expect(readFileSync(join(dir, 'empty_known_hosts'), 'utf8')).toBe('');
  });

  it('are opened again when the step comes, for a host that was down when the run started', async () => {
    const go = join(dir, 'go');
    const waiting = join(dir, 'waiting');
    const mark = join(lab.host('app1').stateDir, 'came-back-mark');
    await lab.stopHost('app1');
    try {
      const rb = runbook(`touch ${mark}`, `touch ${waiting}; while [ ! -e ${go} ]; do sleep 0.05; done`);
      const pending = traced(['exec', rb, '-i', inventory, '--yes', '--state-dir', join(dir, 'state')]);
      while (!existsSync(waiting)) await new Promise((r) => setTimeout(r, 50));
      await lab.startHost('app1');
      writeFileSync(go, '');
      const run = await pending;
      expect(run.code, run.output).toBe(0);
      // Two connections: the one opened ahead (refused: the host was down) and the step's own.
      const h = lab.host('app1');
      expect(run.calls.filter((c) => /^\d+\s+connect\(/.test(c) && c.includes(`inet_addr("${h.address}")`)).length).toBe(2);
      expect(existsSync(mark)).toBe(true);
    } finally {
      if (!lab.host('app1').running) await lab.startHost('app1');
    }
  });
});
