/**
 * The typed errors of runbook. Only the CLI entry point turns them into an exit code; every
 * other module throws or returns them. Each carries a hint that tells the operator what to do.
 */

/** Documented exit codes (README "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** A step, precondition or verification failed; the run stopped. */
  failed: 1,
  /** Bad command line usage (unknown option, missing argument). */
  usage: 2,
  /** Invalid runbook, inventory or parameter: nothing was touched. */
  invalid: 3,
  /** A precondition failed before any change. */
  precondition: 4,
  /** The operator declined a confirmation or aborted. */
  aborted: 5,
  /** A connection could not be opened or was lost (SSH, PostgreSQL, HTTP). */
  connection: 6,
  /** SSH host key unknown or changed. */
  hostKey: 7,
  /** Another run holds the lock for this runbook and target set. */
  locked: 8,
  /** Resume refused (journal mismatch, run not found, changed runbook). */
  resume: 9,
  /**
   * The state directory cannot be used: disk full, read-only or unwritable, or unsafe (owned by
   * another user, writable by others). Whatever was journaled stays readable.
   */
  state: 10,
  /** A detached step's program still runs on its target: `runbook attach <run-id>` re-attaches. */
  detached: 11,
  /** Interrupted by a signal (Ctrl-C / SIGTERM); the journal records where. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export type ErrorCode =
  | 'usage'
  | 'invalid'
  | 'step-failed'
  | 'precondition'
  | 'aborted'
  | 'connection'
  | 'host-key'
  | 'locked'
  | 'resume'
  | 'state'
  | 'interrupted'
  | 'detached';

const exitByCode: Record<ErrorCode, ExitCode> = {
  usage: EXIT.usage,
  invalid: EXIT.invalid,
  'step-failed': EXIT.failed,
  precondition: EXIT.precondition,
  aborted: EXIT.aborted,
  connection: EXIT.connection,
  'host-key': EXIT.hostKey,
  locked: EXIT.locked,
  resume: EXIT.resume,
  state: EXIT.state,
  interrupted: EXIT.interrupted,
  detached: EXIT.detached,
};

/** The error code that ends a command with this exit code (a run's summary becomes an error). */
export function errorCodeForExit(exitCode: number): ErrorCode {
  const found = (Object.entries(exitByCode) as Array<[ErrorCode, ExitCode]>).find(([, exit]) => exit === exitCode);
  return found ? found[0] : 'step-failed';
}

export class RunbookError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RunbookError';
    this.code = code;
    this.hint = options.hint;
  }
  get exitCode(): ExitCode {
    return exitByCode[this.code];
  }
}

/** Where in a source file a problem is. */
export interface SourcePosition {
  file: string;
  line?: number;
  column?: number;
}

/** One validation problem: a file position, the field path, what was expected and found. */
export interface Diagnostic extends SourcePosition {
  severity: 'error' | 'warning';
  /** Dotted field path, e.g. `steps[3].confirm.value`. */
  path: string;
  message: string;
}

/**
 * A validation stage that could not run because an earlier one failed in a way it depends on
 * (the YAML does not parse, so the schema cannot be checked): said, so that fixing the problems
 * shown is not taken for the end of the story.
 */
export interface SkippedStage {
  stage: string;
  reason: string;
}

/**
 * Bad input: a malformed runbook, inventory or parameter. Carries every diagnostic found, of
 * every stage that could run, and the stages that could not.
 */
export class ValidationError extends RunbookError {
  readonly diagnostics: Diagnostic[];
  readonly skipped: SkippedStage[];
  constructor(diagnostics: Diagnostic[], hint?: string, skipped: SkippedStage[] = []) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0];
    const summary =
      (errors.length === 1 && first
        ? formatDiagnostic(first)
        : `${errors.length} problems found:\n` + errors.map((d) => '  ' + formatDiagnostic(d)).join('\n')) +
      skipped.map((s) => `\n  skipped: ${s.stage} (${s.reason})`).join('');
    super('invalid', summary, { hint: hint ?? 'Fix the file and run `runbook validate` again. Nothing was run.' });
    this.name = 'ValidationError';
    this.diagnostics = diagnostics;
    this.skipped = skipped;
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line ? `${d.file}:${d.line}:${d.column ?? 1}` : d.file;
  const field = d.path ? ` ${d.path}:` : '';
  return `${where}: ${d.severity}:${field} ${d.message}`;
}
