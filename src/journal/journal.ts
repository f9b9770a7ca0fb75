/**
 * The durable journal of a run: one directory per run in the operator's state directory, with
 * the plan as it was executed (plan.json) and an append-only events.jsonl, each event written at
 * once and synced to disk before the next action on a target (group commit), so a run killed at
 * any point can be resumed. Every record
 * is chained to the previous one and the first states the plan's digest (chain.ts), so an edited
 * plan or journal is reported instead of executed.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, readSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { RunbookError } from '../core/errors.js';
import type { Listener, RunEvent } from '../engine/events.js';
import type { Plan } from '../planner/plan-types.js';
import { CHAIN_SEED, checkJournal, planDigest, sealLine } from './chain.js';
import type { NewJournalNote } from './records.js';
import {
  checkRunId,
  checkStateDir,
  checkSubdir,
  createExclusive,
  makePrivateDir,
  openForAppend,
  readStateFile,
  stateFsError,
  writeFully,
} from './state-dir.js';

/** Bound on the output kept per event, so a chatty command cannot fill the disk. */
export const MAX_OUTPUT_CHARS = 64 * 1024;
/** Bound on the output kept per step (all its targets and attempts together). */
export const MAX_STEP_OUTPUT_CHARS = 256 * 1024;

export type { JournalNote, JournalRecord, NewJournalNote } from './records.js';

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
  return join(stateDir, 'runs', checkRunId(runId));
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

/**
 * The events that must be on stable storage before the run goes on: the announcement of an
 * action on a target (nothing touches a target before the journal says so, with everything that
 * led to it), and the end of the run. Notes (resume decisions, the plan's digest) are barriers too.
 */
const BARRIER_EVENTS: ReadonlySet<RunEvent['type']> = new Set(['instance-started', 'run-finished']);

/**
 * Receives one serialized record, written at once; `durable` makes it a barrier: on return it
 * and every record before it are on stable storage.
 */
export type RecordSink = (line: string, durable: boolean) => void;

/**
 * Turns events into journal lines: bounds output per event and per step, redacts once more
 * (a listener may be handed free text the bus did not see), chains each line to the previous
 * one (from `chain`, the value after the last record already stored). Group commit: every record
 * is written at once (a killed process loses nothing), and the records that announce an action
 * on a target are barriers, so each action starts only once the journal up to its announcement
 * is on stable storage; the records in between share that one sync instead of one each.
 *
 * Once a write fails (disk full, store gone) the journal takes nothing more: the failure is
 * thrown again at every later event, so the run stops instead of going on unrecorded. Output and
 * interrupt notices, which arrive in stream and signal callbacks, do not throw: the next event does.
 */
export function journalWriter(
  sink: RecordSink,
  redact: (text: string) => string,
  chain: string = CHAIN_SEED,
): Pick<JournalHandle, 'listener' | 'note'> {
  const outputByStep = new Map<string, number>();
  let failure: unknown = null;
  const write = (body: string, durable: boolean, quiet: boolean) => {
    if (failure !== null) {
      if (quiet) return;
      throw failure;
    }
    const sealed = sealLine(chain, body);
    try {
      sink(sealed.line, durable);
      chain = sealed.chain;
    } catch (error) {
      failure = error;
      if (!quiet) throw error;
    }
  };
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
      write(redact(JSON.stringify({ ...event, text })), false, true);
      return;
    }
    write(redact(JSON.stringify(event)), BARRIER_EVENTS.has(event.type), event.type === 'interrupt-requested');
  };
  return {
    listener,
    note: (note) => {
      const record = { time: new Date().toISOString(), ...note };
      // The plan digest is hex: redacting it (a short secret that happens to match) would break it.
      write(note.type === 'journal-started' ? JSON.stringify(record) : redact(JSON.stringify(record)), true, false);
    },
  };
}

/**
 * Starts the journal of a run in a state directory; `redact` is applied to everything stored.
 * The run directory and its files are created exclusively, never through a link, in a state
 * directory that only the operator can write.
 */
