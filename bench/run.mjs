#!/usr/bin/env node
/**
 * `npm run bench`: runbook against OpenSSH (ControlMaster), parallel-ssh, Ansible and psql, on a
 * loopback lab this script brings up itself (the test harness's sshd hosts and PostgreSQL), in
 * one run, so that the ratios compare figures taken on the same machine at the same time.
 *
 * Workloads (see BENCHMARKS.md for the method):
 *   1+2. fan-out: 5 steps of `true` on N hosts in parallel, N = 1, 5, 20, 50 (20 is workload 1)
 *   3.   SQL step cost: 1 and 201 verification queries, runbook vs psql in one session
 *   4.   cold start: node -e 0, runbook --version, runbook list, dry-run of the largest runbook
 *   5.   peak RSS of the CLI for 1 and 2 (wait4 ru_maxrss, see measure.py)
 *   and a --cpu-prof profile of the runbook runs, summarised.
 *
 * Options: --quick (fewer repetitions, for trying the script), --no-install (skip apt),
 *          --no-profile, --out FILE (default bench/results.json).
 * Everything generated (runbooks, inventories, journals, ansible files) goes to a temp dir.
 */
import { execFile, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  fsyncSync,
  closeSync,
  openSync,
  writeSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  renameSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BENCH = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH, '..');
const CLI = path.join(REPO, 'bin', 'runbook.js');
const HARNESS = path.join(REPO, 'node_modules', '.cache', 'runbook-bench', 'test', 'harness');
const argv = new Set(process.argv.slice(2));
const QUICK = argv.has('--quick');
/** --only=fanout,sql,cold,profile runs a subset (for working on the script; the targets need all). */
const ONLY = (process.argv.find((a) => a.startsWith('--only=')) ?? '').slice('--only='.length).split(',').filter(Boolean);
const wanted = (name) => ONLY.length === 0 || ONLY.includes(name);
const outIndex = process.argv.indexOf('--out');
const OUT = outIndex > 0 ? path.resolve(process.argv[outIndex + 1]) : path.join(BENCH, 'results.json');
const HOST_COUNTS = [1, 5, 20, 50];
const MAX_HOSTS = Math.max(...HOST_COUNTS);
const STEPS = 5;

/**
 * Repetitions, after one untimed warm-up run of each tool (at the first host count only: the
 * warm-up fills the page cache; per-host state does not survive a run anyway). A tool that takes
 * seconds per run gets fewer repetitions so that the whole bench stays under ~10 minutes; the
 * measured runs alternate between the tools (round-robin), so drift in the machine's load hits
 * them alike. `--quick` is for trying the script, not for figures.
 */
const FANOUT_REPS = QUICK
  ? { runbook: [2, 2, 3, 2], openssh_mux: [2, 2, 3, 1], openssh_mux_curve25519: [0, 0, 3, 0], pssh: [1, 1, 2, 1], ansible: [1, 1, 1, 1] }
  : { runbook: [5, 5, 7, 5], openssh_mux: [5, 5, 7, 3], openssh_mux_curve25519: [0, 0, 7, 0], pssh: [3, 3, 3, 2], ansible: [2, 2, 3, 1] };
const REPS = QUICK ? { sql: 3, cold: 5 } : { sql: 7, cold: 11 };

const started = Date.now();
const log = (msg) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${msg}\n`);

// ---------------------------------------------------------------------------------------------
// Set-up: system packages, the compiled harness

if (process.getuid?.() !== 0) {
  console.error('npm run bench must run as root: it starts sshd and PostgreSQL (see BENCHMARKS.md)');
  process.exit(2);
}
if (!argv.has('--no-install')) {
  log('checking system packages (bench/install-deps.sh)');
  const r = spawnSync('bash', [path.join(BENCH, 'install-deps.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
if (!existsSync(path.join(HARNESS, 'sshd.js'))) {
  console.error(`the compiled test harness is missing (${HARNESS}): run \`npm run bench\`, which compiles it`);
  process.exit(2);
}
copyFileSync(path.join(REPO, 'test', 'harness', 'reaper.mjs'), path.join(HARNESS, 'reaper.mjs'));
const { startSshLab } = await import(pathToFileURL(path.join(HARNESS, 'sshd.js')).href);
const { startPostgres } = await import(pathToFileURL(path.join(HARNESS, 'postgres.js')).href);

// ---------------------------------------------------------------------------------------------
// Helpers

const TMP = mkdtempSync(path.join(os.tmpdir(), 'runbook-bench-'));
const HOME = path.join(TMP, 'home');
mkdirSync(HOME, { recursive: true });
/**
 * Every tool runs with this environment: its own HOME (root's ~/.bashrc and ~/.ssh/config stay
 * out of the measurement), no ssh-agent, no colours.
 */
const BASE_ENV = {
  PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
  HOME,
  LANG: 'C.UTF-8',
  NO_COLOR: '1',
  CI: 'true',
  TMPDIR: TMP,
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
const round = (x, digits = 3) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(digits)));

