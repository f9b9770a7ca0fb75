/**
 * How a shell step's pieces (environment, sudo, the command) become one command line. The same
 * function builds the text shown in the dry-run (secrets as ***) and the text that runs, so the
 * preview is exactly what executes.
 */
import { z } from 'zod';
import { exitCodes, textCapture, textMatch } from '../runbook/schema-parts.js';
import { quoteShellWord } from '../runbook/shell-quote.js';
import type { Part } from '../runbook/template.js';
import type { Renderer } from './types.js';

export const commandFields = {
  command: z.string().min(1).describe('Shell command. {{ }} values are shell-quoted; use {{ x | raw }} to splice.'),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string())
    .optional()
    .describe('Environment variables exported before the command (values shell-quoted; secrets masked in output).'),
  stdin: z.string().optional().describe('Text written to the command standard input.'),
  expect: z
    .object({ exitCode: exitCodes.optional(), stdout: textMatch.optional(), stderr: textMatch.optional() })
    .strict()
    .optional()
    .describe('What a successful run looks like. Default: exit code 0.'),
  capture: textCapture.optional(),
};

export interface CommandSpec {
  command: string;
  env?: Record<string, string> | undefined;
  stdin?: string | undefined;
  sudo?: boolean | string | undefined;
}

export interface CommandData {
  command: Part[];
  env: Array<{ name: string; value: Part[] }>;
  sudo: string | null;
  stdin: Part[] | null;
}

export function planCommand(spec: CommandSpec, render: Renderer): CommandData {
  return {
    command: render.parts(spec.command, 'shell'),
    env: Object.entries(spec.env ?? {}).map(([name, value]) => ({ name, value: render.parts(value, 'text') })),
    sudo: spec.sudo === true ? 'root' : typeof spec.sudo === 'string' ? spec.sudo : null,
    stdin: spec.stdin === undefined ? null : render.parts(spec.stdin, 'text'),
  };
}

/** Joins the pieces; `text` turns parts into the final (or displayed) text. */
export function composeCommand(data: CommandData, text: (parts: Part[]) => string): string {
  const exports = data.env.map((e) => `export ${e.name}=${quoteShellWord(text(e.value))}; `).join('');
  const body = exports + text(data.command);
  if (data.sudo === null) return body;
  const user = data.sudo === 'root' ? '' : `-u ${quoteShellWord(data.sudo)} `;
  // -n: never wait for a password on a remote terminal; -E keeps the exported variables.
  return `sudo -n -E ${user}-- sh -c ${quoteShellWord(body)}`;
}
