/**
 * A lab of simulated SSH hosts on loopback: one real OpenSSH sshd per host, each on its own
 * 127.x.y.z address (same port for all), each with its own ed25519 host key and its own mount
 * namespace (so every host can see different contents at e.g. /opt/vmware/vcloud-director).
 *
 * Sessions log in as the unprivileged `runbook-lab` user and get these variables from sshd's
 * SetEnv: LAB_HOST (host name), LAB_STATE (per-host state dir), LAB_SHARED (lab-wide dir),
 * LAB_PATH and PATH (<repo>/fixtures/fakes/bin first). SetEnv does override sshd's default PATH
 * for exec sessions (`ssh host cmd`, which is what the runbook uses); for interactive login shells
 * Debian's /etc/profile resets PATH, so ~runbook-lab/.bash_profile restores it from LAB_PATH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLabUser, LAB_USER, type LabUser } from './lab-user.js';
import {
  canConnect,
  findFreePort,
  identifyProcess,
  pidsInMountNamespace,
  reapStale,
  registerCleanup,
  releasePort,
  reservePort,
  run,
  sleep,
  waitFor,
  type RunResult,
} from './util.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FAKES_BIN = path.join(REPO_ROOT, 'fixtures', 'fakes', 'bin');
export const LAB_PATH = `${FAKES_BIN}:/usr/local/bin:/usr/bin:/bin`;
const SSHD = '/usr/sbin/sshd';

export interface SshHostSpec {
  name: string;
  /** A loopback address, 127.x.y.z. */
  address: string;
  /** Absolute mountpoint inside the host -> directory on the real machine bound there. */
  mounts?: Record<string, string>;
  /** Extra variables for every session on this host (sshd SetEnv). */
  env?: Record<string, string>;
}

export interface StartSshLabOptions {
  hosts: SshHostSpec[];
  /** Port for every host; default: the first port from 2222 up that is free on all addresses. */
  port?: number;
  /** Lab directory (created); default: a new /tmp/runbook-ssh-XXXXXX. Removed by stop(). */
  labDir?: string;
  /** Milliseconds to wait for each sshd to accept connections (default 15000). */
  startTimeoutMs?: number;
}

export interface SshLabHost {
  name: string;
  address: string;
  port: number;
  /** "SHA256:..." exactly as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** "ssh-ed25519 AAAA..." */
  hostPublicKey: string;
  /** <lab>/hosts/<name>/state, owned by runbook-lab; sessions see it as $LAB_STATE. */
  stateDir: string;
  /** <lab>/shared, owned by runbook-lab; sessions see it as $LAB_SHARED. */
  sharedDir: string;
  /** The host's sshd log (sshd -e output). */
  logPath: string;
  /** Whether the host is up (stopHost/startHost). */
  readonly running: boolean;
}

