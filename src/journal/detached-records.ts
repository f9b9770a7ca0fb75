/**
 * What the journal says about a step's detached programs: on which targets one was started and
 * has not been judged yet, its pid and directory, and how far its log was read. Resume and attach
 * re-attach to these instead of calling the step's outcome unknown.
 */
import type { JournalRecord } from './journal.js';
import type { DetachedRecord } from '../steps/types.js';

export function detachedPrograms(records: JournalRecord[], stepId: string): Map<string | null, DetachedRecord> {
  const programs = new Map<string | null, DetachedRecord>();
  for (const r of records) {
    if (!('stepId' in r) || r.stepId !== stepId) continue;
    switch (r.type) {
      case 'step-finished':
      case 'unknown-outcome':
        programs.clear();
        break;
      case 'instance-finished':
        programs.delete(r.target);
        break;
      case 'detached-started':
        programs.set(r.target, { pid: r.pid, dir: r.dir, offset: 0 });
        break;
      case 'detached-progress': {
        // New output: the prompt it was left on, if any, has been answered.
        const p = programs.get(r.target);
        if (p) programs.set(r.target, { ...p, offset: Math.max(p.offset, r.offset), prompt: undefined });
        break;
      }
      case 'detached-left': {
        const p = programs.get(r.target);
        if (p) programs.set(r.target, { ...p, offset: Math.max(p.offset, r.offset), prompt: r.prompt });
        break;
      }
      default:
        break;
    }
  }
  return programs;
}
