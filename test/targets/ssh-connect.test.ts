/**
 * How `runbook` opens its SSH connections, seen from the system calls of real runs (strace)
 * against a real sshd: Nagle's algorithm is off from the TCP connect on (not only once the
 * handshake is over).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

function runbook(command: string): string {
  const path = join(dir, `rb-${++n}.yaml`);
  writeFileSync(
    path,
    `id: ssh-connect-${n}
title: SSH connect ${n}
targets:
  app: { type: hosts }
steps:
  - id: touch
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
    ['-f', '-qq', '-s', '64', '-e', 'trace=connect,setsockopt,write', '-o', trace, process.execPath, CLI, ...args],
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
});
