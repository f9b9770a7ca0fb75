/**
 * What the first Ctrl-C says. It stops only the waiting for a detached program (it keeps running
 * on its target: exit 11, `runbook attach` re-attaches), while an attached command gets the grace
 * time to end: the message names what will really happen to what runs at that moment.
 */
import type { EventBus, RunEvent } from '../engine/events.js';

/** Follows the bus; returns the message for a Ctrl-C now. */
export function interruptMessages(bus: EventBus, graceMs: number): () => string {
  // Per running instance ("step on target"): whether it runs detached.
  const running = new Map<string, boolean>();
  bus.on((e) => track(running, e));
  return () => {
    const detached = [...running].filter(([, d]) => d).map(([name]) => name);
    const attached = running.size - detached.length;
    const several = attached > 1;
    const grace = `the ${detached.length ? 'other ' : ''}running command${several ? 's get' : ' gets'} ${graceMs / 1000}s to end (Ctrl-C again to stop ${several ? 'them' : 'it'} now)`;
    if (!detached.length) return `Ctrl-C: no new step will start; ${grace}.`;
    const left = `the detached program of ${detached.join(', ')} keeps running on its target: this session stops following it (runbook attach re-attaches)`;
    return `Ctrl-C: no new step will start; ${left}${attached ? `; ${grace}` : ''}.`;
  };
}

function track(running: Map<string, boolean>, e: RunEvent): void {
  switch (e.type) {
    case 'instance-started':
      return void running.set(key(e), running.get(key(e)) ?? false);
    case 'detached-started':
    case 'detached-reattached':
      return void running.set(key(e), true);
    case 'instance-finished':
    case 'detached-left':
    case 'detached-killed':
      return void running.delete(key(e));
    default:
      return;
  }
}

const key = (e: { stepId: string; target: string | null }) => `${e.stepId} on ${e.target ?? 'this machine'}`;
