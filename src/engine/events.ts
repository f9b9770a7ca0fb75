/**
 * Execution emits these typed events; the terminal view, the JSON stream and the journal are
 * listeners. Every event passes through the secret redactor before any listener sees it.
 */
import type { Scalar } from '../core/template.js';
import type { DetachedEvent } from '../steps/detached-events.js';

/**
 * Version of the `--json` event stream (docs/json-events.md), in every line as `schemaVersion`.
 * Adding an event type or an optional field keeps it; renaming or removing a field, changing
 * its meaning or type raises it, so that a consumer can refuse a stream it does not understand.
 */
export const EVENT_SCHEMA_VERSION = 1;

/** One line of the `--json` stream: the event with the schema version first. */
export function jsonLine<E extends { type: string }>(event: E): string {
  const { type, ...rest } = event;
  return JSON.stringify({ schemaVersion: EVENT_SCHEMA_VERSION, type, ...rest }) + '\n';
}

/**
 * How a step ended. `interrupted`: a stop (Ctrl-C) left targets not started or cancelled;
 * `unknown`: the connection to a target was lost while the step ran there, so nobody knows
 * whether it took effect. Resume runs either only where no success was recorded.
 */
export type StepStatus = 'succeeded' | 'failed' | 'skipped' | 'interrupted' | 'unknown';

/**
 * Why a step was skipped: its condition was false (a fact about this run, kept on resume), or
 * `--from`/`--only` left it out (left out again on resume). `reason` says it in words.
 */
export type SkipCause = 'condition' | 'not-selected';

interface Base {
  time: string;
}

export type RunEvent = Base &
  (
    | {
        type: 'run-started';
        runId: string;
        mode: 'exec' | 'check' | 'resume';
        runbook: { id: string; version: string; hash: string; file: string };
        inventory: { file: string; hash: string } | null;
        operator: string;
        parameters: Array<{ name: string; value: Scalar | '***' }>;
        selection: { from: string | null; only: string | null; forced: boolean };
      }
    | { type: 'preconditions-started'; count: number }
    | {
        type: 'check-finished';
        phase: 'precondition' | 'verify' | 'check';
        stepId: string | null;
        title: string;
        target: string | null;
        status: 'succeeded' | 'failed';
        message: string;
      }
    | { type: 'preconditions-finished'; failed: number }
    | { type: 'step-skipped'; stepId: string; title: string; cause: SkipCause; reason: string }
    | { type: 'confirmation'; stepId: string; mode: 'yes' | 'typed'; answer: 'confirmed' | 'declined'; by: 'operator' | 'flag' }
    | {
        type: 'step-started';
        stepId: string;
        title: string;
        kind: string;
        phase: 'main' | 'rollback';
        attempt: number;
        targets: string[];
        commands: Array<{ target: string | null; lines: string[] }>;
      }
    | { type: 'instance-started'; stepId: string; target: string | null }
    | { type: 'output'; stepId: string; target: string | null; stream: 'stdout' | 'stderr'; text: string }
    | {
        type: 'instance-finished';
        stepId: string;
        target: string | null;
        status: 'succeeded' | 'failed';
        message: string;
        durationMs: number;
        exitCode?: number | null;
        value?: Scalar;
        answers?: Array<{ prompt: string; answer: string }>;
        timedOut?: boolean;
        cancelled?: boolean;
      }
    | {
        type: 'step-finished';
        stepId: string;
        status: StepStatus;
        message: string;
        durationMs: number;
        value?: Scalar;
        stdout?: string;
        exitCode?: number | null;
      }
    | { type: 'rollback-started'; stepId: string; rollback: string[] }
    | DetachedEvent
    | { type: 'interrupt-requested'; message: string }
    | { type: 'run-finished'; status: 'succeeded' | 'failed' | 'aborted' | 'interrupted'; message: string; exitCode: number }
  );

export type RunEventType = RunEvent['type'];

export type Listener = (event: RunEvent) => void;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type NewEvent = DistributiveOmit<RunEvent, 'time'>;

export class EventBus {
  private readonly listeners: Listener[] = [];
  constructor(private readonly redact: (text: string) => string) {}

  on(listener: Listener): void {
    this.listeners.push(listener);
  }

  emit(event: NewEvent): void {
    const full = redactDeep({ time: new Date().toISOString(), ...event }, this.redact) as RunEvent;
    for (const listener of this.listeners) listener(full);
  }
}

function redactDeep(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, redact)]));
  return value;
}
