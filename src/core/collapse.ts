/**
 * Identical per-host commands shown once: a step that runs the same text on twenty hosts reads as
 * one command "on h1, h2, ... h20", and a host whose command differs stands out on its own.
 */
export interface Collapsed<T> {
  /** The members sharing these lines, in first-seen order. */
  members: T[];
  lines: string[];
}

export function collapseIdentical<T>(items: readonly T[], linesOf: (item: T) => string[]): Array<Collapsed<T>> {
  const groups = new Map<string, Collapsed<T>>();
  for (const item of items) {
    const lines = linesOf(item);
    const key = JSON.stringify(lines);
    const group = groups.get(key);
    if (group) group.members.push(item);
    else groups.set(key, { members: [item], lines });
  }
  return [...groups.values()];
}
