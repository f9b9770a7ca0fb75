/**
 * How a shell step's pieces (environment, sudo, the command) become one command line. The same
 * function builds the text shown in the dry-run (secrets as ***) and the text that runs, so the
 * preview is exactly what executes.
 */
import { z } from 'zod';
import { exitCodes, textCapture, textMatch } from '../core/schema-parts.js';
import { quoteShellWord } from '../core/shell-quote.js';
import { materializeParts, type Part, type RuntimeValues } from '../core/template.js';
import { secretPrelude, secretVariableName, type SecretDelivery, type SecretVariable } from '../targets/secret-delivery.js';
import type { Renderer } from './types.js';

export const commandFields = {
  command: z.string().min(1).describe('Shell command. {{ }} values are shell-quoted; use {{ x | raw }} to splice.'),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string())
    .optional()
    .describe('Environment variables exported before the command (values shell-quoted; secrets masked in output).'),
  stdin: z.string().optional().describe('Text written to the command standard input.'),
  umask: z
    .string()
    .regex(/^0?[0-7]{3}$/, 'an octal file mode creation mask such as "077"')
    .optional()
    .describe(
      'File mode creation mask the command runs under (inside sudo too), e.g. "077" for a step that writes dumps or other sensitive files.',
    ),
  expect: z
    .object({ exitCode: exitCodes.optional(), stdout: textMatch.optional(), stderr: textMatch.optional() })
    .strict()
    .optional()
    .describe('What a successful run looks like. Default: exit code 0.'),
  capture: textCapture.optional(),
  detached: z
    .boolean()
    .optional()
    .describe(
      'Run apart from the session (own session, log and exit status on the target): Ctrl-C, a timeout or a lost connection only stop the waiting; runbook attach re-attaches.',
    ),
};

/**
 * Detached programs outlive the session, so two combinations cannot work and are refused when
 * the runbook is loaded (with the field's position) rather than when the step is reached: a
 * detached step with `stdin:` (nothing is left to write it), and a detached check (its result is
 * needed before the run goes on). Applied to every step and check by the schema.
 */
export function refuseDetachedStdin(spec: Record<string, unknown>, ctx: z.RefinementCtx): void {
  if (spec.detached === true && spec.stdin !== undefined)
    ctx.addIssue({ code: 'custom', path: ['stdin'], message: 'a detached step takes no stdin (answer its prompts with pty answers)' });
}

export function refuseDetachedCheck(spec: Record<string, unknown>, ctx: z.RefinementCtx): void {
  if (spec.detached === true)
    ctx.addIssue({
      code: 'custom',
      path: ['detached'],
      message: 'a check cannot be detached: the run waits for its result (only steps run detached)',
    });
}

/** The dry-run's word on a detached step: what runs where, and what the target needs. */
export function describeDetached(pty: boolean): string {
  return `detached: runs apart from this session (setsid${pty ? ', a pseudo-terminal by util-linux script, answers through a FIFO' : ''}); log and exit status in ~/.runbook/detached/<run-id>/ on the target`;
}

export interface CommandSpec {
  command: string;
  detached?: boolean | undefined;
  env?: Record<string, string> | undefined;
  stdin?: string | undefined;
  sudo?: boolean | string | undefined;
  umask?: string | undefined;
}

export type CommandData = {
  command: Part[];
  env: Array<{ name: string; value: Part[] }>;
  sudo: string | null;
  stdin: Part[] | null;
  /** Set first in the shell that runs the command (optional: plans written before it lack it). */
  umask?: string | undefined;
};

export function planCommand(spec: CommandSpec, render: Renderer): CommandData {
  return {
    command: render.parts(spec.command, 'shell'),
    env: Object.entries(spec.env ?? {}).map(([name, value]) => ({ name, value: render.parts(value, 'text') })),
    sudo: spec.sudo === true ? 'root' : typeof spec.sudo === 'string' ? spec.sudo : null,
    stdin: spec.stdin === undefined ? null : render.parts(spec.stdin, 'text'),
    ...(spec.umask ? { umask: spec.umask } : {}),
  };
}

/** Joins the pieces; `text` turns parts into the final (or displayed) text. */
export function composeCommand(data: CommandData, text: (parts: Part[]) => string): string {
  return joinCommand(data, (e) => quoteShellWord(text(e)), text, '');
}

function joinCommand(
  data: CommandData,
  envWord: (parts: Part[]) => string,
  commandText: (parts: Part[]) => string,
  prelude: string,
  outerPrelude = '',
): string {
  const exports = data.env.map((e) => `export ${e.name}=${envWord(e.value)}; `).join('');
  const umask = data.umask ? `umask ${data.umask}; ` : '';
  const body = prelude + umask + exports + commandText(data.command);
  if (data.sudo === null) return outerPrelude + body;
  const user = data.sudo === 'root' ? '' : `-u ${quoteShellWord(data.sudo)} `;
  // -n: never wait for a password on a remote terminal; -E keeps the exported variables.
  return `${outerPrelude}sudo -n -E ${user}-- sh -c ${quoteShellWord(body)}`;
}

export interface RunnableText {
  command: string;
  /** The values the command reads as shell variables, in the order its prelude reads them. */
  secrets: SecretVariable[];
}

/**
 * The text that runs: the same pieces as the dry-run, with each secret replaced by a reference
 * to a shell variable ("$RUNBOOK_SECRET_1") whose value travels out of band (secret-delivery.ts),
 * so no command line (sshd's, sudo's, the shell's) carries it.
 */
export function composeRunnable(data: CommandData, values: RuntimeValues, delivery: SecretDelivery, stagingDir?: string): RunnableText {
  const names = [...new Set([...data.env.flatMap((e) => e.value), ...data.command].flatMap((p) => ('secret' in p ? [p.secret] : [])))];
  const secrets = names.map((name, i) => ({ name: secretVariableName(i), value: values.secret(name) }));
  const piece = (part: Part, plain: (p: Part) => string): string => {
    if (!('secret' in part)) return plain(part);
    const variable = secretVariableName(names.indexOf(part.secret));
    // A secret spliced with `| raw` still cannot become shell code: it expands unquoted.
    return part.encoding === 'raw' ? `$${variable}` : `"$${variable}"`;
  };
  const envWord = (parts: Part[]) => parts.map((p) => piece(p, (q) => quoteShellWord(materializeParts([q], values)))).join('') || "''";
  const commandText = (parts: Part[]) => parts.map((p) => piece(p, (q) => materializeParts([q], values))).join('');
  // Standard input is read by the shell that runs the command (inside sudo: sudo logs no value);
  // a staged file is read by the login shell, which hands the values to sudo's shell (sudo -E).
  const prelude = secretPrelude(secrets, delivery, stagingDir, data.sudo !== null);
  const command =
    delivery === 'file' ? joinCommand(data, envWord, commandText, '', prelude) : joinCommand(data, envWord, commandText, prelude);
  return { command, secrets };
}
