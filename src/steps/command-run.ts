/** Runs a planned shell command (ssh or local) and judges its result. Shared by both kinds. */
import { displayParts, materializeParts, type Part } from '../core/template.js';
import type { TextMatch } from '../core/schema-parts.js';
import type { CommandResult, CommandTarget, PromptAnswerSpec } from '../targets/types.js';
import { newStagingDir, undeliverableSecret, type SecretDelivery } from '../targets/secret-delivery.js';
import { composeRunnable, type CommandData } from './command-shape.js';
import { captureText, checkExitCode, checkText, clip, describeTextMatch, resolveExpectations } from './expectations.js';
import type { ActionResult, RunContext } from './types.js';

export interface CommandExpect {
  exitCode?: number | number[] | undefined;
  stdout?: TextMatch | undefined;
  stderr?: TextMatch | undefined;
}

export interface PtyData {
  answers: Array<{ prompt: string; answer: Part[]; repeat: boolean }>;
  unexpectedPromptAfterMs: number;
}

export type RunnableCommand = CommandData & {
  expect?: CommandExpect | undefined;
  capture?: { regex?: string | undefined } | undefined;
  pty?: PtyData | null | undefined;
  /** Runs apart from the session (see detached.ts). */
  detached?: boolean | undefined;
};

export async function runCommand(target: CommandTarget, data: RunnableCommand, ctx: RunContext): Promise<ActionResult> {
  const started = Date.now();
  const materialize = (parts: Part[]): string => materializeParts(parts, ctx.values);
  const delivery: SecretDelivery = target.secretDelivery === 'environment' ? 'environment' : data.pty ? 'file' : 'stdin';
  const stagingDir = delivery === 'file' ? newStagingDir() : undefined;
  const { command, secrets } = composeRunnable(data, ctx.values, delivery, stagingDir);
  const unsendable = delivery === 'environment' ? undefined : undeliverableSecret(secrets);
  if (unsendable) {
    return {
      status: 'failed',
      message: 'a secret value used by this command holds a line break, which cannot be sent to the remote shell; nothing was run',
      durationMs: 0,
    };
  }
  const answers = answerSpecs(data, materialize);
  const result = await target.exec(command, {
    ...(data.stdin ? { stdin: materialize(data.stdin) } : {}),
    ...(secrets.length ? { secrets: { variables: secrets, stagingDir } } : {}),
    ...(answers && data.pty ? { pty: { answers, unexpectedPromptAfterMs: data.pty.unexpectedPromptAfterMs } } : {}),
    timeoutMs: ctx.timeoutMs,
    signal: ctx.signal,
    onOutput: ctx.onOutput,
  });
  return judgeCommand(data, result, ctx, materialize, started);
}

/** The step's prompt -> answer rules with their values in (secrets shown masked in the transcript). */
export function answerSpecs(data: RunnableCommand, materialize: (parts: Part[]) => string): PromptAnswerSpec[] | undefined {
  return data.pty?.answers.map((a) => ({
    prompt: new RegExp(a.prompt),
    answer: materialize(a.answer),
    repeat: a.repeat,
    display: displayParts(a.answer),
  }));
}

/** Judges a finished command by its step's expectations (exit code, output, capture). */
export function judgeCommand(
  data: RunnableCommand,
  result: CommandResult,
  ctx: Pick<RunContext, 'timeoutMs'>,
  materialize: (parts: Part[]) => string,
  started: number,
): ActionResult {
  const expect = resolveExpectations(data.expect, materialize);
  const base = {
    durationMs: Date.now() - started,
    exitCode: result.exitCode,
    stdout: result.stdout,
    stderr: result.stderr,
    timedOut: result.timedOut,
    cancelled: result.cancelled,
    ...(result.connectionLost ? { connection: 'lost' as const } : {}),
    ...(result.answered ? { answers: result.answered } : {}),
  };
  const failure =
    (result.connectionLost ? 'the connection was lost while the command ran: its outcome is unknown' : undefined) ??
    (result.cancelled ? 'cancelled' : undefined) ??
    (result.timedOut ? `timed out after ${Math.round(ctx.timeoutMs / 1000)}s` : undefined) ??
    result.promptFailure ??
    checkExitCode(expect?.exitCode, result.exitCode) ??
    checkText('stdout', expect?.stdout, result.stdout) ??
    checkText('stderr', expect?.stderr, result.stderr);
  if (failure) {
    const lastError = result.stderr.trim().split('\n').pop();
    const detail = lastError && !failure.startsWith('stderr') ? ` (stderr: ${clip(lastError, 160)})` : '';
    return { status: 'failed', message: failure + detail, ...base };
  }
  const value = data.capture ? captureText(data.capture.regex, result.stdout) : undefined;
  if (data.capture && value === undefined) {
    return { status: 'failed', message: `capture /${data.capture.regex}/ found nothing in stdout`, ...base };
  }
  return { status: 'succeeded', message: `exit code ${result.exitCode}`, ...base, ...(value === undefined ? {} : { value }) };
}

/** The dry-run lines of a command's expectations (ssh and local steps). */
export function describeExpect(rendered: RunnableCommand['expect']): string[] {
  if (!rendered) return [];
  const expect = resolveExpectations(rendered, displayParts);
  const lines: string[] = [];
  if (expect.exitCode !== undefined) lines.push(`expect exit code ${[expect.exitCode].flat().join(' or ')}`);
  return [...lines, ...describeTextMatch('stdout', expect.stdout), ...describeTextMatch('stderr', expect.stderr)];
}
