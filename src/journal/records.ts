/**
 * What a journal holds, one record a line: the engine's events and the notes the commands add.
 * Apart from journal.ts so that the chain (chain.ts), which reads records, does not import the writer.
 */
import type { RunEvent } from '../engine/events.js';

/**
 * Facts the journal records besides the engine's events: what resume decided and why. They are
 * written by the commands (resume, exec), never by the engine.
 */
export type JournalNote = { time: string } &
  /** The first record of every journal: the digest of the stored plan text. */
  (
    | { type: 'journal-started'; planDigest: string }
    /** Resume found the last line torn by a crash and removed it; what it held is kept here. */
    | { type: 'torn-line-dropped'; bytes: number; text: string }
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
