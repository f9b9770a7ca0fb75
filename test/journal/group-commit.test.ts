/**
 * Group commit, seen from the system calls of a real run (strace): every action on a target
 * starts only after the journal, up to the record announcing it, was synced to disk; the records
 * between two actions share one sync instead of one each.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-group-commit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STEPS = ['first', 'second', 'third'];

interface Call {
  pid: string;
  text: string;
}

/** The run's system calls (write, fsync, fdatasync, execve of every process), in order. */
async function traceRun(): Promise<Call[]> {
  const runbook = join(dir, 'group-commit.yaml');
  writeFileSync(
    runbook,
    [
      'id: group-commit',
      'title: Group commit',
      'version: 1.0.0',
      'steps:',
      ...STEPS.flatMap((id) => [`  - id: ${id}`, `    title: ${id}`, '    kind: local', `    command: echo group-commit-${id}`]),
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'inventory.yaml'), 'hosts: {}\n');
  const trace = join(dir, 'trace');
  const args = ['exec', runbook, '-i', join(dir, 'inventory.yaml'), '--yes', '--state-dir', join(dir, 'state')];
  const r = await runCli(args, { via: ['strace', '-f', '-qq', '-s', '200', '-e', 'trace=write,fsync,fdatasync,execve', '-o', trace] });
  expect(r.code, r.stderr).toBe(0);
  return readFileSync(trace, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid, ...rest] = line.split(/\s+/);
      return { pid: pid!, text: rest.join(' ') };
    });
}

describe('journal group commit', () => {
  it('syncs the journal before each action on a target, once per action, not once per record', async () => {
    const calls = await traceRun();
    // The journal's descriptor: the one its chained records are written to.
    const journalFd = /^write\((\d+), "\{.*\\"chain\\"/.exec(calls.find((c) => /\\"chain\\"/.test(c.text))!.text)![1]!;
    const isJournalWrite = (c: Call): boolean => c.text.startsWith(`write(${journalFd}, `);
    const isJournalSync = (c: Call): boolean => new RegExp(`^f(data)?sync\\(${journalFd}\\)`).test(c.text);

    for (const id of STEPS) {
      const action = calls.findIndex(
        (c) => c.text.startsWith('execve(') && c.text.includes(`"echo group-commit-${id}"`) && c.text.endsWith('= 0'),
      );
      expect(action, `the command of step ${id} ran`).toBeGreaterThan(0);
      const before = calls.slice(0, action);
      const lastWrite = before.map(isJournalWrite).lastIndexOf(true);
      expect(before[lastWrite]!.text, `the last record before step ${id} acts is its announcement`).toContain(
        `\\"type\\":\\"instance-started\\",\\"stepId\\":\\"${id}\\"`,
      );
      expect(before.slice(lastWrite).some(isJournalSync), `synced between the announcement of ${id} and its action`).toBe(true);
    }

    // From the journal's first record on (the descriptor number served other files before it).
    const journal = calls.slice(calls.findIndex((c) => isJournalWrite(c) && c.text.includes('\\"chain\\"')));
    const records = journal.filter(isJournalWrite).length;
    const syncs = journal.filter(isJournalSync).length;
    // One per action, plus the journal's start, the run's end and the close; far fewer than records.
    expect(syncs).toBeLessThanOrEqual(STEPS.length + 3);
    expect(records).toBeGreaterThan(syncs + 2 * STEPS.length);
  });
});
