#!/usr/bin/env node
// Watchdog started (detached) by test/harness/util.ts: waits until the owner process is gone,
// then tears down whatever that process registered in /tmp/runbook-harness/registry and did not
// stop itself (vitest may end a worker with a signal, in which case 'exit' handlers never run).
// Usage: node reaper.mjs <ownerPid>
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = '/tmp/runbook-harness';
const owner = Number(process.argv[2]);

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}
const readProc = (pid, file) => {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
};
const startTime = (pid) => {
  const stat = readProc(pid, 'stat');
  return stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] : undefined;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pidsInMountNamespace(ns) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readlinkSync(`/proc/${e}/ns/mnt`) === ns) out.push(Number(e));
    } catch {
      // Already gone or not ours: nothing to clean.
    }
  }
  return out;
}

async function cleanup(entry) {
  const myNs = fs.readlinkSync('/proc/self/ns/mnt');
  const kill = (pid, sig) => {
    try {
      process.kill(pid, sig);
    } catch {
      // Already gone or not ours: nothing to clean.
    }
  };
  // Namespace numbers and pids are reused: kill only what still shows the lab's mark or the
  // recorded start time (the same rules as runCleanupSync in util.ts).
  for (const { ns, mark } of entry.mountNamespaces ?? []) {
    if (ns === myNs) continue;
    for (let i = 0; i < 20; i++) {
      const pids = pidsInMountNamespace(ns).filter((p) => readProc(p, 'mountinfo').includes(` ${mark} `));
      if (pids.length === 0) break;
      pids.forEach((p) => kill(p, 'SIGKILL'));
      await sleep(50);
    }
  }
  for (const { pid, start } of entry.processes ?? []) if (startTime(pid) === start) kill(pid, 'SIGKILL');
  const postmasters = [];
  for (const d of entry.pgDataDirs ?? []) {
    try {
      const pid = Number(fs.readFileSync(path.join(d, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0 && readProc(pid, 'cmdline').split('\0').includes(d)) {
        kill(pid, 'SIGQUIT');
        postmasters.push(pid);
      }
    } catch {
      // Already gone or not ours: nothing to clean.
    }
  }
  for (let i = 0; i < 60 && postmasters.some(isAlive); i++) await sleep(50);
  postmasters.forEach((p) => kill(p, 'SIGKILL'));
  for (const d of entry.dirs ?? []) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      // Already gone or not ours: nothing to clean.
    }
  }
  for (const [a, p] of entry.ports ?? []) {
    try {
      fs.unlinkSync(path.join(ROOT, 'ports', `${a}_${p}`));
    } catch {
      // Already gone or not ours: nothing to clean.
    }
  }
}

async function main() {
  while (isAlive(owner)) await sleep(500);
  const dir = path.join(ROOT, 'registry');
  let files = [];
  try {
    files = fs.readdirSync(dir).filter((f) => f.startsWith(`${owner}-`) && f.endsWith('.json'));
  } catch {
    return;
  }
  for (const f of files) {
    const full = path.join(dir, f);
    try {
      const { entry } = JSON.parse(fs.readFileSync(full, 'utf8'));
      await cleanup(entry);
      fs.unlinkSync(full);
    } catch {
      // Already gone or not ours: nothing to clean.
    }
  }
}
main().then(
  () => process.exit(0),
  () => process.exit(1),
);
