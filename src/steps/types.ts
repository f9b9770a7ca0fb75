/**
 * The one interface every step kind implements: its schema, how it plans (renders templates for
 * one target), how it is shown in a dry-run, and how it runs. One file per kind in src/steps/,
 * registered in registry.ts. Kinds never import connection libraries: they act through the
 * connections given in the run context, which the engine opens lazily.
 */
import type { z } from 'zod';
import type { BindValue, Encoding, Part, RenderedSql, RuntimeValues, Scalar } from '../core/template.js';
import type { CommandTarget, Connections } from '../targets/types.js';
import type { DetachedEvent } from './detached-events.js';

/** What a kind's target role must be bound to in the inventory. */
export type TargetType = 'hosts' | 'database' | 'http' | 'none';

/** Renders templates for one instance (one target entry) of a step. */
export interface Renderer {
  parts(template: string, encoding: Exclude<Encoding, 'raw'>): Part[];
  sql(template: string): RenderedSql;
}

/** The outcome of running one instance of an action, the same shape for success and failure. */
export interface ActionResult {
  status: 'succeeded' | 'failed';
  /** A short sentence: what happened, or why it failed. */
  message: string;
  durationMs: number;
  exitCode?: number | null;
  stdout?: string;
  stderr?: string;
  rows?: Array<Record<string, unknown>>;
  rowCount?: number | null;
  httpStatus?: number;
  body?: string;
  timedOut?: boolean;
  cancelled?: boolean;
  /**
   * The target could not be reached (`unreachable`: nothing ran there) or the connection was
   * lost while the action ran (`lost`: its outcome there is unknown).
   */
  connection?: 'unreachable' | 'lost';
  /** The captured value (prompt answer, capture rule), usable as {{ steps.<id>.value }}. */
  value?: Scalar;
  /** A detached step whose program still runs on its target: nothing is judged yet. */
  leftRunning?: boolean;
  /** Prompts the step answered (pty sessions, operator prompts). */
  answers?: Array<{ prompt: string; answer: string }>;
  /** Lines of a unified diff (file-edit). */
  diff?: string;
}

/** Operator interaction available to manual and prompt steps. */
export interface OperatorIO {
  /**
   * Shows instructions and waits until the operator says it is done; false = abort. `attest`:
   * only a person on a terminal, or the explicit `--attest <step>` flag, may say so.
   */
  confirmDone(title: string, instructions: string, options?: { attest?: boolean }): Promise<boolean>;
  ask(question: string, choices: string[] | undefined, defaultValue: string | undefined): Promise<string>;
  /** After a failed manual check: retry the check, or abort. */
  retryOrAbort(message: string): Promise<'retry' | 'abort'>;
}

export interface RunContext {
  stepId: string;
  target: string | null;
  connections: Connections;
  values: RuntimeValues;
  timeoutMs: number;
  signal: AbortSignal;
  onOutput(stream: 'stdout' | 'stderr', text: string): void;
  operator: OperatorIO;
  /** Pre-answered prompt values (from --answer or the inventory), by step id. */
  presetAnswer: string | undefined;
  /** Runs a nested check (manual step check, wait until). */
  runCheck(check: PlannedAction): Promise<ActionResult>;
  sleep(ms: number): Promise<void>;
  /** What a detached step needs of the engine (absent for checks: they never run detached). */
  detached?: DetachedContext | undefined;
}

/** A detached program found in the journal, to re-attach to. */
export interface DetachedRecord {
  pid: number;
  dir: string;
  /** How far the output was read. */
  offset: number;
  /** The line it waited on when it was left for want of an answer. */
  prompt?: string | undefined;
}

export interface DetachedContext {
  runId: string;
  /** The first Ctrl-C: stop waiting at once (the program goes on). */
  stopSignal: AbortSignal;
  /** A terminal to ask the operator on (an unexpected prompt). */
  interactive: boolean;
  /** Journals a detached-* event (durably). */
  emit(event: DetachedEvent): void;
  /** The program of this step already started on this target: re-attach instead of starting. */
  existing: DetachedRecord | undefined;
  /** The operator confirmed killing the program (runbook attach --kill). */
  kill: boolean;
}

/** A kind-specific, fully rendered action for one target: plain JSON data. */
export type ActionData = Record<string, unknown>;

/** One target of a planned action with its rendered data. */
export interface ActionInstance {
  /** Inventory entry name (host, database, endpoint), or null for local/operator actions. */
  target: string | null;
  /** Address shown to the operator (user@host:port, db URL, base URL). */
  where: string;
  data: ActionData;
}

/** An action (step body, check, verification) planned for each of its targets. */
export interface PlannedAction {
  kind: string;
  title: string;
  role: string | null;
  instances: ActionInstance[];
  timeoutMs: number;
}

/**
 * A step kind, typed over its step fields (`Spec`, as the schema validated them) and the data
 * its `plan` renders for one target (`Data`): `describe` and `run` get back exactly what `plan`
 * made (the plan stores it; the dry-run and the executor hand it to the same kind). The registry
 * holds every kind as a plain `StepKind`: the methods take their parameters bivariantly, so a
 * `StepKind<SshSpec, RunnableCommand>` is one without a cast. `Data` is a type alias (not an
 * interface) so that it is plain JSON data, an `ActionData`.
 */
export interface StepKind<Spec extends Record<string, unknown> = Record<string, unknown>, Data extends ActionData = ActionData> {
  kind: string;
  summary: string;
  /** The kind-specific fields (merged with the common step fields). */
  fields: z.ZodRawShape;
  target: TargetType;
  /** True if a step of this kind changes something by default (so it asks for confirmation). */
  changes: boolean;
  /**
   * It may serve as a check (precondition, verification, a manual step's check, what a wait
   * polls): a read-only action with an expected result.
   */
  checkable: boolean;
  plan(spec: Spec, render: Renderer, plan: NestedPlanner): Data;
  /** Lines shown in the dry-run for one instance. */
  describe(data: Data): string[];
  run(data: Data, context: RunContext): Promise<ActionResult>;
}

/** Lets a kind plan a nested check (manual step check, wait until). */
export interface NestedPlanner {
  check(spec: Record<string, unknown>, defaultRole: string | null, path: string): PlannedAction;
}

export type { BindValue, CommandTarget, Part };
