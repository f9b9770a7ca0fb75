/**
 * Fan-out: 5 steps of `true` on N hosts, runbook beside OpenSSH with ControlMaster (set-up
 * included, with its default key exchange and with curve25519; and with masters opened before
 * the clock starts), parallel-ssh and Ansible. Also gives the peak RSS of runbook per host count.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { quoteShellWord as shellQuote } from '../../../src/core/shell-quote.js';
import { BASE_ENV, CLI, STEPS, TMP, log } from '../context.js';
import { journalPhases, type JournalPhases } from '../lab.js';
import type { SshLab } from '../../../test/harness/sshd.js';
import { measure, medianCpu, roundRobin, round, secondsSpread, spread, type SecondsSpread, type Tools } from '../measure.js';

const execFileAsync = promisify(execFile);

export const TOOLS = ['runbook', 'openssh_mux', 'openssh_mux_curve25519', 'openssh_preopened_curve25519', 'pssh', 'ansible'] as const;
export type FanOutTool = (typeof TOOLS)[number];
const CURVE25519 = ['-o', 'KexAlgorithms=curve25519-sha256'];

/** Repetitions per tool and host count; 0 = not run at that count (Ansible at 200 hosts takes minutes). */
export function fanOutPlan(quick: boolean): { hostCounts: number[]; reps: Record<FanOutTool, number[]> } {
  const hostCounts = quick ? [1, 5, 20, 50] : [1, 5, 20, 50, 200];
  const reps: Record<FanOutTool, number[]> = quick
    ? {
        runbook: [2, 2, 3, 2],
        openssh_mux: [2, 2, 3, 1],
        openssh_mux_curve25519: [0, 0, 3, 0],
        openssh_preopened_curve25519: [0, 0, 3, 0],
        pssh: [1, 1, 1, 1],
        ansible: [1, 1, 1, 1],
      }
    : {
        runbook: [5, 5, 7, 5, 3],
        openssh_mux: [5, 5, 7, 3, 2],
        openssh_mux_curve25519: [0, 0, 7, 0, 2],
        openssh_preopened_curve25519: [0, 0, 7, 0, 0],
        pssh: [3, 3, 3, 2, 0],
        ansible: [2, 2, 3, 1, 0],
      };
  return { hostCounts, reps };
}

export interface FanOutRow {
  tools: Partial<Record<FanOutTool, SecondsSpread & { cpu_s: number | null }>>;
  rss_mb: { median: number | null; min: number | null; max: number | null; n: number };
  phases: JournalPhases;
}

export interface FanOutResults {
  host_counts: number[];
  rows: Record<number, FanOutRow>;
  /** The key exchange each client negotiated with the lab's sshd. */
  key_exchange: Record<string, string | null>;
  at20?: {
    runbook_over_openssh_mux: number | null;
    runbook_over_openssh_mux_curve25519: number | null;
    runbook_over_openssh_preopened_curve25519: number | null;
    ansible_over_runbook: number | null;
    pssh_over_runbook: number | null;
  };
  /** Marginal seconds per host per step of runbook between two host counts: linear cost keeps it flat. */
  marginal_ms_per_host_step: Record<string, number | null>;
}

function sshOptions(lab: SshLab, logLevel = 'ERROR'): string[] {
  return [
    ...['-F', '/dev/null', '-i', lab.clientKeyPath, '-o', 'IdentitiesOnly=yes'],
    ...['-o', `UserKnownHostsFile=${lab.knownHostsPath}`, '-o', 'GlobalKnownHostsFile=/dev/null'],
    ...['-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=30', '-o', `LogLevel=${logLevel}`],
  ];
}

interface FanOutFiles {
  inventory: string;
  runbook: string;
  /** sh scripts taking (control dir, extra ssh options...). */
  muxOpen: string;
  muxRounds: string;
  muxClose: string;
  muxAll: string;
  pssh: string;
  ansibleConfig: string;
  playbook: string;
  stateDir: string;
}