export interface SshLab {
  dir: string;
  port: number;
  user: 'runbook-lab';
  /** ed25519 private key (OpenSSH format, no passphrase, mode 0600, owned by root). */
  clientKeyPath: string;
  clientPublicKey: string;
  /** One line per host: `[address]:port ssh-ed25519 AAAA...`. */
  knownHostsPath: string;
  hosts: SshLabHost[];
  host(name: string): SshLabHost;
  /** OpenSSH client arguments (before the remote command) to log in to a host. */
  sshArgs(name: string): string[];
  /** Runs a command on a host with the OpenSSH client; rejects on non-zero exit. */
  exec(name: string, command: string, opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /**
   * Processes running "on" a host: everything in its mount namespace (its sshd, sessions, and
   * daemons started from sessions). Empty while the host is stopped.
   */
  processes(name: string): Array<{ pid: number; args: string }>;
  /** Simulates the host going down: kills its sshd and every process started in its sessions. */
  stopHost(name: string): Promise<void>;
  /** Brings a stopped host back up with the same host key and mounts. */
  startHost(name: string): Promise<void>;
  /** Kills everything the lab started and removes the lab directory. */
  stop(): Promise<void>;
}

interface HostRuntime {
  spec: SshHostSpec;
  info: SshLabHost & { running: boolean };
  dir: string;
  configPath: string;
  child?: ChildProcess;
  pid?: number;
  mountNs?: string;
}

function assertLoopback(address: string): void {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) {
    throw new Error(`lab hosts must listen on 127.0.0.0/8 only, got ${address}`);
  }
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function fingerprint(publicKeyLine: string): string {
  const b64 = publicKeyLine.trim().split(/\s+/)[1] ?? '';
  const digest = createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

async function keygen(file: string, comment: string): Promise<string> {
  await fsp.rm(file, { force: true });
  await fsp.rm(`${file}.pub`, { force: true });
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  return (await fsp.readFile(`${file}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
}

function sshdConfig(opts: { address: string; port: number; hostKey: string; authorizedKeys: string; env: Record<string, string> }): string {
  const setenv = Object.entries(opts.env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad environment variable name ${k}`);
    if (/["\n\r]/.test(v)) throw new Error(`environment value for ${k} must not contain quotes or newlines`);
    return `"${k}=${v}"`;
  });
  return [
    `# generated by test/harness/sshd.ts`,
    `ListenAddress ${opts.address}:${opts.port}`,
    `HostKey ${opts.hostKey}`,
    `PidFile none`,
    `UsePAM no`,
    `UseDNS no`,
    `StrictModes no`,
    `PasswordAuthentication no`,
    `KbdInteractiveAuthentication no`,
    `PubkeyAuthentication yes`,
    `PermitRootLogin no`,
    `AllowUsers ${LAB_USER}`,
    `AuthorizedKeysFile ${opts.authorizedKeys}`,
    `MaxStartups 200:30:400`,
    `MaxSessions 200`,
    `MaxAuthTries 10`,
    `LoginGraceTime 30`,
    `PermitUserEnvironment no`,
    `AcceptEnv LANG LC_*`,
    `PrintMotd no`,
    `PrintLastLog no`,
    `X11Forwarding no`,
    `Subsystem sftp internal-sftp`,
    `LogLevel INFO`,
    `SetEnv ${setenv.join(' ')}`,
    '',
  ].join('\n');
}

/** Starts one sshd per host (in parallel) and waits until each accepts connections. */
export async function startSshLab(opts: StartSshLabOptions): Promise<SshLab> {
  if (opts.hosts.length === 0) throw new Error('startSshLab: no hosts');
  const names = new Set<string>();
  for (const h of opts.hosts) {
    assertLoopback(h.address);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(h.name)) throw new Error(`bad host name ${h.name}`);
    if (names.has(h.name)) throw new Error(`duplicate host name ${h.name}`);
    names.add(h.name);
    for (const mp of Object.keys(h.mounts ?? {})) {
      if (!path.isAbsolute(mp) || path.resolve(mp) === '/') throw new Error(`bad mountpoint ${mp}`);
    }
  }
  reapStale();
  const user = await ensureLabUser();
  await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = opts.labDir ?? (await fsp.mkdtemp('/tmp/runbook-ssh-'));
  await fsp.mkdir(dir, { recursive: true });
  await fsp.chmod(dir, 0o755);
  const sharedDir = path.join(dir, 'shared');
  await fsp.mkdir(sharedDir, { recursive: true });
  await fsp.chown(sharedDir, user.uid, user.gid);

  const addresses = opts.hosts.map((h) => h.address);
  let port: number;
  if (opts.port !== undefined) {
    port = opts.port;
    for (const a of addresses) reservePort(a, port);
  } else {
    port = await findFreePort(addresses, 2222);
  }

  const clientKeyPath = path.join(dir, 'client_ed25519');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  const knownHostsPath = path.join(dir, 'known_hosts');

  const runtimes: HostRuntime[] = [];
  let stopped = false;
  const cleanup = registerCleanup(() => ({
    mountNamespaces: runtimes.flatMap((r) => (r.mountNs ? [{ ns: r.mountNs, mark: namespaceMark(r) }] : [])),
    processes: runtimes.flatMap((r) => (r.pid ? identifyProcess(r.pid) : [])),
    dirs: stopped ? [] : [dir],
    ports: addresses.map((a) => [a, port] as [string, number]),
  }));

  try {
    const [clientPublicKey, ...hostKeys] = await Promise.all([
      keygen(clientKeyPath, 'runbook-test-client'),
      ...opts.hosts.map(async (h) => {
        const hostDir = path.join(dir, 'hosts', h.name);
        await fsp.mkdir(path.join(hostDir, 'state'), { recursive: true });
        await fsp.chown(path.join(hostDir, 'state'), user.uid, user.gid);
        return keygen(path.join(hostDir, 'ssh_host_ed25519_key'), `${h.name}-host-key`);
      }),
    ]);
    await fsp.writeFile(authorizedKeys, `${clientPublicKey}\n`, { mode: 0o644 });
    await fsp.chmod(authorizedKeys, 0o644);

    for (const [i, h] of opts.hosts.entries()) {
      const hostPublicKey = hostKeys[i]!;
      const hostDir = path.join(dir, 'hosts', h.name);
      const stateDir = path.join(hostDir, 'state');
      const env = {
        LAB_HOST: h.name,
        LAB_STATE: stateDir,
        LAB_SHARED: sharedDir,
        LAB_PATH,
        PATH: LAB_PATH,
        ...(h.env ?? {}),
      };
      const rt: HostRuntime = {
        spec: h,
        dir: hostDir,
        configPath: path.join(hostDir, 'sshd_config'),
        info: {
          name: h.name,
          address: h.address,
          port,
          hostKeyFingerprint: fingerprint(hostPublicKey),
          hostPublicKey,
          stateDir,
          sharedDir,
          logPath: path.join(hostDir, 'sshd.log'),
          running: false,
        },
      };
      await fsp.writeFile(
        rt.configPath,
        sshdConfig({ address: h.address, port, hostKey: path.join(hostDir, 'ssh_host_ed25519_key'), authorizedKeys, env }),
      );
      await prepareMounts(h, user);
      runtimes.push(rt);
    }
    await fsp.writeFile(knownHostsPath, runtimes.map((r) => `[${r.info.address}]:${port} ${r.info.hostPublicKey}\n`).join(''), {
      mode: 0o644,
    });

    const timeoutMs = opts.startTimeoutMs ?? 15_000;
    await Promise.all(runtimes.map((r) => startRuntime(r, timeoutMs, cleanup.update)));

    const byName = (name: string): HostRuntime => {
      const r = runtimes.find((x) => x.spec.name === name);
      if (!r) throw new Error(`no lab host named ${name}`);
      return r;
    };
    const sshArgs = (name: string): string[] => {
      const r = byName(name);
      return [
        '-F',
        '/dev/null',
        '-i',
        clientKeyPath,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        `UserKnownHostsFile=${knownHostsPath}`,
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'ConnectTimeout=10',
        '-o',
        'LogLevel=ERROR',
        '-p',
        String(port),
        `${LAB_USER}@${r.info.address}`,
      ];
    };

    const lab: SshLab = {
      dir,
      port,
      user: LAB_USER,
      clientKeyPath,
      clientPublicKey,
      knownHostsPath,
      hosts: runtimes.map((r) => r.info),
      host: (name) => byName(name).info,
      sshArgs,
      processes: (name) => {
        const ns = byName(name).mountNs;
        if (!ns) return [];
        return pidsInMountNamespace(ns).flatMap((pid) => {
          try {
            const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
            return [{ pid, args }];
          } catch {
            return [];
          }
        });
      },
      exec: (name, command, o = {}) => run('ssh', [...sshArgs(name), command], { input: o.input ?? '', timeout: o.timeoutMs ?? 60_000 }),
      stopHost: async (name) => {
        await stopRuntime(byName(name));
        cleanup.update();
      },
      startHost: async (name) => {
        const r = byName(name);
        if (r.info.running) return;
        await startRuntime(r, timeoutMs, cleanup.update);
      },
      stop: async () => {
        if (stopped) return;
        await Promise.all(runtimes.map((r) => stopRuntime(r)));
        stopped = true;
        await fsp.rm(dir, { recursive: true, force: true });
        for (const a of addresses) releasePort(a, port);
        cleanup.unregister();
      },
    };
    return lab;
  } catch (e) {
    await Promise.all(runtimes.map((r) => stopRuntime(r).catch(() => undefined)));
    await fsp.rm(dir, { recursive: true, force: true });
    for (const a of addresses) releasePort(a, port);
    cleanup.unregister();
    throw e;
  }
}

async function prepareMounts(h: SshHostSpec, user: LabUser): Promise<void> {
  for (const [mountpoint, source] of Object.entries(h.mounts ?? {})) {
    await fsp.mkdir(mountpoint, { recursive: true });
    if (!fs.existsSync(source)) {
      await fsp.mkdir(source, { recursive: true });
      await fsp.chown(source, user.uid, user.gid);
    }
  }
}

function namespaceMark(r: HostRuntime): string {
  return path.join(r.dir, 'namespace-mark');
}

async function startRuntime(r: HostRuntime, timeoutMs: number, onChange: () => void): Promise<void> {
  // A path mounted in this namespace only: what tells the cleanup that a namespace number still
  // names this host's namespace (numbers are reused once a namespace dies).
  await fsp.mkdir(namespaceMark(r), { recursive: true });
  const lines = ['set -e', `mount --bind ${shq(namespaceMark(r))} ${shq(namespaceMark(r))}`];
  // Longest mountpoints last so nested mounts land on top of their parents.
  const mounts = Object.entries(r.spec.mounts ?? {}).sort(([a], [b]) => a.length - b.length);
  for (const [mp, src] of mounts) lines.push(`mount --bind ${shq(src)} ${shq(mp)}`);
  lines.push(`exec ${SSHD} -D -e -f ${shq(r.configPath)}`);
  const logFd = fs.openSync(r.info.logPath, 'a');
  const startOffset = fs.fstatSync(logFd).size;
  let child: ChildProcess;
  try {
    child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', lines.join('\n')], {
      stdio: ['ignore', logFd, logFd],
      detached: true,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
    });
  } finally {
    fs.closeSync(logFd);
  }
  child.unref();
  r.child = child;
  r.pid = child.pid;
  onChange();
  const readLog = () => {
    try {
      return fs.readFileSync(r.info.logPath, 'utf8').slice(startOffset);
    } catch {
      return '';
    }
  };
  try {
    await waitFor(
      `sshd for ${r.spec.name} on ${r.info.address}:${r.info.port}`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}):\n${readLog()}`);
        }
        if (!readLog().includes('Server listening on')) return false;
        return canConnect(r.info.address, r.info.port, 1000);
      },
      { timeoutMs, intervalMs: 10 },
    );
  } catch (e) {
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
    r.pid = undefined;
    throw new Error(`${(e as Error).message}\n${readLog()}`);
  }
  r.mountNs = fs.readlinkSync(`/proc/${child.pid}/ns/mnt`);
  if (r.mountNs === fs.readlinkSync('/proc/self/ns/mnt')) {
    throw new Error(`sshd for ${r.spec.name} is not in its own mount namespace`);
  }
  r.info.running = true;
  onChange();
}

async function stopRuntime(r: HostRuntime): Promise<void> {
  r.info.running = false;
  const ns = r.mountNs;
  const kill = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  if (r.pid) kill(r.pid);
  if (ns) {
    // Everything started in the host's sessions lives in its mount namespace: kill it all, as a
    // crash of the host would. Repeat until empty (a process may fork while we scan).
    await waitFor(
      `processes of host ${r.spec.name} to exit`,
      () => {
        const pids = pidsInMountNamespace(ns);
        pids.forEach(kill);
        return pids.length === 0;
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    );
  }
  const child = r.child;
  if (child && child.exitCode === null && child.signalCode === null) {
    await Promise.race([new Promise((res) => child.once('exit', res)), sleep(2000)]);
  }
  r.child = undefined;
  r.pid = undefined;
  r.mountNs = undefined;
}
