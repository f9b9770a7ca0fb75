/**
 * The durable journal of a run: one directory per run in the operator's state directory, with
 * the plan as it was executed (plan.json) and an append-only events.jsonl, each event written
 * and fsynced before the run goes on, so a run killed at any point can be resumed.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Listener, RunEvent } from '../engine/events.js';
import type { Plan } from '../planner/plan-types.js';

/** Bound on the output kept per event, so a chatty command cannot fill the disk. */
export const MAX_OUTPUT_CHARS = 64 * 1024;

export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (env.RUNBOOK_STATE_DIR) return env.RUNBOOK_STATE_DIR;
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'runbook');
}

export function newRunId(runbookId: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${runbookId}-${randomBytes(3).toString('hex')}`;
}

export function runDir(stateDir: string, runId: string): string {
  return join(stateDir, 'runs', runId);
}

export interface JournalHandle {
  dir: string;
  listener: Listener;
  close(): void;
}

/** Starts the journal of a run; `redact` is applied to the stored plan's free text. */
export function startJournal(stateDir: string, runId: string, plan: Plan, redact: (text: string) => string): JournalHandle {
  const dir = runDir(stateDir, runId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'plan.json'), redact(JSON.stringify(plan, null, 2)) + '\n', { mode: 0o600 });
  const fd = openSync(join(dir, 'events.jsonl'), 'a', 0o600);
  let open = true;
  const listener: Listener = (event: RunEvent) => {
    if (!open) return;
    const bounded = event.type === 'output' && event.text.length > MAX_OUTPUT_CHARS ? { ...event, text: event.text.slice(0, MAX_OUTPUT_CHARS) + '…[truncated]' } : event;
    writeSync(fd, JSON.stringify(bounded) + '\n');
    // Durability first: an event on disk is a fact the resume can rely on.
    if (event.type !== 'output') fsyncSync(fd);
  };
  return {
    dir,
    listener,
    close: () => {
      if (!open) return;
      open = false;
      fsyncSync(fd);
      closeSync(fd);
    },
  };
}
