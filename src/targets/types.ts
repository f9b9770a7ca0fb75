/**
 * The connections steps act through. Each is opened once per inventory entry, reused by every
 * step, and closed at the end of the run. Tests of the engine may pass fakes of these.
 */
import type { Scalar } from '../core/template.js';
import type { SecretHandoff } from './secret-delivery.js';

export interface PromptAnswerSpec {
  prompt: RegExp;
  answer: string;
  repeat: boolean;
  /** Shown in the transcript instead of the answer when it holds a secret. */
  display: string;
}

export interface CommandOptions {
  /** Written to the program's standard input, then closed. */
  stdin?: string;
  /** Run in a pseudo-terminal and answer the program's prompts. */
  pty?: { answers: PromptAnswerSpec[]; unexpectedPromptAfterMs: number };
  /** Secret values the command reads as shell variables, delivered out of band (never in argv). */
  secrets?: SecretHandoff;
  timeoutMs: number;
  signal: AbortSignal;
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
}

export interface CommandResult {
  exitCode: number | null;
  signal?: string | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  cancelled: boolean;
  /** The connection went away while the command ran: whether it took effect is unknown. */
  connectionLost?: boolean;
  /** Set when a pty session failed on a prompt (unexpected, or expected one never came). */
  promptFailure?: string | undefined;
  /** Answers given to prompts, in order (secrets masked). */
  answered?: Array<{ prompt: string; answer: string }>;
}

export interface CommandTarget {
  readonly name: string;
  /**
   * How the command's shell receives secret values: in its environment (a local child), or
   * (default) on the channel: standard input, or a staged file for a pseudo-terminal.
   */
  readonly secretDelivery?: 'environment' | 'channel';
  exec(command: string, options: CommandOptions): Promise<CommandResult>;
}

export interface SqlStatement {
  text: string;
  values: Array<Scalar | null>;
}

export interface SqlOptions {
  transaction: boolean;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface SqlResult {
  /** Rows of the last statement. */
  rows: Array<Record<string, unknown>>;
  fields: string[];
  /** Rows affected by the last statement (INSERT/UPDATE/DELETE). */
  rowCount: number | null;
  command: string;
}

export interface SqlTarget {
  readonly name: string;
  query(statements: SqlStatement[], options: SqlOptions): Promise<SqlResult>;
}

export interface HttpRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body?: string | undefined;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface HttpTarget {
  readonly name: string;
  request(request: HttpRequest): Promise<HttpResult>;
}

/** Opens connections lazily, one per inventory entry. */
export interface Connections {
  command(host: string | null): Promise<CommandTarget>;
  sql(database: string): Promise<SqlTarget>;
  http(endpoint: string): Promise<HttpTarget>;
  closeAll(): Promise<void>;
}
