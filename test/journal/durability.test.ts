/**
 * Which journal records are barriers (synced with everything before them on the spot): the
 * announcement of an action on a target, the end of the run and the notes. Every other record
 * is written at once and rides on the next barrier (group commit).
 */
import { describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/engine/events.js';
import { journalWriter } from '../../src/journal/journal.js';

function record(events: NewEvent[]): Array<[string, boolean]> {
  const written: Array<[string, boolean]> = [];
  const writer = journalWriter(
    (line, durable) => {
      const { type, stepId } = JSON.parse(line) as { type: string; stepId?: string };
      written.push([`${type}:${stepId}`, durable]);
    },
    (t) => t,
  );
  for (const e of events) writer.listener({ time: '2026-11-30T00:00:00Z', ...e });
  writer.note({ type: 'resume-forced', changed: ['runbook'] });
  return written;
}

const started = (stepId: string): NewEvent => ({
  type: 'step-started',
  stepId,
  title: stepId,
  kind: 'sql',
  phase: 'main',
  attempt: 1,
  targets: ['db'],
  commands: [],
});
const finished = (stepId: string): NewEvent => ({ type: 'step-finished', stepId, status: 'succeeded', message: '', durationMs: 1 });

describe('journal durability', () => {
  it('syncs before every action on a target, at the end and at each note; the rest rides on the next sync', () => {
    expect(
      record([
        started('look'),
        { type: 'instance-finished', stepId: 'look', target: 'db', status: 'succeeded', message: '', durationMs: 1 },
        finished('look'),
        { type: 'confirmation', stepId: 'change', mode: 'yes', answer: 'confirmed', by: 'operator' },
        started('change'),
        { type: 'instance-started', stepId: 'change', target: 'db' },
        { type: 'output', stepId: 'change', target: 'db', stream: 'stdout', text: 'x' },
        { type: 'check-finished', phase: 'verify', stepId: 'change', title: 'v', target: 'db', status: 'succeeded', message: '' },
        finished('change'),
        { type: 'run-finished', status: 'succeeded', message: '', exitCode: 0 },
      ]),
    ).toEqual([
      ['step-started:look', false],
      ['instance-finished:look', false],
      ['step-finished:look', false],
      ['confirmation:change', false],
      ['step-started:change', false],
      ['instance-started:change', true],
      ['output:change', false],
      ['check-finished:change', false],
      ['step-finished:change', false],
      ['run-finished:undefined', true],
      ['resume-forced:undefined', true],
    ]);
  });
});
