/**
 * The one way the tests run the built CLI (`npm run build` first): as a child process, as an
 * operator's shell or CI would, with no shell in between, no TTY and stdin closed unless given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunEvent } from '../../src/engine/events.js';

export const CLI = join(process.cwd(), 'bin', 'runbook.js');

/** One line of the `--json` event stream (docs/json-events.md). */
export type JsonEvent = RunEvent & { schemaVersion: number };

export interface CliResult {
  /** Null when the process ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The CLI was killed by `timeoutMs`. */
  timedOut: boolean;
  ms: number;
}

/**
 * Sends `signal` (default SIGKILL) to the CLI once `file` exists and contains `contains`, `delayMs`
 * later: a kill at a known point of a run (its journal), not after a guessed time.
 */
export interface KillWhen {
  file: string;
  contains: string;
  /** And once this holds too (a process state, another file). */
  until?: () => boolean;
  signal?: NodeJS.Signals;
  delayMs?: number;
}

export interface CliOptions {
  /** Added to the environment; an entry set to undefined is removed. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to the CLI's standard input, which is then closed (default: closed, nothing written). */
  stdin?: string;
  /** Killed (SIGKILL) after this long; `timedOut` says so. */
  timeoutMs?: number;
  /** A program and its arguments the CLI runs under (`strace ...`, `unshare -n`). */
  via?: string[];
  kill?: KillWhen;
}

const OPTIONS = ['env', 'cwd', 'stdin', 'timeoutMs', 'via', 'kill'];

export interface RunningCli {
  child: ChildProcess;
  /** What the CLI has written so far. */
  stdout(): string;
  result: Promise<CliResult>;
}

/**
 * The environment of every run: NO_COLOR=1 and CI=true; FORCE_COLOR, RUNBOOK_PATH, RUNBOOK_DEBUG
 * and the example secret are removed so the machine running the tests cannot leak in.
 */
function cliEnv(extra: CliOptions['env'] = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', CI: 'true' };
  for (const name of ['FORCE_COLOR', 'RUNBOOK_PATH', 'EXAMPLE_DB_PASSWORD', 'RUNBOOK_DEBUG']) delete env[name];
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Starts the CLI and hands back the child, for a test that acts while it runs (a signal). */
export function startCli(args: string[], options: CliOptions = {}): RunningCli {
  // An environment passed where the options go type-checks (all options are optional): refuse it.
  const unknown = Object.keys(options).filter((k) => !OPTIONS.includes(k));
  if (unknown.length) throw new Error(`runCli: unknown options ${unknown.join(', ')} (the environment goes in { env })`);
  const [program, ...prefix] = [...(options.via ?? []), process.execPath];
  const child = spawn(program, [...prefix, CLI, ...args], {
    env: cliEnv(options.env),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const started = Date.now();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 90_000);
  const watch = options.kill ? killWhen(child, options.kill) : undefined;
  const result = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (watch) clearInterval(watch);
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started });
    });
  });
  return { child, stdout: () => stdout, result };
}

function killWhen(child: ChildProcess, kill: KillWhen): NodeJS.Timeout {
  const watch = setInterval(() => {
    if (!existsSync(kill.file) || !readFileSync(kill.file, 'utf8').includes(kill.contains) || (kill.until && !kill.until())) return;
    clearInterval(watch);
    const send = () => child.kill(kill.signal ?? 'SIGKILL');
    if (kill.delayMs) setTimeout(send, kill.delayMs);
    else send();
  }, 2);
  return watch;
}

/** Runs the CLI to its end. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).result;
}

/** Runs the CLI with `--json` and reads its standard output as the event stream. */
export async function runCliJson(args: string[], options: CliOptions = {}): Promise<CliResult & { events: JsonEvent[] }> {
  const r = await runCli(['--json', ...args], options);
  const events = r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as JsonEvent);
  return { ...r, events };
}

// eslint-disable-next-line no-control-regex
export const ANSI = /\x1b\[[0-9;]*[A-Za-z]/;
/** A JavaScript stack frame ("    at fn (file.js:1:2)"): never shown to an operator. */
export const STACK = /\n\s+at .+:\d+:\d+\)?/;
