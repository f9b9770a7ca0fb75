/** `prompt`: a question to the operator whose answer later steps use ({{ steps.<id>.value }}, `when`). */
import { z } from 'zod';
import { displayParts, materializeParts, type Part } from '../core/template.js';
import type { StepKind } from './types.js';

interface PromptSpec extends Record<string, unknown> {
  question: string;
  choices?: string[];
  default?: string;
  pattern?: string;
}

type PromptData = {
  question: Part[];
  choices: string[] | null;
  default: string | null;
  pattern: string | null;
};

export const promptStep: StepKind<PromptSpec, PromptData> = {
  kind: 'prompt',
  summary: 'Ask the operator a question; the answer is the step value. Pre-answer with --answer <id>=<value>.',
  target: 'none',
  changes: false,
  checkable: false,
  fields: {
    question: z.string().min(1),
    choices: z.array(z.string().min(1)).min(2).optional().describe('The allowed answers.'),
    default: z.string().optional(),
    pattern: z.string().optional().describe('Regular expression a free-text answer must match.'),
  },
  plan(spec, render) {
    const data: PromptData = {
      question: render.parts(spec.question, 'text'),
      choices: spec.choices ?? null,
      default: spec.default ?? null,
      pattern: spec.pattern ?? null,
    };
    return data;
  },
  describe(data) {
    const lines = [`? ${displayParts(data.question)}`];
    if (data.choices) lines.push(`choices: ${data.choices.join(' | ')}${data.default ? ` (default ${data.default})` : ''}`);
    return lines;
  },
  async run(data, ctx) {
    const started = Date.now();
    const answer =
      ctx.presetAnswer ??
      (await ctx.operator.ask(materializeParts(data.question, ctx.values), data.choices ?? undefined, data.default ?? undefined));
    const invalid =
      (data.choices && !data.choices.includes(answer) ? `answer "${answer}" is not one of ${data.choices.join(', ')}` : undefined) ??
      (data.pattern && !new RegExp(data.pattern).test(answer) ? `answer "${answer}" does not match /${data.pattern}/` : undefined);
    if (invalid) return { status: 'failed', message: invalid, durationMs: Date.now() - started };
    return {
      status: 'succeeded',
      message: `answered "${answer}"`,
      value: answer,
      durationMs: Date.now() - started,
      answers: [{ prompt: displayParts(data.question), answer }],
    };
  },
};
