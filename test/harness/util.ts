/**
 * Small helpers shared by the test harness: running commands, polling, port reservation across
 * vitest workers, and process cleanup (on normal exit, and for labs whose owner process died).
 */
import { execFile, spawn, type ExecFileOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  isAlive,
  PORTS_DIR,
  processStartTime,
  reapRegistry,
  REGISTRY_DIR,
  releasePort,
  runCleanupSync,
  type CleanupEntry,
  type ProcessIdentity,
} from './cleanup.mjs';

// The cleanup rules live in cleanup.mjs, which the reaper (plain node) shares.
export {
  HARNESS_ROOT,
  isAlive,
  pidsInMountNamespace,
  processStartTime,
  releasePort,
  runCleanupSync,
  sleepSync,
  type CleanupEntry,
  type NamespaceIdentity,
  type ProcessIdentity,
} from './cleanup.mjs';

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command (no shell); rejects with stdout/stderr in the message when it fails. */
export function run(file: string, args: readonly string[], opts: ExecFileOptions & { input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const { input, ...rest } = opts;
    const child = execFile(file, args as string[], { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', ...rest }, (err, stdout, stderr) => {
      const out = String(stdout);
      const errText = String(stderr);
      if (err) {
        const e = new Error(
          `${file} ${args.join(' ')} failed: ${err.message}\n--- stdout ---\n${out}\n--- stderr ---\n${errText}`,
        ) as Error & { stdout: string; stderr: string; code: unknown };
        e.stdout = out;
        e.stderr = errText;
        e.code = (err as { code?: unknown }).code;
        reject(e);
      } else {
        resolve({ stdout: out, stderr: errText });
      }
    });
    // A program may exit without reading its input (EPIPE): its exit code says what happened.
    child.stdin?.on('error', () => undefined);
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `fn` until it returns a value other than undefined/false, or throws after `timeoutMs`
 * with the last error (if any) in the message.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let interval = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const detail = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(interval);
    interval = Math.min(interval * 1.5, 500);
  }
}

/** Resolves true when a TCP connection to address:port succeeds. */
export function canConnect(address: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: address, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Resolves true when address:port can be bound right now. */
export function canBind(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: address, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------------------------------------
// Cross-process bookkeeping in /tmp/runbook-harness: port reservations and a registry of what
// each process started, so a later run can reap servers left behind by a killed worker.

/**
 * Reserves address:port for this process (an O_EXCL lock file naming our pid; stale files of dead
 * processes are taken over). Returns false when another live process holds it.
 */
export function reservePort(address: string, port: number): boolean {
  fs.mkdirSync(PORTS_DIR, { recursive: true });
  const file = path.join(PORTS_DIR, `${address}_${port}`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(file, 'utf8'));
      } catch {
        continue;
      }
      if (owner === process.pid) return false; // held by another lab in this process
      if (Number.isFinite(owner) && owner > 0 && isAlive(owner)) return false;
      try {
        fs.unlinkSync(file);
      } catch {
        /* raced */
      }
    }
  }
  return false;
}

/**
 * Finds a port in [from, to) that is bindable on every address and reserves it on all of them.
 */
export async function findFreePort(addresses: readonly string[], from: number, to = from + 2000): Promise<number> {
  for (let port = from; port < to; port++) {
    const reserved: string[] = [];
    let ok = true;
    for (const a of addresses) {
      if (!reservePort(a, port)) {
        ok = false;
        break;
      }
      reserved.push(a);
      if (!(await canBind(a, port))) {
        ok = false;
        break;
      }
    }
    if (ok) return port;
    for (const a of reserved) releasePort(a, port);
  }
  throw new Error(`no free port in ${from}..${to} on ${addresses.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// Cleanup.

const cleanups = new Map<string, () => CleanupEntry>();
let exitHookInstalled = false;
let seq = 0;

export function identifyProcess(pid: number): ProcessIdentity[] {
  const start = processStartTime(pid);
  return start === undefined ? [] : [{ pid, start }];
}

/**
 * Registers a cleanup that runs synchronously at process exit (and is written to the registry so
 * a later harness start can reap it if this process is killed). `describe` is re-evaluated each
 * time so it can reflect restarted processes. Returns an unregister function.
 */
export function registerCleanup(describe: () => CleanupEntry): { update(): void; unregister(): void } {
  const id = `${process.pid}-${Date.now()}-${seq++}`;
  cleanups.set(id, describe);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    startWatchdog();
    process.on('exit', () => {
      for (const [key, d] of cleanups) {
        try {
          runCleanupSync(d());
        } catch {
          /* keep going */
        }
        removeRegistry(key);
      }
      cleanups.clear();
    });
  }
  const writeRegistry = () => {
    try {
      fs.mkdirSync(REGISTRY_DIR, { recursive: true });
      fs.writeFileSync(path.join(REGISTRY_DIR, `${id}.json`), JSON.stringify({ owner: process.pid, entry: describe() }));
    } catch {
      /* best effort */
    }
  };
  writeRegistry();
  return {
    update: writeRegistry,
    unregister: () => {
      cleanups.delete(id);
      removeRegistry(id);
    },
  };
}

/**
 * vitest can end a worker with a signal, and then 'exit' handlers never run: a detached watchdog
 * (reaper.mjs) waits for this process to disappear and tears down what it left registered.
 */
function startWatchdog(): void {
  try {
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'reaper.mjs');
    const child = spawn(process.execPath, [script, String(process.pid)], { detached: true, stdio: 'ignore' });
    child.unref();
  } catch {
    /* best effort: reapStale() at the next lab start covers it too */
  }
}

function removeRegistry(id: string): void {
  try {
    fs.unlinkSync(path.join(REGISTRY_DIR, `${id}.json`));
  } catch {
    /* gone */
  }
}

/** Tears down servers registered by processes that no longer exist. */
export function reapStale(): void {
  reapRegistry((owner) => !isAlive(owner));
}

/** True when the process exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
