/**
 * Output arrives in chunks cut wherever the network or a pipe cut it, so a secret a program
 * echoes can straddle two chunks and escape a redactor that sees one chunk at a time. This guard
 * holds back the end of each stream that could still be the start of a secret, and lets it go
 * (redacted) with the next chunk or when the step or target finishes.
 */
import type { Listener, RunEvent } from '../engine/events.js';

type OutputEvent = Extract<RunEvent, { type: 'output' }>;

export function guardOutput(next: Listener, secrets: string[], redact: (text: string) => string): Listener {
  const longest = Math.max(0, ...secrets.map((s) => s.length));
  if (longest < 2) return next;
  const pattern = new RegExp(
    [...new Set(secrets)]
      .filter((s) => s.length >= 2)
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('|'),
    'g',
  );
  const held = new Map<string, { event: OutputEvent; text: string }>();
  const keyOf = (e: { stepId: string; target: string | null }, stream: string) => `${e.stepId}\u0000${e.target ?? ''}\u0000${stream}`;

  const flush = (match: (e: OutputEvent) => boolean) => {
    for (const [key, entry] of held) {
      if (!match(entry.event)) continue;
      held.delete(key);
      if (entry.text) next({ ...entry.event, text: redact(entry.text) });
    }
  };

  return (event) => {
    if (event.type !== 'output') {
      if (event.type === 'instance-finished') flush((e) => e.stepId === event.stepId && e.target === event.target);
      else flush(() => true);
      next(event);
      return;
    }
    const key = keyOf(event, event.stream);
    const text = (held.get(key)?.text ?? '') + event.text;
    let cut = Math.max(0, text.length - (longest - 1));
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
      if (m.index < cut && m.index + m[0].length > cut) cut = m.index;
    }
    const ready = text.slice(0, cut);
    held.set(key, { event, text: text.slice(cut) });
    if (ready) next({ ...event, text: redact(ready) });
  };
}
