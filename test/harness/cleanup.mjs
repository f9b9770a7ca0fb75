// The cleanup rules of the test harness, in plain JavaScript so that both the harness (through
// util.ts, at exit and when it reaps stale labs) and the detached watchdog reaper.mjs (run by a
// bare `node`, without the TypeScript loader) apply the same ones. Types: cleanup.d.mts.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const HARNESS_ROOT = '/tmp/runbook-harness';
export const PORTS_DIR = path.join(HARNESS_ROOT, 'ports');
export const REGISTRY_DIR = path.join(HARNESS_ROOT, 'registry');

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Synchronous sleep, for exit handlers and the reaper only. */
export function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The start time of a process (field 22 of /proc/<pid>/stat), or undefined when it is gone. */
export function processStartTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True when `pid` shows `mark` in its mount table (so it lives in the namespace that mounted it). */
function showsMount(pid, mark) {
  try {
    return fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').includes(` ${mark} `);
  } catch {
    return false;
  }
}

/** Processes whose mount namespace is `ns` ("mnt:[...]"). */
export function pidsInMountNamespace(ns) {
  const out = [];
  let entries = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readlinkSync(`/proc/${e}/ns/mnt`) === ns) out.push(Number(e));
    } catch {
      /* exited */
    }
  }
  return out;
}

function isPostmasterOf(pid, dataDir) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(dataDir);
  } catch {
    return false;
  }
}

function postmasterPid(dataDir) {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isFinite(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function kill(pid, signal) {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // gone, or not ours
  }
}

export function releasePort(address, port, force = false) {
  const file = path.join(PORTS_DIR, `${address}_${port}`);
  try {
    if (force || Number(fs.readFileSync(file, 'utf8')) === process.pid) fs.unlinkSync(file);
  } catch {
    /* gone */
  }
}

/**
 * Synchronously tears down what an entry describes. Namespace numbers and pids are reused: only
 * what still shows the lab's mount mark or the recorded start time is killed.
 */
export function runCleanupSync(entry, forcePorts = false) {
  let myNs = '';
  try {
    myNs = fs.readlinkSync('/proc/self/ns/mnt');
  } catch {
    /* no /proc: nothing of ours to tell apart */
  }
  for (const { ns, mark } of entry.mountNamespaces ?? []) {
    if (ns === myNs) continue; // never kill ourselves
    // A process may fork while its namespace is being emptied: again until none is left.
    for (let round = 0; round < 20; round++) {
      const pids = pidsInMountNamespace(ns).filter((pid) => showsMount(pid, mark));
      if (!pids.length) break;
      for (const pid of pids) kill(pid, 'SIGKILL');
      sleepSync(50);
    }
  }
  for (const { pid, start } of entry.processes ?? []) if (processStartTime(pid) === start) kill(pid, 'SIGKILL');
  const postmasters = [];
  for (const dir of entry.pgDataDirs ?? []) {
    const pid = postmasterPid(dir);
    // A stale postmaster.pid may name a reused pid: only a postgres of this data directory.
    if (pid !== undefined && isPostmasterOf(pid, dir) && kill(pid, 'SIGQUIT')) postmasters.push(pid);
  }
  const deadline = Date.now() + 3000;
  while (postmasters.some(isAlive) && Date.now() < deadline) sleepSync(20);
  for (const pid of postmasters) kill(pid, 'SIGKILL');
  for (const dir of entry.dirs ?? []) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  for (const [address, port] of entry.ports ?? []) releasePort(address, port, forcePorts);
}

/** Tears down the registered labs whose owner `select` picks, and forgets them. */
export function reapRegistry(select) {
  let files = [];
  try {
    files = fs.readdirSync(REGISTRY_DIR);
  } catch {
    return;
  }
  for (const f of files) {
    const full = path.join(REGISTRY_DIR, f);
    try {
      const { owner, entry } = JSON.parse(fs.readFileSync(full, 'utf8'));
      if (!select(owner)) continue;
      runCleanupSync(entry, true);
      fs.unlinkSync(full);
    } catch {
      /* another process is reaping it, or it's garbage */
    }
  }
}
