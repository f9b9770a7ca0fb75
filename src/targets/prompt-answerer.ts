/**
 * Answers an interactive program's prompts (pattern -> answer) on a pseudo-terminal, keeps the
 * transcript of answers, and notices a program that waits on a prompt nobody answers: output
 * that stops, on a line that looks like a question, for longer than the allowed time. A quiet
 * program, or one drawing a progress line of dots without a newline, is never taken for one.
 */
import type { PromptAnswerSpec } from './types.js';

export class PromptAnswerer {
  private pending = '';
  private readonly used = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;
  readonly answered: Array<{ prompt: string; answer: string }> = [];

  /**
   * `onUnexpected` gets the waiting line; the caller decides (fail an attached command, ask the
   * operator about a detached one). Answers given later by the caller go through `record`.
   */
  constructor(
    private readonly answers: PromptAnswerSpec[],
    private readonly unexpectedAfterMs: number,
    private readonly write: (text: string) => void,
    private readonly onUnexpected: (prompt: string) => void,
  ) {
    this.arm();
  }

  feed(text: string): void {
    this.pending += text;
    for (const [i, spec] of this.answers.entries()) {
      if (this.used.has(i) && !spec.repeat) continue;
      const match = spec.prompt.exec(this.pending);
      if (!match) continue;
      this.used.add(i);
      this.record(lastLine(this.pending.slice(0, match.index + match[0].length)), spec.display);
      this.write(spec.answer + '\n');
      break;
    }
    // Only the current line can be a prompt; keep the buffer small for long-running programs.
    if (this.pending.length > 8192) this.pending = this.pending.slice(-4096);
    this.arm();
  }

  /** Records an answer given to `prompt` (here, or by the operator) and forgets the output so far. */
  record(prompt: string, display: string): void {
    this.answered.push({ prompt, answer: display });
    this.pending = '';
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.disposed) return;
    this.timer = setTimeout(() => {
      const line = waitingLine(this.pending);
      if (line !== null) this.onUnexpected(line);
      else this.arm();
    }, this.unexpectedAfterMs);
    this.timer.unref();
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/**
 * The last line of the output when the program seems to wait on it as on a question: no newline
 * after it, and it ends like a prompt (`?`, `:`, `>`, `]`, `)`, `#`, `$`, maybe a space after)
 * with words in it. Progress (dots, bars, percentages, counters) is not a prompt. Null otherwise.
 */
export function waitingLine(output: string): string | null {
  if (output.length === 0 || output.endsWith('\n')) return null;
  const line = lastLine(output);
  if (!/[?:>\])#$]\s*$/.test(line)) return null;
  if (!/[A-Za-z\p{L}]{2,}/u.test(line)) return null;
  // "Copying ........ 45%]" or "[#####     ]": a progress bar ending in a bracket is not a question.
  if (/(\.{3,}|#{3,}|={3,}|\d+%)[\s\])]*$/.test(line)) return null;
  return line;
}

export function lastLine(text: string): string {
  const lines = text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .filter((l) => l.trim() !== '');
  return (lines[lines.length - 1] ?? '').trim().slice(0, 200);
}