/** Runs a command under measure.py: wall time (s), peak RSS (KiB), CPU time. Rejects on failure. */
async function measure(cmd, args, { env = {}, cwd = TMP, label = cmd, stdoutFile } = {}) {
  const out = stdoutFile ?? path.join(TMP, 'last-output.txt');
  const { stdout } = await run('python3', [path.join(BENCH, 'measure.py'), '--cwd', cwd, '--stdout', out, '--', cmd, ...args], {
    env: { ...BASE_ENV, ...env },
    maxBuffer: 1 << 20,
  });
  const m = JSON.parse(stdout);
  if (m.rc !== 0) {
    const text = (existsSync(out) ? readFileSync(out, 'utf8') : '') + (existsSync(`${out}.err`) ? readFileSync(`${out}.err`, 'utf8') : '');
    throw new Error(`${label} exited ${m.rc}:\n${text.slice(-3000)}`);
  }
  return m;
}

/**
 * Round-robin repetitions: each tool once (untimed warm-up), then `reps` rounds of every tool.
 * Returns per tool the list of measurements.
 */
async function roundRobin(tools, repsFor, warmUp = () => true) {
  const results = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
  for (const [name, t] of Object.entries(tools)) {
    if (!warmUp(name)) continue;
    log(`  warm-up ${name}`);
    await t();
  }
  const maxReps = Math.max(...Object.keys(tools).map(repsFor));
  for (let rep = 0; rep < maxReps; rep++) {
    for (const [name, t] of Object.entries(tools)) {
      if (rep >= repsFor(name)) continue;
      results[name].push(await t());
    }
  }
  return results;
}

const toolVersion = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: BASE_ENV });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? null;
};

// ---------------------------------------------------------------------------------------------
// The lab

let lab;
let pg;
let cleaning = false;
async function cleanup() {
  if (cleaning) return;
  cleaning = true;
  await Promise.all([lab?.stop().catch(() => undefined), pg?.stop().catch(() => undefined)]);
  rmSync(TMP, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`${sig}: stopping the lab`);
    void cleanup().then(() => process.exit(130));
  });
}

