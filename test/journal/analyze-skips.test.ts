import { expect, it } from 'vitest';
import { analyzeRun } from '../../src/journal/read.js';
import type { JournalRecord } from '../../src/journal/journal.js';

const time = '2026-12-01T00:00:00Z';

it('resume keeps a step skipped by its condition and leaves a step left out by --from/--only to run', () => {
  const records: JournalRecord[] = [
    // The reasons are swapped on purpose: the reader goes by the typed cause, never by the words.
    { time, type: 'step-skipped', stepId: 'gated', title: 'gated', cause: 'condition', reason: 'left out by --from' },
    { time, type: 'step-skipped', stepId: 'early', title: 'early', cause: 'not-selected', reason: 'condition false: x' },
  ];
  const a = analyzeRun({ runId: 'r1', plan: null, records, integrity: { problems: [], torn: null }, chain: '' });
  expect([...a.completed.keys()]).toEqual(['gated']);
  expect(a.completed.get('gated')).toEqual({ status: 'skipped', how: 'skipped' });
});
