/** `local`: a command on the operator's machine (through execa, in sh). */
import { displayParts } from '../core/template.js';
import { commandFields, composeCommand, describeDetached, planCommand, type CommandSpec } from './command-shape.js';
import { runDetached } from './detached.js';
import { describeExpect, runCommand, type RunnableCommand } from './command-run.js';
import { renderExpectations } from './expectations.js';
import type { StepKind } from './types.js';

interface LocalSpec extends CommandSpec, Record<string, unknown> {
  expect?: RunnableCommand['expect'];
  capture?: { regex?: string };
}

export const localStep: StepKind<LocalSpec, RunnableCommand> = {
  kind: 'local',
  summary: "Run a shell command on the operator's machine.",
  target: 'none',
  changes: true,
  checkable: true,
  fields: { ...commandFields },
  plan(spec, render) {
    const data: RunnableCommand = {
      ...planCommand(spec, render),
      expect: renderExpectations(spec.expect, render),
      capture: spec.capture,
      ...(spec.detached ? { detached: true } : {}),
    };
    return data;
  },
  describe(data) {
    const lines = [`$ ${composeCommand(data, displayParts)}`];
    if (data.stdin) lines.push(`stdin: ${JSON.stringify(displayParts(data.stdin))}`);
    if (data.detached) lines.push(describeDetached(false));
    return [...lines, ...describeExpect(data.expect)];
  },
  async run(data, ctx) {
    const target = await ctx.connections.command(null);
    return data.detached ? runDetached(target, data, ctx) : runCommand(target, data, ctx);
  },
};