const results = {
  date: new Date().toISOString(),
  machine: {
    hostname: os.hostname(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory_gb: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()}`,
    distro: (readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)/m) ?? [])[1] ?? null,
    node: process.version,
    openssh: toolVersion('ssh', ['-V']),
    pssh: toolVersion('parallel-ssh', ['--version']),
    ansible: toolVersion('ansible-playbook', ['--version']),
    psql: toolVersion('psql', ['--version']),
    runbook: JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).version,
    git_commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).stdout.trim() || null,
    load_avg_at_start: os.loadavg().map((x) => round(x, 2)),
  },
  repetitions: {
    fanout_by_host_count: Object.fromEntries(
      Object.entries(FANOUT_REPS).map(([k, v]) => [k, Object.fromEntries(HOST_COUNTS.map((n, i) => [n, v[i]]))]),
    ),
    ...REPS,
    warmup: 'one untimed run of each tool, at the first host count',
    quick: QUICK,
  },
};

// ---------------------------------------------------------------------------------------------
// Workloads 1, 2 and 5: fan-out

function sshOptions() {
  return [
    '-F',
    '/dev/null',
    '-i',
    lab.clientKeyPath,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${lab.knownHostsPath}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=30',
    '-o',
    'LogLevel=ERROR',
  ];
}
const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

function writeFanOutFiles(n) {
  const dir = path.join(TMP, `fanout-${n}`);
  mkdirSync(dir, { recursive: true });
  const hosts = lab.hosts.slice(0, n);

  // runbook: an inventory and a runbook of 5 steps, each `true` on every host, all at once.
  const inventory = path.join(dir, 'inventory.yaml');
  writeFileSync(
    inventory,
    [
      `name: bench ${n} hosts`,
      'ssh:',
      `  knownHostsFile: ${lab.knownHostsPath}`,
      `  configFile: /dev/null`,
      '  connectTimeout: 30s',
      'hosts:',
      ...hosts.map((h) => `  ${h.name}: { address: ${h.address}, port: ${h.port}, user: ${lab.user}, identityFile: ${lab.clientKeyPath} }`),
      'roles:',
      `  hosts: [${hosts.map((h) => h.name).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const runbook = path.join(dir, 'bench-fanout.yaml');
  writeFileSync(
    runbook,
    [
      'id: bench-fanout',
      `title: Benchmark fan-out (${STEPS} steps of true on every host)`,
      'version: 1.0.0',
      'source: { document: bench/run.mjs }',
      'targets:',
      '  hosts: { type: hosts, description: every lab host }',
      'steps:',
      ...Array.from({ length: STEPS }, (_, i) =>
        [
          `  - id: step-${i + 1}`,
          `    title: Round ${i + 1}`,
          '    kind: ssh',
          '    target: hosts',
          `    fanOut: { mode: parallel, limit: ${n} }`,
          "    command: 'true'",
        ].join('\n'),
      ),
      '',
    ].join('\n'),
  );

  // OpenSSH with ControlMaster: all masters in parallel, then 5 parallel rounds, then -O exit.
  const opts = sshOptions().map(shq).join(' ');
  const lines = ['#!/bin/sh', '# OpenSSH multiplexed: the practical floor', 'set -u', 'D="$1"; shift', `KEX="$*"`, 'fail=0'];
  const target = (h) => `-p ${h.port} ${lab.user}@${h.address}`;
  const parallel = (make) => {
    hosts.forEach((h, i) => lines.push(`${make(h)} & p${i}=$!`));
    hosts.forEach((_, i) => lines.push(`wait $p${i} || fail=1`));
  };
  parallel((h) => `ssh ${opts} $KEX -o ControlMaster=yes -o ControlPersist=yes -o "ControlPath=$D/%C" -f -N ${target(h)}`);
  for (let r = 0; r < STEPS; r++) parallel((h) => `ssh ${opts} $KEX -o "ControlPath=$D/%C" ${target(h)} true`);
  parallel((h) => `ssh ${opts} -o "ControlPath=$D/%C" -O exit ${target(h)} 2>/dev/null`);
  lines.push('exit $fail', '');
  const mux = path.join(dir, 'openssh-mux.sh');
  writeFileSync(mux, lines.join('\n'), { mode: 0o755 });

  // parallel-ssh: one invocation per step, every host at once (new connections each time).
  const hostsFile = path.join(dir, 'pssh-hosts');
  writeFileSync(hostsFile, hosts.map((h) => `${lab.user}@${h.address}:${h.port}`).join('\n') + '\n');
  const psshLines = ['#!/bin/sh', 'set -e'];
  for (let r = 0; r < STEPS; r++) {
    psshLines.push(`parallel-ssh -h ${shq(hostsFile)} -p ${n} -t 60 -x ${shq(sshOptions().map(shq).join(' '))} true`);
  }
  const pssh = path.join(dir, 'pssh.sh');
  writeFileSync(pssh, psshLines.join('\n') + '\n', { mode: 0o755 });

  // Ansible: forks = N, pipelining, ControlPersist, facts off, `command` tasks.
  const ini = path.join(dir, 'ansible-inventory.ini');
  writeFileSync(
    ini,
    [
      '[lab]',
      ...hosts.map((h) => `${h.name} ansible_host=${h.address} ansible_port=${h.port}`),
      '[lab:vars]',
      `ansible_user=${lab.user}`,
      `ansible_ssh_private_key_file=${lab.clientKeyPath}`,
      '',
    ].join('\n'),
  );
  const cfg = path.join(dir, 'ansible.cfg');
  writeFileSync(
    cfg,
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
  writeFileSync(
    playbook,
    [
      '- hosts: lab',
      '  gather_facts: false',
      '  tasks:',
      ...Array.from({ length: STEPS }, (_, i) => `    - name: round ${i + 1}\n      command: /bin/true`),
      '',
    ].join('\n'),
  );
  return { dir, inventory, runbook, mux, pssh, cfg, playbook, stateDir: path.join(dir, 'state') };
}

/** Closes the ControlPersist masters a run left in a control directory (by their sockets). */
async function closeMasters(controlDir) {
  if (!existsSync(controlDir)) return;
  await Promise.all(
    readdirSync(controlDir).map((sock) =>
      run('ssh', ['-F', '/dev/null', '-o', `ControlPath=${path.join(controlDir, sock)}`, '-O', 'exit', 'placeholder'], {
        env: BASE_ENV,
      }).catch(() => undefined),
    ),
  );
  rmSync(controlDir, { recursive: true, force: true });
}

let controlDirs = 0;
function fanOutTools(f, n) {
  const runbook = () =>
    measure('node', [CLI, 'exec', f.runbook, '-i', f.inventory, '--yes', '--state-dir', f.stateDir], {
      label: `runbook exec (${n} hosts)`,
    });
  const muxWith = (kex) => async () => {
    const d = path.join(TMP, `cm${++controlDirs}`);
    mkdirSync(d);
    try {
      return await measure('sh', [f.mux, d, ...kex], { label: `openssh mux (${n} hosts)` });
    } finally {
      await closeMasters(d);
    }
  };
  const pssh = () => measure('sh', [f.pssh], { label: `parallel-ssh (${n} hosts)` });
  const ansible = async () => {
    const d = path.join(TMP, `cm${++controlDirs}`);
    mkdirSync(d);
    try {
      return await measure('ansible-playbook', [f.playbook], {
        label: `ansible-playbook (${n} hosts)`,
        env: { ANSIBLE_CONFIG: f.cfg, ANSIBLE_SSH_CONTROL_PATH_DIR: d, ANSIBLE_NOCOLOR: '1' },
      });
    } finally {
      await closeMasters(d);
    }
  };
  const tools = { runbook, openssh_mux: muxWith([]), pssh, ansible };
  // Beside the default key exchange (sntrup761x25519 in OpenSSH 9.2), the same floor with
  // curve25519, which is what ssh2 (runbook) negotiates: shows how much is the key exchange.
  if (n === 20) tools.openssh_mux_curve25519 = muxWith(['-o', 'KexAlgorithms=curve25519-sha256']);
  return tools;
}

async function fanOutWorkloads() {
  results.scaling = {};
  results.scaling_all = {};
  results.rss_mb = {};
  results.rss_detail = {};
  for (const n of HOST_COUNTS) {
    log(`fan-out: ${STEPS} steps x ${n} host(s)`);
    const f = writeFanOutFiles(n);
    const tools = fanOutTools(f, n);
    const index = HOST_COUNTS.indexOf(n);
    const m = await roundRobin(
      tools,
      (name) => FANOUT_REPS[name][index],
      (name) => index === 0 || FANOUT_REPS[name].findIndex((r) => r > 0) === index,
    );
    const row = {};
    for (const [name, list] of Object.entries(m)) {
      const s = stats(list.map((x) => x.wall_s));
      row[name] = {
        median_s: round(s.median),
        min_s: round(s.min),
        max_s: round(s.max),
        n: s.n,
        cpu_s: round(median(list.map((x) => x.user_s + x.sys_s))),
      };
    }
    results.scaling_all[n] = row;
    results.scaling[n] = row.runbook.median_s;
    const rss = stats(m.runbook.map((x) => x.maxrss_kb / 1024));
    results.rss_mb[n] = round(rss.median, 1);
    results.rss_detail[n] = { median: round(rss.median, 1), min: round(rss.min, 1), max: round(rss.max, 1), n: rss.n };
    results.phases ??= {};
    results.phases[n] = journalPhases(f.stateDir);
    log(
      `  ${Object.entries(row)
        .map(([k, v]) => `${k} ${v.median_s}s`)
        .join(', ')}; runbook peak RSS ${results.rss_mb[n]} MB`,
    );
    if (n === 20) {
      results.fanout20 = {
        runbook_s: row.runbook.median_s,
        openssh_mux_s: row.openssh_mux.median_s,
        pssh_s: row.pssh.median_s,
        ansible_s: row.ansible.median_s,
        openssh_mux_curve25519_s: row.openssh_mux_curve25519.median_s,
        detail: row,
        ratios: {
          runbook_over_openssh_mux: round(row.runbook.median_s / row.openssh_mux.median_s, 2),
          runbook_over_openssh_mux_curve25519: round(row.runbook.median_s / row.openssh_mux_curve25519.median_s, 2),
          ansible_over_runbook: round(row.ansible.median_s / row.runbook.median_s, 2),
          pssh_over_runbook: round(row.pssh.median_s / row.runbook.median_s, 2),
        },
      };
    }
  }
}

/**
 * Where the time of the last runbook run went, from its journal: from process start (the
 * run-started event is written after planning) to each step's end. Step 1 includes opening
 * every connection (they open on first use).
 */
function journalPhases(stateDir) {
  try {
    const runs = readdirSync(path.join(stateDir, 'runs'))
      .map((r) => path.join(stateDir, 'runs', r))
      .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
    const last = runs.at(-1);
    const events = readFileSync(path.join(last, 'events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const t0 = Date.parse(events[0].time);
    const steps = events
      .filter((e) => e.type === 'step-finished')
      .map((e) => ({ step: e.stepId, end_ms: Date.parse(e.time) - t0, duration_ms: e.durationMs }));
    return { events: events.length, run_started_to_finished_ms: Date.parse(events.at(-1).time) - t0, steps };
  } catch (error) {
    return { error: String(error) };
  }
}

// ---------------------------------------------------------------------------------------------
// Workload 3: SQL step cost

async function sqlWorkload() {
  log('SQL: 1 and 201 verification queries, runbook vs psql');
  const dbPassword = 'bench-pw-1';
  await pg.query('postgres', `create role bench login password '${dbPassword}'`);
  await pg.createDatabase('bench', 'bench');
  await pg.query('bench', 'create table items(id int primary key, v text)');
  await pg.query('bench', "insert into items select g, 'item ' || g from generate_series(1, 1000) g");
  await pg.query('bench', 'alter table items owner to bench');
  await pg.query('bench', 'analyze items');
  const dir = path.join(TMP, 'sql');
  mkdirSync(dir, { recursive: true });
  const query = 'select count(*) as n from items where id <= 10';
  const inventory = path.join(dir, 'inventory.yaml');
  writeFileSync(
    inventory,
    [
      'name: bench database',
      'databases:',
      `  benchdb: { host: ${pg.host}, port: ${pg.port}, database: bench, user: bench, password: { env: BENCH_DB_PASSWORD } }`,
      'roles:',
      '  db: benchdb',
      '',
    ].join('\n'),
  );
  const files = {};
  for (const count of [1, 201]) {
    const runbook = path.join(dir, `bench-sql-${count}.yaml`);
    writeFileSync(
      runbook,
      [
        `id: bench-sql-${count}`,
        `title: Benchmark ${count} SQL verification step(s)`,
        'version: 1.0.0',
        'source: { document: bench/run.mjs }',
        'targets:',
        '  db: { type: database }',
        'steps:',
        ...Array.from({ length: count }, (_, i) =>
          [
            `  - id: check-${i + 1}`,
            `    title: Verification ${i + 1}`,
            '    kind: sql',
            '    target: db',
            '    readOnly: true',
            `    sql: ${query}`,
            '    expect: { rows: 1 }',
          ].join('\n'),
        ),
        '',
      ].join('\n'),
    );
    const sqlFile = path.join(dir, `psql-${count}.sql`);
    writeFileSync(sqlFile, `${query};\n`.repeat(count));
    files[count] = { runbook, sqlFile, stateDir: path.join(dir, `state-${count}`) };
  }
  const env = { BENCH_DB_PASSWORD: dbPassword, PGPASSWORD: dbPassword };
  const rb = (count) => () =>
    measure('node', [CLI, 'exec', files[count].runbook, '-i', inventory, '--yes', '--state-dir', files[count].stateDir], {
      env,
      label: `runbook ${count} SQL steps`,
    });
  const psql = (count) => () =>
    measure(
      'psql',
      [
        '-X',
        '-q',
        '-A',
        '-t',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        pg.host,
        '-p',
        String(pg.port),
        '-U',
        'bench',
        '-d',
        'bench',
        '-f',
        files[count].sqlFile,
      ],
      {
        env,
        label: `psql ${count} statements`,
      },
    );
  const m = await roundRobin({ runbook_1: rb(1), runbook_201: rb(201), psql_1: psql(1), psql_201: psql(201) }, () => REPS.sql);
  const wall = (k) => m[k].map((x) => x.wall_s);
  // Per extra step, paired by repetition (the four runs of a repetition ran back to back).
  const perStep = (a, b) => wall(b).map((t, i) => ((t - wall(a)[i]) / 200) * 1000);
  const rbPer = stats(perStep('runbook_1', 'runbook_201'));
  const psqlPer = stats(perStep('psql_1', 'psql_201'));
  const detail = Object.fromEntries(
    Object.keys(m).map((k) => [
      k,
      (({ median: md, min, max, n }) => ({ median_s: round(md), min_s: round(min), max_s: round(max), n }))(stats(wall(k))),
    ]),
  );
  results.sql = {
    runbook_ms_per_step: round(((median(wall('runbook_201')) - median(wall('runbook_1'))) / 200) * 1000, 2),
    psql_ms_per_statement: round(((median(wall('psql_201')) - median(wall('psql_1'))) / 200) * 1000, 3),
    runbook_ms_per_step_paired: { median: round(rbPer.median, 2), min: round(rbPer.min, 2), max: round(rbPer.max, 2) },
    psql_ms_per_statement_paired: { median: round(psqlPer.median, 3), min: round(psqlPer.min, 3), max: round(psqlPer.max, 3) },
    runbook_1_s: detail.runbook_1.median_s,
    runbook_201_s: detail.runbook_201.median_s,
    psql_1_s: detail.psql_1.median_s,
    psql_201_s: detail.psql_201.median_s,
    runbook_201_cpu_s: round(median(m.runbook_201.map((x) => x.user_s + x.sys_s))),
    detail,
    journal: journalPhases(files[201].stateDir),
  };
  results.sql.breakdown = await sqlBreakdown(files, inventory, env);
  delete results.sql.journal.steps;
  log(`  runbook ${results.sql.runbook_ms_per_step} ms/step, psql ${results.sql.psql_ms_per_statement} ms/statement`);
}

/**
 * Diagnostics for the per-step figure (not targets): the same runs with the journal on tmpfs
 * (/dev/shm: fsync costs nothing there, so the difference is the journal's fsyncs), and the
 * dry-runs of the two runbooks (load, validation and planning of the extra steps, no execution).
 */
async function sqlBreakdown(files, inventory, env) {
  if (!existsSync('/dev/shm')) return null;
  log('  SQL breakdown: journal on tmpfs, and dry-runs');
  const shm = mkdtempSync('/dev/shm/runbook-bench-');
  try {
    const reps = QUICK ? 2 : 5;
    const exec = (count, stateDir) => () =>
      measure('node', [CLI, 'exec', files[count].runbook, '-i', inventory, '--yes', '--state-dir', stateDir], {
        env,
        label: `runbook ${count} SQL steps (tmpfs)`,
      });
    const dry = (count) => () =>
      measure('node', [CLI, 'exec', files[count].runbook, '--dry-run', '-i', inventory], { env, label: `dry-run ${count} SQL steps` });
    const m = await roundRobin(
      { tmpfs_1: exec(1, path.join(shm, 's1')), tmpfs_201: exec(201, path.join(shm, 's201')), dryrun_1: dry(1), dryrun_201: dry(201) },
      () => reps,
      () => false,
    );
    const med = (k) => median(m[k].map((x) => x.wall_s));
    return {
      journal_on_tmpfs_ms_per_step: round(((med('tmpfs_201') - med('tmpfs_1')) / 200) * 1000, 2),
      dryrun_ms_per_step: round(((med('dryrun_201') - med('dryrun_1')) / 200) * 1000, 2),
      tmpfs_1_s: round(med('tmpfs_1')),
      tmpfs_201_s: round(med('tmpfs_201')),
      dryrun_1_s: round(med('dryrun_1')),
      dryrun_201_s: round(med('dryrun_201')),
      n: reps,
      runbook_201_bytes: statSync(files[201].runbook).size,
    };
  } finally {
    rmSync(shm, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Workload 4: cold start

/** The largest runbook shipped in src/runbooks, with its inventory fixture if there is one. */
function largestShippedRunbook() {
  const dir = path.join(REPO, 'src', 'runbooks');
  const found = [];
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) found.push({ file: p, size: statSync(p).size });
    }
  };
  walk(dir);
  found.sort((a, b) => b.size - a.size);
  for (const f of found) {
    const id = (readFileSync(f.file, 'utf8').match(/^id:\s*['"]?([A-Za-z0-9_-]+)/m) ?? [])[1];
    const inv = ['yaml', 'yml'].map((ext) => path.join(REPO, 'fixtures', 'inventories', `${id}.${ext}`)).find(existsSync);
    if (inv) return { file: f.file, id, inventory: inv, size: f.size, shipped: true };
  }
  // Nothing shipped yet: the example runbook (every step kind) stands in.
  return {
    file: path.join(REPO, 'fixtures', 'example', 'example-maintenance.yaml'),
    inventory: path.join(REPO, 'fixtures', 'inventories', 'example.yaml'),
    size: statSync(path.join(REPO, 'fixtures', 'example', 'example-maintenance.yaml')).size,
    id: null,
    shipped: false,
  };
}

function yamlBytes(dir) {
  try {
    return readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .reduce((sum, f) => sum + statSync(path.join(dir, f)).size, 0);
  } catch {
    return 0;
  }
}

function listCount() {
  try {
    return JSON.parse(spawnSync('node', [CLI, 'list', '--json'], { encoding: 'utf8', env: BASE_ENV }).stdout).length;
  } catch {
    return null;
  }
}

async function coldStart() {
  const largest = largestShippedRunbook();
  // As operators type it (by id, which finds the runbook in the catalog), and by path.
  const dryArgs = [CLI, 'exec', largest.id ?? largest.file, '--dry-run', '-i', largest.inventory];
  const dryPathArgs = [CLI, 'exec', largest.file, '--dry-run', '-i', largest.inventory];
  log(
    `cold start (dry-run of ${path.relative(REPO, largest.file)}${largest.shipped ? '' : ', no shipped runbook has an inventory fixture yet'})`,
  );
  const m = await roundRobin(
    {
      node: () => measure('node', ['-e', '0']),
      version: () => measure('node', [CLI, '--version'], { label: 'runbook --version' }),
      list: () => measure('node', [CLI, 'list'], { label: 'runbook list' }),
      dryrun: () => measure('node', dryArgs, { label: 'runbook exec --dry-run' }),
      dryrun_by_path: () => measure('node', dryPathArgs, { label: 'runbook exec <file> --dry-run' }),
      // The same without the cache of validated runbooks: what the first start after an
      // install or an edit costs (full YAML parse and schema check).
      list_no_cache: () => measure('node', [CLI, 'list'], { env: { RUNBOOK_NO_CACHE: '1' }, label: 'runbook list (no cache)' }),
      dryrun_no_cache: () => measure('node', dryArgs, { env: { RUNBOOK_NO_CACHE: '1' }, label: 'runbook exec --dry-run (no cache)' }),
    },
    () => REPS.cold,
  );
  const ms = (k) => stats(m[k].map((x) => x.wall_s * 1000));
  const detail = Object.fromEntries(
    Object.keys(m).map((k) => [
      k,
      (({ median: md, min, max, n }) => ({ median_ms: round(md, 1), min_ms: round(min, 1), max_ms: round(max, 1), n }))(ms(k)),
    ]),
  );
  results.cold = {
    version_ms: detail.version.median_ms,
    list_ms: detail.list.median_ms,
    dryrun_ms: detail.dryrun.median_ms,
    node_ms: detail.node.median_ms,
    dryrun_runbook: path.relative(REPO, largest.file),
    dryrun_command: `runbook exec ${largest.id ?? path.relative(REPO, largest.file)} --dry-run -i ${path.relative(REPO, largest.inventory)}`,
    dryrun_by_path_ms: detail.dryrun_by_path.median_ms,
    list_no_cache_ms: detail.list_no_cache.median_ms,
    dryrun_no_cache_ms: detail.dryrun_no_cache.median_ms,
    list_bytes: yamlBytes(path.join(REPO, 'src', 'runbooks')),
    dryrun_runbook_bytes: largest.size,
    dryrun_runbook_shipped: largest.shipped,
    list_count: listCount(),
    detail,
  };
  log(
    `  node ${detail.node.median_ms} ms, --version ${detail.version.median_ms} ms, list ${detail.list.median_ms} ms, dry-run ${detail.dryrun.median_ms} ms`,
  );
}

// ---------------------------------------------------------------------------------------------
// Profiles

/**
 * A V8 .cpuprofile summarised: self time by module and by function, and inclusive time of the
 * project's own functions (dist/) and of each dependency entered from them, counting a sample
 * once per function on its stack. "(idle)" is waiting on I/O; fsync/writeBuffer are sync calls.
 */
function summariseProfile(file) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const repoUrl = pathToFileURL(REPO).href + '/';
  const moduleOf = (url, name) => {
    if (!url) return name.startsWith('(') ? name : '(native/builtin)';
    if (url.startsWith('node:')) return 'node internals';
    const nm = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
    if (nm) return nm[1];
    return url.replace(repoUrl, '');
  };
  const frameKey = (cf) => `${cf.functionName || '(anonymous)'} ${moduleOf(cf.url, cf.functionName)}:${cf.lineNumber + 1}`;
  const self = new Map();
  const mod = new Map();
  const incl = new Map();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const us = prof.timeDeltas[i] ?? 0;
    total += us;
    const cf = byId.get(id).callFrame;
    const m = moduleOf(cf.url, cf.functionName);
    mod.set(m, (mod.get(m) ?? 0) + us);
    const key = frameKey(cf);
    self.set(key, (self.get(key) ?? 0) + us);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur).callFrame;
      const isOwn = f.url.startsWith(repoUrl) && !f.url.includes('/node_modules/');
      const k = isOwn ? frameKey(f) : f.url.includes('/node_modules/') ? `[${moduleOf(f.url, '')}] (all of it)` : null;
      if (k && !seen.has(k)) {
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + us);
      }
    }
  });
  const top = (map, k) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, us]) => ({ name, ms: round(us / 1000, 1), pct: round((100 * us) / total, 1) }));
  return { sampled_ms: round(total / 1000, 1), by_module: top(mod, 12), top_functions: top(self, 15), inclusive: top(incl, 20) };
}