export function startJournal(stateDir: string, runId: string, plan: Plan, redact: (text: string) => string): JournalHandle {
  checkRunId(runId);
  checkStateDir(stateDir, true);
  checkSubdir(join(stateDir, 'runs'), true);
  const dir = runDir(stateDir, runId);
  try {
    makePrivateDir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new RunbookError('usage', `run ${runId} already exists in ${stateDir}`, {
      hint: 'Use another --run-id, or `runbook resume ' + runId + '` to continue it.',
    });
  }
  const planText = redact(JSON.stringify(plan, null, 2)) + '\n';
  createExclusive(join(dir, 'plan.json'), planText);
  const handle = journalOnFile(join(dir, 'events.jsonl'), openForAppend(join(dir, 'events.jsonl'), true), dir, redact, CHAIN_SEED);
  handle.note({ type: 'journal-started', planDigest: planDigest(planText) });
  return handle;
}

/**
 * Opens an existing run's journal to append to it (resume). A torn last line (the process died
 * mid-write) is cut off and recorded as such, so the chain goes on from the last whole record.
 */
export function reopenJournal(stateDir: string, runId: string, redact: (text: string) => string): JournalHandle {
  const dir = runDir(stateDir, runId);
  checkStateDir(stateDir, false);
  checkSubdir(join(stateDir, 'runs'), false);
  checkSubdir(dir, false);
  const file = join(dir, 'events.jsonl');
  const fd = openForAppend(file, false);
  try {
    const text = readWhole(fd);
    const checked = checkJournal(text.split('\n'), readStateFile(join(dir, 'plan.json')), text.endsWith('\n') || text === '');
    if (checked.integrity.problems.length) throw journalAlteredError(runId, file, checked.integrity.problems);
    const torn = checked.integrity.torn;
    if (torn !== null) {
      ftruncateSync(fd, Buffer.byteLength(text) - Buffer.byteLength(torn));
      fsyncSync(fd);
    } else if (text && !text.endsWith('\n')) writeFully(fd, '\n', file);
    const handle = journalOnFile(file, fd, dir, redact, checked.chain);
    if (torn !== null) handle.note({ type: 'torn-line-dropped', bytes: Buffer.byteLength(torn), text: torn.slice(0, 200) });
    return handle;
  } catch (error) {
    closeSync(fd);
    throw stateFsError(error, 'open the journal', file);
  }
}

/** The refusal to go on with a journal that does not check out. */
export function journalAlteredError(runId: string, where: string, problems: string[]): RunbookError {
  return new RunbookError('resume', `the journal of run ${runId} was altered: ${problems.join('; ')}`, {
    hint: `Nothing was run. The journal (${where}) no longer says reliably what ran: check the targets by hand and start a new run; keep the journal for the investigation.`,
  });
}

function readWhole(fd: number): string {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(1 << 16);
  for (let at = 0, n = readSync(fd, buffer, 0, buffer.length, 0); n > 0; n = readSync(fd, buffer, 0, buffer.length, at)) {
    chunks.push(Buffer.from(buffer.subarray(0, n)));
    at += n;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The file sink: each line appended whole; a write the disk cannot take is cut back off, so the
 * journal ends on its last complete record and stays readable and resumable.
 */
function journalOnFile(file: string, fd: number, dir: string, redact: (text: string) => string, chain: string): JournalHandle {
  let size = fstatSync(fd).size;
  let open = true;
  const writer = journalWriter(
    (line, durable) => {
      if (!open) return;
      try {
        writeFully(fd, line + '\n', file);
        if (durable) fdatasyncSync(fd);
        size += Buffer.byteLength(line) + 1;
      } catch (error) {
        try {
          ftruncateSync(fd, size);
        } catch {
          // The line stays torn; the reader says so and resume cuts it off.
        }
        throw stateFsError(error, 'write the journal', file, basename(dir));
      }
    },
    redact,
    chain,
  );
  return {
    dir,
    ...writer,
    close: () => {
      if (!open) return;
      open = false;
      try {
        fsyncSync(fd);
      } catch {
        // Every durable record was fsynced when written; a failing disk is reported by the writes.
      }
      closeSync(fd);
    },
  };
}
