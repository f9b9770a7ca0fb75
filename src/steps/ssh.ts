/** `ssh`: a shell command on every host of the target role, optionally answering its prompts. */
import { z } from 'zod';
import { duration, promptAnswer } from '../core/schema-parts.js';
import { parseDuration } from '../core/duration.js';
import { displayParts } from '../core/template.js';
import { commandFields, composeCommand, describeDetached, planCommand, type CommandSpec } from './command-shape.js';
import { runDetached } from './detached.js';
import { describeExpect, runCommand, type RunnableCommand } from './command-run.js';
import { renderExpectations } from './expectations.js';
import type { StepKind } from './types.js';

interface SshSpec extends CommandSpec, Record<string, unknown> {
  pty?: { answers: Array<{ prompt: string; answer: string; repeat?: boolean }>; unexpectedPromptAfter?: string | number };
  expect?: RunnableCommand['expect'];
  capture?: { regex?: string };
}

export const sshStep: StepKind<SshSpec, RunnableCommand> = {
  kind: 'ssh',
  summary: 'Run a shell command on every host of the target role over SSH.',
  target: 'hosts',
  changes: true,
  checkable: true,
  fields: {
    ...commandFields,
    sudo: z
      .union([z.boolean(), z.string()])
      .optional()
      .describe('Run through sudo (true = root, or a user name). sudo must not ask for a password.'),
    pty: z
      .object({
        answers: z.array(promptAnswer).min(1).describe('Prompts of the remote program and what to answer.'),
        unexpectedPromptAfter: duration
          .optional()
          .describe('Fail when the program waits this long on output no answer matches (default 30s).'),
      })
      .strict()
      .optional()
      .describe('Run in a pseudo-terminal and answer the program prompts (interactive vendor tools).'),
  },
  plan(spec, render) {
    const data: RunnableCommand = {
      ...planCommand(spec, render),
      expect: renderExpectations(spec.expect, render),
      capture: spec.capture,
      ...(spec.detached ? { detached: true } : {}),
      pty: spec.pty
        ? {
            answers: spec.pty.answers.map((a) => ({
              prompt: a.prompt,
              answer: render.parts(a.answer, 'text'),
              repeat: a.repeat ?? false,
            })),
            unexpectedPromptAfterMs: parseDuration(spec.pty.unexpectedPromptAfter ?? '30s') ?? 30_000,
          }
        : null,
    };
    return data;
  },
  describe(data) {
    const lines = [`$ ${composeCommand(data, displayParts)}`];
    if (data.stdin) lines.push(`stdin: ${JSON.stringify(displayParts(data.stdin))}`);
    for (const a of data.pty?.answers ?? []) {
      lines.push(`on prompt /${a.prompt}/ answer ${JSON.stringify(displayParts(a.answer))}${a.repeat ? ' (each time)' : ''}`);
    }
    if (data.detached) lines.push(describeDetached(Boolean(data.pty)));
    return [...lines, ...describeExpect(data.expect)];
  },
  async run(data, ctx) {
    const target = await ctx.connections.command(ctx.target);
    return data.detached ? runDetached(target, data, ctx) : runCommand(target, data, ctx);
  },
};
