import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshLab, LAB_PATH, type SshLab } from '../harness/sshd.js';
import { isRunning, run } from '../harness/util.js';

describe('ssh lab', () => {
  let lab: SshLab;
  let srcA: string;
  let srcB: string;
  let tmp: string;

  beforeAll(async () => {
    const t0 = Date.now();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-mounts-'));
    srcA = path.join(tmp, 'a');
    srcB = path.join(tmp, 'b');
    lab = await startSshLab({
      hosts: [
        { name: 'cell1', address: '127.0.10.1', mounts: { '/opt/vmware/vcloud-director': srcA }, env: { EXTRA: 'one two' } },
        { name: 'cell2', address: '127.0.10.2', mounts: { '/opt/vmware/vcloud-director': srcB } },
      ],
    });
    fs.writeFileSync(path.join(srcA, 'marker'), 'A\n');
    fs.writeFileSync(path.join(srcB, 'marker'), 'B\n');
    console.log(`ssh lab started in ${Date.now() - t0} ms on port ${lab.port}`);
  });

  afterAll(async () => {
    const t0 = Date.now();
    await lab?.stop();
    console.log(`ssh lab stopped in ${Date.now() - t0} ms`);
    if (lab) expect(fs.existsSync(lab.dir)).toBe(false);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('logs in with the OpenSSH client and sees host name, user, PATH and the per-host mount', async () => {
    for (const [name, marker] of [
      ['cell1', 'A'],
      ['cell2', 'B'],
    ] as const) {
      const h = lab.host(name);
      const { stdout } = await run('ssh', [
        '-F',
        '/dev/null',
        '-i',
        lab.clientKeyPath,
        '-o',
        `UserKnownHostsFile=${lab.knownHostsPath}`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'BatchMode=yes',
        '-p',
        String(lab.port),
        `runbook-lab@${h.address}`,
        'echo "$LAB_HOST"; id -un; echo "$PATH"; cat /opt/vmware/vcloud-director/marker; echo "$LAB_STATE"; echo "$EXTRA"; echo "$HOME"',
      ]);
      const lines = stdout.trimEnd().split('\n');
      expect(lines[0]).toBe(name);
      expect(lines[1]).toBe('runbook-lab');
      expect(lines[2]).toBe(LAB_PATH);
      expect(lines[3]).toBe(marker);
      expect(lines[4]).toBe(h.stateDir);
      expect(lines[5]).toBe(name === 'cell1' ? 'one two' : '');
      expect(lines[6]).toBe('/var/lib/runbook-lab');
    }
  });

  it('login shells see the lab PATH too', async () => {
    const { stdout } = await lab.exec('cell1', 'bash -lc \'echo "$PATH"\'');
    expect(stdout.trim()).toBe(LAB_PATH);
  });

  it('sessions can write the state dir, and the test process can read it', async () => {
    await lab.exec('cell2', 'echo hello > "$LAB_STATE/x"; echo shared > "$LAB_SHARED/y"');
    expect(fs.readFileSync(path.join(lab.host('cell2').stateDir, 'x'), 'utf8')).toBe('hello\n');
    expect(fs.readFileSync(path.join(lab.host('cell2').sharedDir, 'y'), 'utf8')).toBe('shared\n');
  });

  it('host key fingerprints match ssh-keygen -lf', async () => {
    for (const h of lab.hosts) {
      const { stdout } = await run('ssh-keygen', ['-lf', path.join(lab.dir, 'hosts', h.name, 'ssh_host_ed25519_key.pub')]);
      expect(stdout.split(' ')[1]).toBe(h.hostKeyFingerprint);
      const line = fs
        .readFileSync(lab.knownHostsPath, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`[${h.address}]:${lab.port} `));
      expect(line).toBe(`[${h.address}]:${lab.port} ${h.hostPublicKey}`);
    }
  });

  it('stopHost makes a host unreachable (and kills its session processes); startHost brings it back', async () => {
    await lab.exec('cell1', 'nohup sleep 1000 >/dev/null 2>&1 & echo $! > "$LAB_STATE/sleep.pid"');
    const sleepPid = Number(fs.readFileSync(path.join(lab.host('cell1').stateDir, 'sleep.pid'), 'utf8'));
    expect(isRunning(sleepPid)).toBe(true);
    await lab.stopHost('cell1');
    expect(isRunning(sleepPid)).toBe(false);
    await expect(lab.exec('cell1', 'true', { timeoutMs: 15_000 })).rejects.toThrow();
    // the other host is unaffected
    expect((await lab.exec('cell2', 'echo $LAB_HOST')).stdout.trim()).toBe('cell2');
    await lab.startHost('cell1');
    const { stdout } = await lab.exec('cell1', 'echo $LAB_HOST; cat /opt/vmware/vcloud-director/marker');
    expect(stdout).toBe('cell1\nA\n');
  });

  it('the mount is not visible on the real root', () => {
    expect(fs.existsSync('/opt/vmware/vcloud-director/marker')).toBe(false);
  });
});
