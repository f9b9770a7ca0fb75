/**
 * The journal's records are chained: each line carries `"chain"`, the SHA-256 of the previous
 * line's chain value and of this line's own text, and the first record states the digest of the
 * stored plan. A line edited, inserted, removed or forged by hand (a fake `run-finished`), or
 * garbage, breaks the chain at that line; the plan edited after the run started no longer
 * matches the first record. Only a torn last line (the process died mid-write) is expected.
 *
 * The chain carries no secret key: it detects edits, it does not stop someone who can write the
 * state directory from rewriting it whole. The state directory's ownership check does that.
 */
import { createHash } from 'node:crypto';
import type { JournalRecord } from './records.js';

/** The chain value before the first record. */
export const CHAIN_SEED = 'runbook-journal-1';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export const planDigest = (planText: string): string => `sha256:${sha256(planText)}`;

/** Adds the chain value to one serialized record (a JSON object); returns the line and the new value. */
export function sealLine(previous: string, body: string): { line: string; chain: string } {
  const chain = sha256(`${previous}\n${body}`);
  return { line: `${body.slice(0, -1)},"chain":"${chain}"}`, chain };
}

const SEAL = /,"chain":"([0-9a-f]{64})"\}$/;

export interface JournalIntegrity {
  /** What is wrong, one sentence each; empty when the whole journal checks out. */
  problems: string[];
  /** A torn last line: the process died while writing it. Expected after a crash. */
  torn: string | null;
}

export interface CheckedJournal {
  /** The records up to the first problem: what can be trusted. */
  records: JournalRecord[];
  integrity: JournalIntegrity;
  /** The chain value after the last trusted record (to append after it). */
  chain: string;
}

/**
 * Checks a journal's lines against the chain and the plan's text. `complete` says whether the
 * text ended with a newline: if not, a last line that fails is torn rather than forged.
 */
export function checkJournal(lines: string[], planText: string | null, complete: boolean): CheckedJournal {
  const records: JournalRecord[] = [];
  const problems: string[] = [];
  let torn: string | null = null;
  let chain = CHAIN_SEED;
  const numbered = lines.map((text, i) => ({ text, n: i + 1 })).filter((l) => l.text.length > 0);
  for (const [index, { text, n }] of numbered.entries()) {
    const last = index === numbered.length - 1;
    const seal = SEAL.exec(text);
    const body = seal ? `${text.slice(0, seal.index)}}` : null;
    let record: JournalRecord | null = null;
    try {
      record = body === null ? null : (JSON.parse(body) as JournalRecord);
    } catch {
      record = null;
    }
    if (!seal || !record || body === null) {
      if (last && !complete) {
        torn = text;
        break;
      }
      problems.push(
        `line ${n} ${isJson(text) ? 'is a record without a checksum: added or rewritten outside runbook' : 'is not a journal record (garbage)'}`,
      );
      break;
    }
    if (sealLine(chain, body).chain !== seal[1]) {
      problems.push(`line ${n} (${record.type}) does not match the chain: it was edited, or a record before it was removed or inserted`);
      break;
    }
    if (records.length === 0) {
      const problem = checkFirstRecord(record, planText);
      if (problem) {
        problems.push(problem);
        break;
      }
    }
    chain = seal[1]!;
    records.push(record);
  }
  const trusted = records.length;
  const untrusted = numbered.length - trusted - (torn === null ? 0 : 1);
  if (problems.length && untrusted > 1) problems.push(`the ${untrusted - 1} line(s) after it are not trusted either`);
  return { records, integrity: { problems, torn }, chain };
}

function checkFirstRecord(record: JournalRecord, planText: string | null): string | null {
  if (record.type !== 'journal-started') return 'the journal does not start with its plan digest (journal-started)';
  if (planText === null) return 'the stored plan is missing';
  if (planDigest(planText) !== record.planDigest)
    return `the stored plan was changed after the run started (its digest is ${planDigest(planText)}, the journal recorded ${record.planDigest})`;
  return null;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
