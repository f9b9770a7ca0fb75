/**
 * Answers an interactive program's prompts (pattern -> answer) on a pseudo-terminal, keeps the
 * transcript of answers, and notices a program that waits on a prompt nobody answers: output
 * that stops without a newline for longer than the allowed time.
 */
import type { PromptAnswerSpec } from './types.js';

export class PromptAnswerer {
  private pending = '';
  private readonly used = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  readonly answered: Array<{ prompt: string; answer: string }> = [];

  constructor(
    private readonly answers: PromptAnswerSpec[],
    private readonly unexpectedAfterMs: number,
    private readonly write: (text: string) => void,
    private readonly fail: (message: string) => void,
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
      this.answered.push({ prompt: lastLine(this.pending.slice(0, match.index + match[0].length)), answer: spec.display });
      this.pending = '';
      this.write(spec.answer + '\n');
      break;
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const waiting = this.pending.length > 0 && !this.pending.endsWith('\n');
      if (waiting) this.fail(`unexpected prompt, no answer configured: "${lastLine(this.pending)}"`);
      else this.arm();
    }, this.unexpectedAfterMs);
    this.timer.unref();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

function lastLine(text: string): string {
  const lines = text
    .replace(/\r/g, '')
    .split('\n')
    .filter((l) => l.trim() !== '');
  return (lines[lines.length - 1] ?? '').trim().slice(0, 200);
}
