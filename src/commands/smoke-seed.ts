/**
 * Smoke seed files: the schema a runbook's SQL expects, and stand-ins for the steps a smoke run
 * skips whose effect later SQL relies on.
 *
 * A smoke run executes only SQL, so a later SQL step that reads what a manual or SSH step made
 * (Horizon's Slony catalog, re-created by "Initialize Slony" in a web UI) would fail for a
 * reason that has nothing to do with the runbook. A seed file may therefore carry sections
 *
 *     -- smoke: instead of <step-id> on <database-role>
 *     <SQL>
 *
 * The part before the first such line seeds the database; each section runs, in the run's own
 * order, where the named (skipped) step would have run, shown as a smoke stand-in, followed by the
 * step's own SQL check or verification if it has one. Stand-in SQL is literal (no templates),
 * one statement per `;` at the end of a line, all in one transaction.
 */
import { RunbookError, ValidationError } from '../core/errors.js';
import { readInputFile } from '../core/input-file.js';
import type { Plan, PlannedStep } from '../planner/plan-types.js';
import { getStepKind } from '../steps/registry.js';
import type { PlannedAction } from '../steps/types.js';

export interface StandIn {
  stepId: string;
  role: string;
  sql: string;
  file: string;
  line: number;
}

export interface SmokeSeed {
  file: string;
  /** SQL run once before the smoke run. */
  schema: string;
  standIns: StandIn[];
}

const MARKER = /^--\s*smoke:\s*instead of\s+(\S+)\s+on\s+(\S+)\s*$/;

export function readSmokeSeed(file: string): SmokeSeed {
  // A regular file of sane size in UTF-8, like every input file (a FIFO would hang the smoke run).
  const read = readInputFile(file);
  if (read.diagnostic) {
    const at = read.diagnostic.line ? ` at line ${read.diagnostic.line}, column ${read.diagnostic.column}` : '';
    throw new RunbookError('invalid', `cannot read the smoke seed ${file}${at}: ${read.diagnostic.message}`, {
      hint: 'Name an SQL file that creates the tables the runbook uses; the shipped ones are in fixtures/smoke/ of the package.',
    });
  }
  const text = read.text;
  const lines = text.split('\n');
  const seed: SmokeSeed = { file, schema: '', standIns: [] };
  let current: { stepId: string; role: string; line: number; body: string[] } | null = null;
  const schema: string[] = [];
  const close = () => {
    if (current)
      seed.standIns.push({ stepId: current.stepId, role: current.role, sql: current.body.join('\n').trim(), file, line: current.line });
  };
  lines.forEach((text, index) => {
    const marker = MARKER.exec(text);
    if (marker) {
      close();
      current = { stepId: marker[1] ?? '', role: marker[2] ?? '', line: index + 1, body: [] };
    } else (current ? current.body : schema).push(text);
  });
  close();
  seed.schema = schema.join('\n');
  return seed;
}

/** Puts each stand-in in place of its step; an unknown step or a role that is not a database is an error. */
export function applyStandIns(plan: Plan, standIns: StandIn[]): Plan {
  const problems = standIns.flatMap((s) => {
    const step = plan.steps.find((x) => x.id === s.stepId);
    const where = { severity: 'error' as const, file: s.file, line: s.line, path: '' };
    if (!step) return [{ ...where, message: `smoke stand-in for unknown step "${s.stepId}" in runbook ${plan.runbook.id}` }];
    if (plan.targets[s.role]?.type !== 'database')
      return [{ ...where, message: `smoke stand-in for "${s.stepId}": "${s.role}" is not a database role of ${plan.runbook.id}` }];
    if (step.kind === 'sql')
      return [{ ...where, message: `smoke stand-in for "${s.stepId}": it is a SQL step, which the smoke run runs itself` }];
    return [];
  });
  if (problems.length) throw new ValidationError(problems);
  const byStep = new Map(standIns.map((s) => [s.stepId, s]));
  return { ...plan, steps: plan.steps.map((step) => (byStep.has(step.id) ? standInStep(step, byStep.get(step.id)!, plan) : step)) };
}

function standInStep(step: PlannedStep, standIn: StandIn, plan: Plan): PlannedStep {
  const sqlKind = getStepKind('sql');
  const data = sqlKind.plan(
    {
      sql: standIn.sql
        .split(/;[ \t]*(?:\n|$)/)
        .map((t) => t.trim())
        .filter((t) => t && !/^(--[^\n]*\n?)*$/.test(t)),
    },
    { sql: (text) => ({ text, binds: [] }), parts: (text) => [{ text }] },
    {
      check: () => {
        throw new Error('a stand-in has no nested check');
      },
    },
  );
  const entry = plan.targets[standIn.role]?.entries[0];
  const action: PlannedAction = {
    kind: 'sql',
    title: `smoke stand-in for: ${step.title}`,
    role: standIn.role,
    instances: entry ? [{ target: entry.name, where: entry.where, data }] : [],
    timeoutMs: step.action.timeoutMs,
  };
  const check = sqlCheckOf(step);
  return {
    ...step,
    kind: 'sql',
    title: `smoke stand-in for: ${step.title}`,
    action,
    verify: check,
    confirm: { mode: 'none', expected: null },
    destructive: false,
    retries: null,
  };
}

/** The step's own SQL check: a manual step's check, or a SQL verification. */
function sqlCheckOf(step: PlannedStep): PlannedAction | null {
  if (step.verify?.kind === 'sql') return step.verify;
  const check = step.action.instances[0]?.data.check as PlannedAction | null | undefined;
  return check?.kind === 'sql' ? check : null;
}
