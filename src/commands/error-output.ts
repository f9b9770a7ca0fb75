/**
 * How a command's failure reaches the operator: a typed error as its message and hint, anything
 * else as an internal error (a bug). Under `--json` every failure is one documented `error` line
 * on standard error (docs/json-events.md), so that a script never has to parse plain text.
 */
import { jsonLine } from '../engine/events.js';
import { EXIT, RunbookError, ValidationError } from '../core/errors.js';
import type { CommandContext } from './context.js';

/** The `error` line of the `--json` stream. `internal` marks a bug in runbook (exit 1). */
export function errorLine(fields: {
  error: RunbookError['code'] | 'internal';
  exitCode: number;
  message: string;
  hint: string | null;
  diagnostics?: ValidationError['diagnostics'];
  skipped?: ValidationError['skipped'];
  stack?: string;
}): string {
  return jsonLine({ type: 'error', ...fields }).trimEnd();
}

const INTERNAL_HINT = 'This is a bug in runbook. Run with RUNBOOK_DEBUG=1 for details and report it.';

/** Prints the error as the context asks (text or JSON) and returns the exit code. */
export function reportError(error: unknown, ctx: CommandContext): number {
  const c = ctx.errStyle;
  if (error instanceof RunbookError) {
    if (ctx.json)
      ctx.printError(
        errorLine({
          error: error.code,
          exitCode: error.exitCode,
          message: error.message,
          hint: error.hint ?? null,
          ...(error instanceof ValidationError ? { diagnostics: error.diagnostics, skipped: error.skipped } : {}),
        }),
      );
    else {
      // A diagnostic already reads "file:line:column: error: ...".
      const located = error instanceof ValidationError && !error.message.includes('\n');
      ctx.printError(c.red(located ? error.message : `error: ${error.message}`));
      if (error.hint) ctx.printError(c.dim(`hint: ${error.hint}`));
    }
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  const stack = ctx.env.RUNBOOK_DEBUG ? String(error instanceof Error ? error.stack : error) : undefined;
  if (ctx.json) {
    ctx.printError(errorLine({ error: 'internal', exitCode: EXIT.failed, message, hint: INTERNAL_HINT, ...(stack ? { stack } : {}) }));
  } else {
    ctx.printError(c.red(`internal error: ${message}`));
    ctx.printError(c.dim(INTERNAL_HINT));
    if (stack) ctx.printError(stack);
  }
  return EXIT.failed;
}

/**
 * A command line commander refused (unknown option, missing argument, no command). Its text is
 * kept from standard error under `--json`; this line says it instead.
 */
export function usageErrorLine(commanderMessage: string): string {
  const message = commanderMessage === '(outputHelp)' ? 'no command given' : commanderMessage.replace(/^error: /, '');
  return errorLine({ error: 'usage', exitCode: EXIT.usage, message, hint: 'Run `runbook --help` for the commands and their options.' });
}
