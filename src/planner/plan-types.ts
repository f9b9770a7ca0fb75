/**
 * The resolved plan: plain JSON data, versioned, that the dry-run prints and execution consumes.
 * It never holds a secret value: secrets stay symbolic until a step runs.
 */
import type { Condition } from '../core/schema-parts.js';
import type { Part, Scalar } from '../core/template.js';
import type { PlannedParameter } from '../runbook/params.js';
import type { PlannedAction } from '../steps/types.js';

export type { PlannedParameter };

export const PLAN_FORMAT_VERSION = 2;

export interface PlannedTargetEntry {
  name: string;
  where: string;
}

export interface StepCondition {
  /** Decided when planning, from parameters. */
  decided: 'run' | 'skip' | 'at-run-time';
  /** Why a step is skipped, or the condition evaluated at run time, in words. */
  text: string | null;
  /** The part left for run time (conditions on step values). */
  runtime: Condition | null;
}

export interface PlannedStep {
  id: string;
  title: string;
  kind: string;
  phase: 'main' | 'rollback';
  notes: string | null;
  source: string | null;
  action: PlannedAction;
  confirm: { mode: 'none' | 'yes' | 'typed'; expected: Part[] | null };
  destructive: boolean;
  condition: StepCondition;
  verify: PlannedAction | null;
  timeoutMs: number;
  retries: { count: number; delayMs: number } | null;
  onFailure: { mode: 'stop' | 'continue' | 'rollback'; rollback: string[] };
  fanOut: { mode: 'parallel' | 'serial' | 'batches'; limit: number; batchSize: number; maxFailures: number };
}

/** A check run before anything changes, with what the runbook says of it. */
export type PlannedPrecondition = PlannedAction & { notes: string | null; source: string | null };

export interface PlannedSecret {
  /** `params.<name>` or `inventory.<entry>.<field>`. */
  name: string;
  from: { env: string } | { prompt: true } | { env: string; orPrompt: true };
  description: string;
}

export interface Plan {
  formatVersion: typeof PLAN_FORMAT_VERSION;
  runbook: { id: string; title: string; version: string; file: string; hash: string; source: string | null };
  inventory: { file: string; hash: string; name: string | null } | null;
  parameters: PlannedParameter[];
  targets: Record<string, { type: string; entries: PlannedTargetEntry[] }>;
  secrets: PlannedSecret[];
  answers: Record<string, string>;
  preconditions: PlannedPrecondition[];
  /** Preconditions whose `when` does not hold for these parameters: not checked. */
  skippedPreconditions: Array<{ title: string; condition: string }>;
  steps: PlannedStep[];
  rollback: PlannedStep[];
  /** --limit: the only hosts acted on (absent: every host of each role). */
  limit?: { requested: string[]; hosts: string[] };
}

export type { PlannedAction, Scalar };
