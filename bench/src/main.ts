/**
 * `npm run bench`: runbook beside OpenSSH (ControlMaster), parallel-ssh, Ansible and psql on a
 * loopback lab it brings up itself, in one run, so that every ratio compares figures taken on the
 * same machine at the same time. Writes bench/results.json and prints a table. See BENCHMARKS.md.
 *
 * Options: --quick (fewer repetitions, no 200 hosts), --no-install, --no-profile, --keep-profiles,
 * --only=fanout,sql,cold,profile, --out FILE.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_DIR, REPO, elapsedSeconds, log, parseOptions, wants, type BenchOptions } from './context.js';
import { startLab, stopLab } from './lab.js';
import { measureDiskFsync, round, toolVersion } from './measure.js';
import type { BenchResults, Machine } from './results.js';
import { formatTable } from './table.js';
import { judgeTargets } from './targets.js';
import { fanOutPlan, runFanOut } from './workloads/fanout.js';
import { runColdStart } from './workloads/cold.js';
import { runProfiles } from './workloads/profile.js';
import { runSql } from './workloads/sql.js';

function describeMachine(): Machine {
  const git = (...args: string[]): string => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout?.trim() ?? '';
  return {
    hostname: os.hostname(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory_gb: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()}`,
    distro: /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null,
    node: process.version,
    openssh: toolVersion('ssh', ['-V']),
    pssh: toolVersion('parallel-ssh', ['--version']),
    ansible: toolVersion('ansible-playbook', ['--version']),
    psql: toolVersion('psql', ['--version']),
    runbook: (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version,
    git_commit: git('rev-parse', '--short', 'HEAD') || null,
    git_dirty: git('status', '--porcelain', '--untracked-files=no') !== '',
    load_avg_at_start: os.loadavg().map((x) => round(x, 2)),
  };
}

function installTools(options: BenchOptions): void {
  if (!options.install) return;
  log('checking system packages (bench/install-deps.sh)');
  execFileSync('bash', [path.join(BENCH_DIR, 'install-deps.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    console.error('npm run bench must run as root: it starts sshd and PostgreSQL (see BENCHMARKS.md)');
    process.exit(2);
  }
  installTools(options);
  const results: BenchResults = { date: new Date().toISOString(), quick: options.quick, machine: describeMachine(), disk: {} };
  const hostCount = Math.max(...fanOutPlan(options.quick).hostCounts);
  try {
    const lab = await startLab(hostCount);
    results.disk.start = measureDiskFsync();
    if (wants(options, 'fanout')) results.fanout = await runFanOut(lab.ssh, options.quick);
    results.disk.after_fanout = measureDiskFsync();
    if (wants(options, 'sql')) results.sql = await runSql(lab.pg, options.quick);
    results.disk.after_sql = measureDiskFsync();
    if (wants(options, 'cold')) results.cold = await runColdStart(options.quick);
    if (wants(options, 'profile') && options.profile) results.profile = await runProfiles(options.keepProfiles);
    results.disk.end = measureDiskFsync();
    results.targets = judgeTargets(results);
    results.duration_s = round(elapsedSeconds(), 1);
    results.machine.load_avg_at_end = os.loadavg().map((x) => round(x, 2));
    writeFileSync(`${options.out}.tmp`, JSON.stringify(results, null, 2) + '\n');
    renameSync(`${options.out}.tmp`, options.out);
    console.log(formatTable(results));
    log(`wrote ${path.relative(process.cwd(), options.out)}`);
  } finally {
    await stopLab();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
});