function writeRunbookFiles(dir: string, lab: SshLab, n: number): Pick<FanOutFiles, 'inventory' | 'runbook'> {
  const hosts = lab.hosts.slice(0, n);
  const inventory = path.join(dir, 'inventory.yaml');
  writeFileSync(
    inventory,
    [
      `name: bench ${n} hosts`,
      'ssh:',
      `  knownHostsFile: ${lab.knownHostsPath}`,
      '  configFile: /dev/null',
      '  connectTimeout: 30s',
      'hosts:',
      ...hosts.map((h) => `  ${h.name}: { address: ${h.address}, port: ${h.port}, user: ${lab.user}, identityFile: ${lab.clientKeyPath} }`),
      'roles:',
      `  hosts: [${hosts.map((h) => h.name).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const runbook = path.join(dir, 'bench-fanout.yaml');
  const step = (i: number): string =>
    [
      `  - id: step-${i + 1}`,
      `    title: Round ${i + 1}`,
      '    kind: ssh',
      '    target: hosts',
      `    fanOut: { mode: parallel, limit: ${n} }`,
      "    command: 'true'",
    ].join('\n');
  writeFileSync(
    runbook,
    [
      'id: bench-fanout',
      `title: Benchmark fan-out (${STEPS} steps of true on every host)`,
      'version: 1.0.0',
      'source: { document: bench/src/workloads/fanout.ts }',
      'targets:',
      '  hosts: { type: hosts, description: every lab host }',
      'steps:',
      ...Array.from({ length: STEPS }, (_, i) => step(i)),
      '',
    ].join('\n'),
  );
  return { inventory, runbook };
}

/** OpenSSH with ControlMaster: open all masters in parallel, 5 parallel rounds, close; as separate scripts and as one. */
function writeOpenSshScripts(dir: string, lab: SshLab, n: number): Pick<FanOutFiles, 'muxOpen' | 'muxRounds' | 'muxClose' | 'muxAll'> {
  const hosts = lab.hosts.slice(0, n);
  const opts = sshOptions(lab).map(shellQuote).join(' ');
  const target = (h: { port: number; address: string }): string => `-p ${h.port} ${lab.user}@${h.address}`;
  const parallel = (make: (h: (typeof hosts)[number]) => string): string[] => [
    ...hosts.map((h, i) => `${make(h)} & p${i}=$!`),
    ...hosts.map((_, i) => `wait $p${i} || fail=1`),
  ];
  const open = parallel((h) => `ssh ${opts} $KEX -o ControlMaster=yes -o ControlPersist=yes -o "ControlPath=$D/%C" -f -N ${target(h)}`);
  const rounds = Array.from({ length: STEPS }, () => parallel((h) => `ssh ${opts} $KEX -o "ControlPath=$D/%C" ${target(h)} true`)).flat();
  const close = parallel((h) => `ssh ${opts} -o "ControlPath=$D/%C" -O exit ${target(h)} 2>/dev/null`);
  const script = (name: string, body: string[]): string => {
    const file = path.join(dir, name);
    writeFileSync(file, ['#!/bin/sh', 'set -u', 'D="$1"; shift', 'KEX="$*"', 'fail=0', ...body, 'exit $fail', ''].join('\n'), {
      mode: 0o755,
    });
    return file;
  };
  return {
    muxOpen: script('openssh-open.sh', open),
    muxRounds: script('openssh-rounds.sh', rounds),
    muxClose: script('openssh-close.sh', close),
    muxAll: script('openssh-mux.sh', [...open, ...rounds, ...close]),
  };
}

function writePsshScript(dir: string, lab: SshLab, n: number): string {
  const hostsFile = path.join(dir, 'pssh-hosts');
  writeFileSync(
    hostsFile,
    lab.hosts
      .slice(0, n)
      .map((h) => `${lab.user}@${h.address}:${h.port}\n`)
      .join(''),
  );
  const opts = shellQuote(sshOptions(lab).map(shellQuote).join(' '));
  const rounds = Array.from({ length: STEPS }, () => `parallel-ssh -h ${shellQuote(hostsFile)} -p ${n} -t 60 -x ${opts} true`);
  const file = path.join(dir, 'pssh.sh');
  writeFileSync(file, ['#!/bin/sh', 'set -e', ...rounds, ''].join('\n'), { mode: 0o755 });
  return file;
}

/** Ansible: forks = N, pipelining, ControlPersist, facts off, `command` tasks. */
function writeAnsibleFiles(dir: string, lab: SshLab, n: number): Pick<FanOutFiles, 'ansibleConfig' | 'playbook'> {
  const ini = path.join(dir, 'ansible-inventory.ini');
  writeFileSync(
    ini,
    [
      '[lab]',
      ...lab.hosts.slice(0, n).map((h) => `${h.name} ansible_host=${h.address} ansible_port=${h.port}`),
      '[lab:vars]',
      `ansible_user=${lab.user}`,
      `ansible_ssh_private_key_file=${lab.clientKeyPath}`,
      '',
    ].join('\n'),
  );
  const ansibleConfig = path.join(dir, 'ansible.cfg');
  writeFileSync(
    ansibleConfig,
    [
      '[defaults]',
      `inventory = ${ini}`,
      `forks = ${n}`,
      'gathering = explicit',
      'host_key_checking = True',
      'interpreter_python = /usr/bin/python3',
      'retry_files_enabled = False',
      `local_tmp = ${path.join(TMP, 'ansible-local')}`,
      '',
      '[ssh_connection]',
      'pipelining = True',
      `ssh_args = -F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile=${lab.knownHostsPath} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ControlMaster=auto -o ControlPersist=60s`,
      '',
    ].join('\n'),
  );
  const playbook = path.join(dir, 'playbook.yml');
  const tasks = Array.from({ length: STEPS }, (_, i) => `    - name: round ${i + 1}\n      command: /bin/true`);
  writeFileSync(playbook, ['- hosts: lab', '  gather_facts: false', '  tasks:', ...tasks, ''].join('\n'));
  return { ansibleConfig, playbook };
}

function writeFanOutFiles(lab: SshLab, n: number): FanOutFiles {
  const dir = path.join(TMP, `fanout-${n}`);
  mkdirSync(dir, { recursive: true });
  return {
    ...writeRunbookFiles(dir, lab, n),
    ...writeOpenSshScripts(dir, lab, n),
    pssh: writePsshScript(dir, lab, n),
    ...writeAnsibleFiles(dir, lab, n),
    stateDir: path.join(dir, 'state'),
  };
}

/** The runbook and inventory of the 20-host fan-out (used again by the profiles). */
export const fanOut20Files = (): { runbook: string; inventory: string } => ({
  runbook: path.join(TMP, 'fanout-20', 'bench-fanout.yaml'),
  inventory: path.join(TMP, 'fanout-20', 'inventory.yaml'),
});

/** Closes the ControlPersist masters a run left in a control directory (by their sockets). */
async function closeMasters(controlDir: string): Promise<void> {
  if (!existsSync(controlDir)) return;
  await Promise.all(
    readdirSync(controlDir).map((sock) =>
      execFileAsync('ssh', ['-F', '/dev/null', '-o', `ControlPath=${path.join(controlDir, sock)}`, '-O', 'exit', 'placeholder'], {
        env: BASE_ENV,
      }).catch(() => undefined),
    ),
  );
  rmSync(controlDir, { recursive: true, force: true });
}

let controlDirs = 0;
async function withControlDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = path.join(TMP, `cm${++controlDirs}`);
  mkdirSync(dir);
  try {
    return await use(dir);
  } finally {
    await closeMasters(dir);
  }
}

function fanOutTools(f: FanOutFiles, n: number): Record<FanOutTool, Tools[string]> {
  const label = (tool: string): string => `${tool} (${n} hosts)`;
  return {
    runbook: () =>
      measure('node', [CLI, 'exec', f.runbook, '-i', f.inventory, '--yes', '--state-dir', f.stateDir], { label: label('runbook exec') }),
    openssh_mux: () => withControlDir((d) => measure('sh', [f.muxAll, d], { label: label('openssh mux') })),
    openssh_mux_curve25519: () =>
      withControlDir((d) => measure('sh', [f.muxAll, d, ...CURVE25519], { label: label('openssh mux curve25519') })),
    // Only the 5 rounds are timed: the masters are open before the clock starts and closed after.
    openssh_preopened_curve25519: () =>
      withControlDir(async (d) => {
        await execFileAsync('sh', [f.muxOpen, d, ...CURVE25519], { env: BASE_ENV });
        try {
          return await measure('sh', [f.muxRounds, d, ...CURVE25519], { label: label('openssh pre-opened masters') });
        } finally {
          await execFileAsync('sh', [f.muxClose, d], { env: BASE_ENV }).catch(() => undefined);
        }
      }),
    pssh: () => measure('sh', [f.pssh], { label: label('parallel-ssh') }),
    ansible: () =>
      withControlDir((d) =>
        measure('ansible-playbook', [f.playbook], {
          label: label('ansible-playbook'),
          env: { ANSIBLE_CONFIG: f.ansibleConfig, ANSIBLE_SSH_CONTROL_PATH_DIR: d, ANSIBLE_NOCOLOR: '1' },
        }),
      ),
  };
}

/** The key exchange OpenSSH negotiates with the lab's first host, from its debug output (LogLevel=DEBUG1). */
async function openSshKex(lab: SshLab, extra: string[]): Promise<string | null> {
  const h = lab.hosts[0]!;
  const r = await execFileAsync('ssh', [...sshOptions(lab, 'DEBUG1'), ...extra, '-p', String(h.port), `${lab.user}@${h.address}`, 'true'], {
    env: BASE_ENV,
  }).catch((e: { stderr?: string }) => ({ stderr: e.stderr ?? '' }));
  return /kex: algorithm: (\S+)/.exec(r.stderr)?.[1] ?? null;
}

/** The key exchange ssh2 (runbook's SSH library) negotiates, from its 'handshake' event. */
async function ssh2Kex(lab: SshLab): Promise<string | null> {
  const { Client } = (await import('ssh2')).default;
  const { readFileSync } = await import('node:fs');
  const h = lab.hosts[0]!;
  return new Promise((resolve) => {
    const client = new Client();
    client.on('handshake', (negotiated: { kex: string }) => {
      resolve(negotiated.kex);
      client.end();
    });
    client.on('error', () => resolve(null));
    client.connect({
      host: h.address,
      port: h.port,
      username: lab.user,
      privateKey: readFileSync(lab.clientKeyPath),
      hostVerifier: () => true,
    });
  });
}

const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a && b ? round(a / b, 2) : null);

export async function runFanOut(lab: SshLab, quick: boolean): Promise<FanOutResults> {
  const { hostCounts, reps } = fanOutPlan(quick);
  const results: FanOutResults = {
    host_counts: hostCounts,
    rows: {},
    key_exchange: {
      runbook_ssh2: await ssh2Kex(lab),
      openssh_default: await openSshKex(lab, []),
      openssh_curve25519: await openSshKex(lab, CURVE25519),
    },
    marginal_ms_per_host_step: {},
  };
  log(`key exchange: ${JSON.stringify(results.key_exchange)}`);
  for (const [index, n] of hostCounts.entries()) {
    log(`fan-out: ${STEPS} steps x ${n} host(s)`);
    const files = writeFanOutFiles(lab, n);
    const tools = fanOutTools(files, n);
    const repsFor = (name: string): number => reps[name as FanOutTool][index] ?? 0;
    // Warm each tool once, at the first host count where it runs.
    const m = await roundRobin(tools, repsFor, (name) => reps[name as FanOutTool].findIndex((r) => r > 0) === index);
    const row: FanOutRow = { tools: {}, rss_mb: { median: null, min: null, max: null, n: 0 }, phases: journalPhases(files.stateDir) };
    for (const [name, list] of Object.entries(m)) {
      if (list.length > 0) row.tools[name as FanOutTool] = { ...secondsSpread(list), cpu_s: round(medianCpu(list)) };
    }
    const rss = spread(m.runbook!.map((x) => x.maxrss_kb / 1024));
    row.rss_mb = { median: round(rss.median, 1), min: round(rss.min, 1), max: round(rss.max, 1), n: rss.n };
    results.rows[n] = row;
    log(
      `  ${Object.entries(row.tools)
        .map(([k, v]) => `${k} ${v.median_s}s`)
        .join(', ')}; runbook peak RSS ${row.rss_mb.median} MB`,
    );
  }
  const t = (n: number, tool: FanOutTool): number | null | undefined => results.rows[n]?.tools[tool]?.median_s;
  if (results.rows[20]) {
    results.at20 = {
      runbook_over_openssh_mux: ratio(t(20, 'runbook'), t(20, 'openssh_mux')),
      runbook_over_openssh_mux_curve25519: ratio(t(20, 'runbook'), t(20, 'openssh_mux_curve25519')),
      runbook_over_openssh_preopened_curve25519: ratio(t(20, 'runbook'), t(20, 'openssh_preopened_curve25519')),
      ansible_over_runbook: ratio(t(20, 'ansible'), t(20, 'runbook')),
      pssh_over_runbook: ratio(t(20, 'pssh'), t(20, 'runbook')),
    };
  }
  for (const [a, b] of hostCounts.slice(1).map((n, i) => [hostCounts[i]!, n] as const)) {
    const ta = t(a, 'runbook');
    const tb = t(b, 'runbook');
    results.marginal_ms_per_host_step[`${a}-${b}`] = ta && tb ? round(((tb - ta) / (b - a) / STEPS) * 1000, 2) : null;
  }
  return results;
}
