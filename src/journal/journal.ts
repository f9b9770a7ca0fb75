/**
 * The durable journal of a run: one directory per run in the operator's state directory, with
 * the plan as it was executed (plan.json) and an append-only events.jsonl, each event written
 * and fsynced before the run goes on, so a run killed at any point can be resumed.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RunbookError } from '../errors.js';
import type { Listener, RunEvent } from '../engine/events.js';
import type { Plan } from '../planner/plan-types.js';

/** Bound on the output kept per event, so a chatty command cannot fill the disk. */
export const MAX_OUTPUT_CHARS = 64 * 1024;
/** Bound on the output kept per step (all its targets and attempts together). */
export const MAX_STEP_OUTPUT_CHARS = 256 * 1024;

/**
 * Facts the journal records besides the engine's events: what resume decided and why. They are
 * written by the commands (resume, exec), never by the engine.
 */
export type JournalNote = { time: string } & (
  | { type: 'resume-forced'; changed: string[] }
  | { type: 'lock-taken-over'; lock: { runId: string; pid: number; host: string; user: string; since: string } }
  | {
      type: 'unknown-outcome';
      stepId: string;
      title: string;
      decision: 'done' | 'rerun' | 'abort';
      by: 'verification' | 'operator' | 'flag';
      message: string;
    }
);

export type JournalRecord = RunEvent | JournalNote;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type NewJournalNote = DistributiveOmit<JournalNote, 'time'>;

export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (env.RUNBOOK_STATE_DIR) return env.RUNBOOK_STATE_DIR;
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'runbook');
}

export function newRunId(runbookId: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${runbookId}-${randomBytes(3).toString('hex')}`;
}

export function runDir(stateDir: string, runId: string): string {
  return join(stateDir, 'runs', runId);
}

/** Where a run's records go, whatever the store. */
export interface JournalHandle {
  /** A directory or a database URL (without password), for messages. */
  dir: string;
  /** Subscribe to the event bus. */
  listener: Listener;
  /** Writes a note (already redacted by the caller's redactor too), durably. */
  note(note: NewJournalNote): void;
  close(): void;
}

/** Receives one serialized record; `durable` asks for it to be on stable storage on return. */
export type RecordSink = (line: string, durable: boolean) => void;

/**
 * Turns events into journal lines: bounds output per event and per step, redacts once more
 * (a listener may be handed free text the bus did not see), and asks for durability on every
 * event but output: each is on stable storage before the run goes on.
 */
export function journalWriter(sink: RecordSink, redact: (text: string) => string): Pick<JournalHandle, 'listener' | 'note'> {
  const outputByStep = new Map<string, number>();
  const listener: Listener = (event: RunEvent) => {
    if (event.type === 'output') {
      const used = outputByStep.get(event.stepId) ?? 0;
      if (used >= MAX_STEP_OUTPUT_CHARS) return;
      let text = event.text.length > MAX_OUTPUT_CHARS ? event.text.slice(0, MAX_OUTPUT_CHARS) + '…[truncated]' : event.text;
      if (used + text.length >= MAX_STEP_OUTPUT_CHARS)
        text = text.slice(0, MAX_STEP_OUTPUT_CHARS - used) + '…[further output of this step not journaled]';
      outputByStep.set(event.stepId, used + text.length);
      // Output is written at once but rides on the next event's fsync: a chatty program would
      // otherwise cost one fsync per read.
      sink(redact(JSON.stringify({ ...event, text })), false);
      return;
    }
    // Durability first: an event on disk is a fact the resume can rely on.
    sink(redact(JSON.stringify(event)), true);
  };
  return {
    listener,
    note: (note) => sink(redact(JSON.stringify({ time: new Date().toISOString(), ...note })), true),
  };
}

/** Starts the journal of a run in a state directory; `redact` is applied to everything stored. */
export function startJournal(stateDir: string, runId: string, plan: Plan, redact: (text: string) => string): JournalHandle {
  const dir = runDir(stateDir, runId);
  if (existsSync(join(dir, 'events.jsonl'))) {
    throw new RunbookError('usage', `run ${runId} already exists in ${stateDir}`, {
      hint: 'Use another --run-id, or `runbook resume ' + runId + '` to continue it.',
    });
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'plan.json'), redact(JSON.stringify(plan, null, 2)) + '\n', { mode: 0o600 });
  return openEvents(dir, redact);
}

/** Opens an existing run's journal to append to it (resume). */
export function reopenJournal(stateDir: string, runId: string, redact: (text: string) => string): JournalHandle {
  return openEvents(runDir(stateDir, runId), redact);
}

function openEvents(dir: string, redact: (text: string) => string): JournalHandle {
  const fd = openSync(join(dir, 'events.jsonl'), 'a+', 0o600);
  // A run killed in the middle of a write leaves a torn last line: end it, so that the next
  // record starts on a line of its own (readers skip the torn one).
  const size = fstatSync(fd).size;
  if (size > 0) {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] !== 0x0a) writeSync(fd, '\n');
  }
  let open = true;
  const writer = journalWriter((line, durable) => {
    if (!open) return;
    writeSync(fd, line + '\n');
    if (durable) fsyncSync(fd);
  }, redact);
  return {
    dir,
    ...writer,
    close: () => {
      if (!open) return;
      open = false;
      fsyncSync(fd);
      closeSync(fd);
    },
  };
}