async function profiles() {
  log('profiles (--cpu-prof)');
  const out = {};
  const cases = {
    fanout20: {
      args: [
        'exec',
        path.join(TMP, 'fanout-20', 'bench-fanout.yaml'),
        '-i',
        path.join(TMP, 'fanout-20', 'inventory.yaml'),
        '--yes',
        '--state-dir',
        path.join(TMP, 'prof-state'),
      ],
    },
    sql201: {
      args: [
        'exec',
        path.join(TMP, 'sql', 'bench-sql-201.yaml'),
        '-i',
        path.join(TMP, 'sql', 'inventory.yaml'),
        '--yes',
        '--state-dir',
        path.join(TMP, 'prof-state'),
      ],
      env: { BENCH_DB_PASSWORD: 'bench-pw-1' },
    },
    version: { args: ['--version'] },
    list: { args: ['list'] },
    dryrun: {
      args: ['exec', largestShippedRunbook().id ?? largestShippedRunbook().file, '--dry-run', '-i', largestShippedRunbook().inventory],
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    if (c.args[0] === 'exec' && c.args[1].startsWith(TMP) && !existsSync(c.args[1])) continue;
    const dir = path.join(TMP, `prof-${name}`);
    mkdirSync(dir, { recursive: true });
    const m = await measure('node', ['--cpu-prof', '--cpu-prof-dir', dir, CLI, ...c.args], { env: c.env ?? {}, label: `profile ${name}` });
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    out[name] = { wall_s: round(m.wall_s), cpu_s: round(m.user_s + m.sys_s), ...summariseProfile(path.join(dir, file)) };
    const keep = path.join(BENCH, 'profiles');
    if (argv.has('--keep-profiles')) {
      mkdirSync(keep, { recursive: true });
      copyFileSync(path.join(dir, file), path.join(keep, `${name}.cpuprofile`));
    }
  }
  results.profile = out;
}

/** The cost of one fsync of an appended line on the state directory's disk (the journal's). */
function diskFsync() {
  const file = path.join(TMP, 'fsync-probe');
  const fd = openSync(file, 'a');
  const n = 100;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    writeSync(fd, `{"type":"probe","i":${i}}\n`);
    fsyncSync(fd);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
  closeSync(fd);
  return {
    fsync_ms: round(ms, 3),
    filesystem: spawnSync('df', ['-T', TMP], { encoding: 'utf8' }).stdout.trim().split('\n')[1]?.split(/\s+/)[1] ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// Targets and the table

function targets() {
  const t = [
    ['fan-out 20: runbook / OpenSSH-mux', results.fanout20?.ratios.runbook_over_openssh_mux, '<=', 1.0],
    ['fan-out 20: Ansible / runbook', results.fanout20?.ratios.ansible_over_runbook, '>=', 10],
    ['SQL: ms per extra step', results.sql?.runbook_ms_per_step, '<=', 2],
    ['runbook --version (ms)', results.cold?.version_ms, '<=', 150],
    ['runbook list (ms)', results.cold?.list_ms, '<=', 250],
    ['largest dry-run (ms)', results.cold?.dryrun_ms, '<=', 400],
    ['peak RSS at 50 hosts (MB)', results.rss_mb?.[50], '<=', 150],
  ];
  return t.map(([name, value, op, limit]) => ({
    name,
    value: value ?? null,
    target: `${op} ${limit}`,
    met: value === undefined || value === null ? null : op === '<=' ? value <= limit : value >= limit,
  }));
}

function printTable() {
  const out = [];
  const pad = (s, w) => String(s ?? '-').padEnd(w);
  const lpad = (s, w) => String(s ?? '-').padStart(w);
  const range = (v) => (v ? `${v.median_s.toFixed(3)} (${v.min_s.toFixed(3)}-${v.max_s.toFixed(3)}, n=${v.n})` : '-');
  const m = results.machine;
  out.push('', `runbook benchmark, ${results.date}, ${m.cpu} x${m.cores}, ${m.memory_gb} GB, ${m.distro}, node ${m.node}`);
  if (results.scaling_all) {
    out.push('', `Fan-out: ${STEPS} steps of \`true\` on N hosts, whole process, seconds: median (min-max, n)`);
    const tools = ['runbook', 'openssh_mux', 'pssh', 'ansible'];
    out.push(`${pad('hosts', 6)}${tools.map((t) => pad(t, 30)).join('')}runbook peak RSS MB`);
    for (const n of HOST_COUNTS) {
      const row = results.scaling_all[n];
      out.push(`${pad(n, 6)}${tools.map((t) => pad(range(row[t]), 30)).join('')}${lpad(results.rss_mb[n], 8)}`);
    }
    const f = results.fanout20;
    out.push(`20 hosts, OpenSSH mux with curve25519 kex: ${range(f.detail.openssh_mux_curve25519)}`);
    out.push(
      `ratios at 20 hosts: runbook/openssh-mux ${f.ratios.runbook_over_openssh_mux}, runbook/openssh-mux(curve25519) ${f.ratios.runbook_over_openssh_mux_curve25519}, ansible/runbook ${f.ratios.ansible_over_runbook}, pssh/runbook ${f.ratios.pssh_over_runbook}`,
    );
  }
  const s = results.sql;
  if (s) {
    out.push('', 'SQL: seconds, median (min-max, n)');
    for (const k of ['runbook_1', 'runbook_201', 'psql_1', 'psql_201']) out.push(`  ${pad(k, 14)}${range(s.detail[k])}`);
    out.push(
      `  per extra step: runbook ${s.runbook_ms_per_step} ms, psql ${s.psql_ms_per_statement} ms (one fsync of an appended line here: ${results.disk.before_sql.fsync_ms} ms before, ${results.disk.after_sql.fsync_ms} ms after)`,
    );
    if (s.breakdown) {
      const b = s.breakdown;
      out.push(
        `  breakdown: with the journal on tmpfs ${b.journal_on_tmpfs_ms_per_step} ms/step (the journal's fsyncs ~${round(s.runbook_ms_per_step - b.journal_on_tmpfs_ms_per_step, 2)} ms/step); dry-run (load, validate, plan) ${b.dryrun_ms_per_step} ms/step`,
      );
    }
  }
  const c = results.cold;
  if (c) {
    out.push('', 'Cold start, ms: median (min-max, n)');
    const names = {
      node: 'node -e 0',
      version: 'runbook --version',
      list: `runbook list (${c.list_count} runbooks, ${Math.round(c.list_bytes / 1024)} KiB of YAML)`,
      dryrun: c.dryrun_command,
      dryrun_by_path: 'the same dry-run, runbook given by path',
      list_no_cache: 'runbook list, RUNBOOK_NO_CACHE=1 (first start after an edit)',
      dryrun_no_cache: 'the dry-run by id, RUNBOOK_NO_CACHE=1',
    };
    for (const k of Object.keys(names)) {
      const v = c.detail[k];
      out.push(`  ${pad(names[k], 78)}${v.median_ms} (${v.min_ms}-${v.max_ms}, n=${v.n})`);
    }
  }
  out.push('', 'Targets');
  for (const t of results.targets)
    out.push(
      `  ${t.met === null ? 'not run' : t.met ? 'met    ' : 'MISSED '} ${pad(t.name, 36)} ${lpad(t.value, 8)}  (target ${t.target})`,
    );
  if (results.profile) {
    out.push('', 'CPU profile (self time by module, top 5)');
    for (const [name, p] of Object.entries(results.profile)) {
      out.push(
        `  ${pad(name, 9)} wall ${p.wall_s}s cpu ${p.cpu_s}s: ${p.by_module
          .slice(0, 5)
          .map((x) => `${x.name} ${x.ms}ms`)
          .join(', ')}`,
      );
    }
  }
  out.push('', `total bench time ${results.duration_s}s`);
  console.log(out.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Main (last, so that every declaration above is initialised)

try {
  log(`starting ${MAX_HOSTS} sshd hosts and PostgreSQL (temp dir ${TMP})`);
  const hostSpecs = Array.from({ length: MAX_HOSTS }, (_, i) => ({
    name: `h${String(i + 1).padStart(2, '0')}`,
    address: `127.0.60.${i + 1}`,
  }));
  [lab, pg] = await Promise.all([startSshLab({ hosts: hostSpecs }), startPostgres({ settings: { max_connections: 50 } })]);
  log(`lab up: sshd on 127.0.60.1-${MAX_HOSTS}:${lab.port}, PostgreSQL on ${pg.host}:${pg.port}`);

  results.disk = { before_fanout: diskFsync() };
  if (wanted('fanout')) await fanOutWorkloads();
  results.disk.before_sql = diskFsync();
  if (wanted('sql')) await sqlWorkload();
  results.disk.after_sql = diskFsync();
  if (wanted('cold')) await coldStart();
  if (wanted('profile') && !argv.has('--no-profile')) await profiles();
  results.disk.end = diskFsync();
  results.targets = targets();
  results.duration_s = round((Date.now() - started) / 1000, 1);
  results.machine.load_avg_at_end = os.loadavg().map((x) => round(x, 2));
  writeFileSync(`${OUT}.tmp`, JSON.stringify(results, null, 2) + '\n');
  renameSync(`${OUT}.tmp`, OUT);
  printTable();
  log(`wrote ${path.relative(process.cwd(), OUT)}`);
} catch (error) {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
} finally {
  await cleanup();
}
