/**
 * OpenSSH client configuration as `ssh` reads it: Include (globs, block context restored),
 * UserKnownHostsFile/GlobalKnownHostsFile, ProxyJump in `user@host:port` form and as a chain,
 * checked on paper and then against the real sshd lab, with a real jump through lab hosts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Client, type ClientCallback, type ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseInventory } from '../../src/inventory/inventory.js';
import { SecretStore } from '../../src/engine/secrets.js';
import { openConnections } from '../../src/targets/connections.js';
import { describeEndpoint, parseProxyJump, SshConfigResolver } from '../../src/targets/ssh-config.js';
import { runCli } from '../cli/run-cli.js';
import { startSshLab, type SshLab } from '../harness/sshd.js';

const tmp = mkdtempSync(join(tmpdir(), 'runbook-ssh-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(tmp, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
}

describe('ssh_config resolution', () => {
  it('parses ProxyJump hops: user@host:port, ssh:// URIs, IPv6, chains and none', () => {
    expect(parseProxyJump('ops@bastion:2222,inner')).toEqual([{ host: 'bastion', user: 'ops', port: 2222 }, { host: 'inner' }]);
    expect(parseProxyJump('ssh://root@[2001:db8::1]:22')).toEqual([{ host: '2001:db8::1', user: 'root', port: 22 }]);
    expect(parseProxyJump('none')).toEqual([]);
  });

  it('follows Include globs (sorted), keeps the enclosing block after an included file, and takes the first value', () => {
    write('conf.d/10-db.conf', 'Host db1\n  HostName 10.1.0.1\n  User dbadmin\n');
    write('conf.d/20-app.conf', 'Host app*\n  Port 2201\n');
    write('conf.d/.hidden.conf', 'Host db1\n  HostName 10.9.9.9\n');
    const config = write(
      'config',
      [
        'Host db1',
        `  Include ${join(tmp, 'conf.d', '*.conf')}`,
        // Still inside "Host db1" after the include: OpenSSH restores the block context.
        '  Port 2022',
        '  UserKnownHostsFile ~/kh-%h /srv/known_hosts',
        '  GlobalKnownHostsFile none',
        'Host *',
        '  User everyone',
        '  Port 22',
        '',
      ].join('\n'),
    );
    const resolver = new SshConfigResolver({ db1: {}, app1: { user: 'ops' }, other: { address: '192.0.2.7' } }, { configFile: config });
    const db1 = resolver.resolve('db1');
    expect(describeEndpoint(db1)).toBe('dbadmin@10.1.0.1:2022');
    expect(db1.knownHosts.user).toEqual([join(process.env.HOME ?? '', 'kh-10.1.0.1'), '/srv/known_hosts']);
    expect(db1.knownHosts.global).toEqual([]);
    // An included Host line is a block of its own: app1 gets its port, not db1's.
    expect(describeEndpoint(resolver.resolve('app1'))).toBe('ops@app1:2201');
    expect(describeEndpoint(resolver.resolve('other'))).toBe('everyone@192.0.2.7:22');
  });

  it('resolves a jump chain hop by hop, each hop through ssh_config, and shows it', () => {
    const config = write(
      'jump-config',
      'Host target\n  HostName 10.2.0.5\n  ProxyJump ops@bastion:2200,inner\nHost inner\n  HostName 10.2.0.1\n  User jumper\n',
    );
    const resolver = new SshConfigResolver({ target: { user: 'root' } }, { configFile: config });
    expect(describeEndpoint(resolver.resolve('target'))).toBe(`root@10.2.0.5:22 via ops@bastion:2200 -> jumper@10.2.0.1:22`);
    // A hop named after an inventory host takes that entry's user, port and key.
    const viaEntry = new SshConfigResolver(
      {
        target: { user: 'root', proxyJump: 'bastion' },
        bastion: { address: '192.0.2.1', user: 'ops', port: 2022, identityFile: '/k/ops' },
      },
      { configFile: config },
    ).resolve('target');
    expect(describeEndpoint(viaEntry)).toBe('root@10.2.0.5:22 via ops@192.0.2.1:2022');
    expect(viaEntry.jumps[0]?.identityFiles).toEqual(['/k/ops']);
    // The inventory's own proxyJump wins over ssh_config, and "none" means direct.
    const direct = new SshConfigResolver({ target: { user: 'root', proxyJump: 'none' } }, { configFile: config });
    expect(describeEndpoint(direct.resolve('target'))).toBe('root@10.2.0.5:22');
  });

  it('defaults to the local user and ~/.ssh/known_hosts, and --known-hosts replaces UserKnownHostsFile', () => {
    const empty = write('empty-config', '');
    const plain = new SshConfigResolver({ h: {} }, { configFile: empty }).resolve('h');
    expect(plain.user).toBe(userInfo().username);
    expect(plain.knownHosts.user[0]).toMatch(/\.ssh\/known_hosts$/);
    expect(plain.knownHosts.global).toEqual(['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
    const forced = new SshConfigResolver({ h: {} }, { configFile: empty, knownHostsFile: '/x/kh' }).resolve('h');
    expect(forced.knownHosts.user).toEqual(['/x/kh']);
  });
});

describe('ssh_config against the sshd lab', () => {
  let lab: SshLab;
  let configFile: string;
  let userKnownHosts: string;
  let globalKnownHosts: string;

  beforeAll(async () => {
    lab = await startSshLab({
      hosts: [
        { name: 'jump1', address: '127.0.41.1' },
        { name: 'jump2', address: '127.0.41.2' },
        { name: 'target', address: '127.0.41.3' },
      ],
    });
    // The jump hosts' keys in the user file, the target's in the global file only.
    const lines = readFileSync(lab.knownHostsPath, 'utf8').trim().split('\n');
    const keyOf = (address: string) => lines.filter((l) => l.includes(`[${address}]`)).join('\n') + '\n';
    userKnownHosts = write('lab/known_hosts', keyOf('127.0.41.1') + keyOf('127.0.41.2'));
    globalKnownHosts = write('lab/global_known_hosts', keyOf('127.0.41.3'));
    write(
      'lab/conf.d/hosts.conf',
      [
        'Host lab-target',
        '  HostName 127.0.41.3',
        `  ProxyJump runbook-lab@127.0.41.1:${lab.port},lab-jump2`,
        'Host lab-jump2',
        '  HostName 127.0.41.2',
        '',
      ].join('\n'),
    );
    configFile = write(
      'lab/config',
      [
        `Include ${join(tmp, 'lab', 'conf.d', '*.conf')}`,
        'Host *',
        '  User runbook-lab',
        `  Port ${lab.port}`,
        `  IdentityFile ${lab.clientKeyPath}`,
        `  UserKnownHostsFile ${userKnownHosts}`,
        `  GlobalKnownHostsFile ${globalKnownHosts}`,
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await lab?.stop();
  });

  const inventory = (hosts: string) =>
    parseInventory(join(tmp, 'inventory.yaml'), `ssh: { configFile: ${configFile} }\nhosts:\n${hosts}\nroles: { app: [target] }\n`);

  async function runOn(hosts: string, command: string) {
    const connections = openConnections({ inventory: inventory(hosts), secrets: new SecretStore(), acceptNewHostKeys: false });
    try {
      const target = await connections.command('target');
      return await target.exec(command, { timeoutMs: 20_000, signal: new AbortController().signal });
    } finally {
      await connections.closeAll();
    }
  }

  it('runs a command on a host reached through a two-hop ProxyJump chain from an included file', async () => {
    const result = await runOn('  target: { address: lab-target }', 'echo "$LAB_HOST"');
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe('target');
  });

  it('really goes through the jumps: with the second jump host down the target is not reached', async () => {
    await lab.stopHost('jump2');
    try {
      await expect(runOn('  target: { address: lab-target }', 'true')).rejects.toThrow(
        /jump host 127\.0\.41\.1 cannot reach lab-jump2 \(127\.0\.41\.2:\d+\) on the way to target: .*Connection refused/,
      );
    } finally {
      await lab.startHost('jump2');
    }
  });

  it('a host key found in no UserKnownHostsFile or GlobalKnownHostsFile stops the connection', async () => {
    writeFileSync(globalKnownHosts, '');
    try {
      await expect(runOn('  target: { address: lab-target }', 'true')).rejects.toThrow(
        /host key of target \(\[127\.0\.41\.3\]:\d+\) is unknown.*global_known_hosts/,
      );
    } finally {
      const lines = readFileSync(lab.knownHostsPath, 'utf8').split('\n');
      writeFileSync(globalKnownHosts, lines.filter((l) => l.includes('[127.0.41.3]')).join('\n') + '\n');
    }
  });

  it('a FIFO as identity file, known_hosts file or ssh config fails at once with its name, nothing hangs', async () => {
    const fifo = join(tmp, 'lab', 'fifo');
    execFileSync('mkfifo', [fifo]);
    const runbook = write(
      'lab/fifo-rb.yaml',
      'id: fifo-demo\ntitle: FIFO demo\nversion: 1.0.0\ntargets: { app: { type: hosts } }\nsteps:\n  - { id: hello, title: Hello, kind: ssh, target: app, readOnly: true, command: "echo hi" }\n',
    );
    // Read when connecting (the step fails), or the config when planning (bad input, exit 3).
    const cases: Array<[string, string, string, number]> = [
      [
        'identity file',
        `ssh: { configFile: ${configFile} }\nhosts:\n  target: { address: lab-target, identityFile: ${fifo} }`,
        'identity file',
        1,
      ],
      [
        'known_hosts',
        `ssh: { configFile: ${configFile}, knownHostsFile: ${fifo} }\nhosts:\n  target: { address: lab-target }`,
        'known_hosts file',
        1,
      ],
      [
        'ssh config',
        `ssh: { configFile: ${fifo} }\nhosts:\n  target: { address: 127.0.41.3, port: ${lab.port} }`,
        'ssh configuration file',
        3,
      ],
    ];
    for (const [label, hosts, use, code] of cases) {
      const inv = write(`lab/fifo-${label.replace(/\W/g, '-')}.yaml`, `${hosts}\nroles: { app: target }\n`);
      const r = await runCli(['exec', runbook, '-i', inv, '--yes', '--state-dir', join(tmp, 'state')], { timeoutMs: 30_000 });
      expect(r.timedOut, label).toBe(false);
      expect(r.stdout + r.stderr, label).toContain(`cannot read the ${use} ${fifo}: a named pipe (FIFO), not a regular file`);
      expect(r.code, label).toBe(code);
    }
  });

  it('a channel forwarded by a jump host never crashes the process with an error, even when no client is opened over it', async () => {
    const fifo = join(tmp, 'lab', 'fifo-key');
    execFileSync('mkfifo', [fifo]);
    const forwarded: ClientChannel[] = [];
    const forwardOut = Client.prototype.forwardOut;
    const spy = vi.spyOn(Client.prototype, 'forwardOut').mockImplementation(function (this: Client, ...args: unknown[]) {
      const [bindAddr, bindPort, host, port, callback] = args as [string, number, string, number, ClientCallback];
      return forwardOut.call(this, bindAddr, bindPort, host, port, (err, stream) => {
        if (stream) forwarded.push(stream);
        callback(err, stream);
      });
    });
    try {
      // The target's key cannot be read: both channels are forwarded, the last one is never used.
      await expect(runOn(`  target: { address: lab-target, identityFile: ${fifo} }`, 'true')).rejects.toThrow(/identity file/);
      expect(forwarded).toHaveLength(2);
      for (const channel of forwarded) expect(() => channel.emit('error', new Error('channel reset'))).not.toThrow();
    } finally {
      spy.mockRestore();
    }
  });

  it('shows the resolved endpoint and its jumps in the dry-run', async () => {
    const runbook = write(
      'lab/rb.yaml',
      'id: jump-demo\ntitle: Jump demo\nversion: 1.0.0\ntargets: { app: { type: hosts } }\nsteps:\n  - { id: hello, title: Hello, kind: ssh, target: app, command: "echo hi" }\n',
    );
    const inv = write(
      'lab/inv.yaml',
      `ssh: { configFile: ${configFile} }\nhosts:\n  target: { address: lab-target }\nroles: { app: target }\n`,
    );
    const { code, stdout, stderr } = await runCli(['plan', runbook, '-i', inv]);
    expect(code, stderr).toBe(0);
    const jumps = `via runbook-lab@127.0.41.1:${lab.port} -> runbook-lab@127.0.41.2:${lab.port}`;
    expect(stdout).toContain(`app (hosts): target [runbook-lab@127.0.41.3:${lab.port} ${jumps}]`);
    expect(stdout).toContain(`on target (runbook-lab@127.0.41.3:${lab.port} ${jumps}):`);
  });
});
