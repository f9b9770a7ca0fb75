/**
 * `runbook resume <run-id>`: continues a run after its last completed step, with the plan the
 * journal stored (executed as it was reviewed) and secrets read again. A step that started and
 * never recorded an end is never re-run silently: its verification decides where it has one,
 * otherwise the operator does (on a terminal, or with --unknown rerun|done|abort).
 *
 * `runbook attach <run-id>` is a resume that re-attaches to the detached step a run left running,
 * shows its log from where the reading stopped, waits for its exit status, judges it (and its
 * verification), and stops there. With --kill the programs are killed first, after a typed
 * confirmation (or --confirm-kill without a terminal), and the journal records it.
 */
import { createHash } from 'node:crypto';
import { RunbookError } from '../core/errors.js';
import { verifyStep, type RunSummary } from '../engine/executor.js';
import { journalAlteredError } from '../journal/journal.js';
import { detachedPrograms } from '../journal/detached-records.js';
import type { DetachedRecord } from '../steps/types.js';
import { lockedError } from '../journal/lock.js';
import { analyzeRun, findStep, type RunAnalysis } from '../journal/read.js';
import { openStateStore, type StateStore } from '../journal/store.js';
import type { PlannedStep } from '../planner/plan-types.js';
import { loadInventory } from '../inventory/inventory.js';
import { readInputFile } from '../core/input-file.js';
import { askTyped, askUnknownOutcome, type UnknownOutcomeChoice as Choice } from '../ui/prompts.js';
import type { CommandContext } from './context.js';
import { runPrepared, type ExecOptions, type ResumeHooks, type RunSession } from './session.js';

export interface ResumeOptions {
  yes?: boolean;
  allowDestructive?: boolean;
  attest?: string[];
  force?: boolean;
  unknown?: string;
  acceptNewHostKeys?: boolean;
  knownHosts?: string;
  stateDir?: string;
  stateUrl?: string;
  /** runbook attach: only the detached step, then stop; `confirmKill` asks before killing it. */
  attach?: { confirmKill: ((step: PlannedStep, targets: string[]) => Promise<void>) | null };
}

const CHOICES: Choice[] = ['rerun', 'done', 'abort'];

function refuse(message: string, hint: string): RunbookError {
  return new RunbookError('resume', message, { hint });
}

function sha256OfFile(file: string): string | null {
  const read = readInputFile(file);
  return read.text === undefined ? null : createHash('sha256').update(read.text).digest('hex');
}

export async function resumeCommand(runId: string, options: ResumeOptions, ctx: CommandContext): Promise<RunSummary> {
  if (options.unknown !== undefined && !CHOICES.includes(options.unknown as Choice)) {
    throw new RunbookError('usage', `--unknown ${options.unknown}: expected one of ${CHOICES.join(', ')}`, {
      hint: 'rerun: run the step again; done: count it as done; abort: end the run here.',
    });
  }
  const store = await openStateStore(options, ctx.env);
  try {
    return await resume(runId, options, ctx, store);
  } finally {
    await store.close();
  }
}

async function resume(runId: string, options: ResumeOptions, ctx: CommandContext, store: StateStore): Promise<RunSummary> {
  const run = await store.readRun(runId);
  if (!run) throw refuse(`no run ${runId} in ${store.where}`, `runbook runs${store.option} lists the recorded runs.`);
  // An edited plan or journal is never executed: what it says ran may not be what ran.
  if (run.integrity.problems.length) throw journalAlteredError(runId, store.where, run.integrity.problems);
  if (run.integrity.torn !== null && !ctx.json)
    ctx.printError(`note: the journal's last line was cut off when the run died mid-write; it is dropped (and recorded as dropped).`);
  const plan = run.plan;
  if (!plan) throw refuse(`run ${runId} has no stored plan`, 'The journal is incomplete; start a new run.');
  const a = analyzeRun(run);
  if (!a.first) throw refuse(`run ${runId} never started`, 'Start a new run with runbook exec.');
  if (a.state === 'succeeded')
    throw refuse(`run ${runId} already succeeded; there is nothing to resume`, 'runbook report ' + runId + ' shows its record.');
  if (a.rolledBack)
    throw refuse(
      `run ${runId} failed and rolled back`,
      'Resuming after a rollback would mix two states; start a new run when the cause is fixed.',
    );
  const live = (await store.locks()).find((l) => l.runId === runId && !l.stale);
  if (live) throw lockedError(live, store.option);

  // The plan is executed as stored; the files it came from must still be the same.
  const changed: string[] = [];
  if (sha256OfFile(plan.runbook.file) !== plan.runbook.hash) changed.push(`the runbook ${plan.runbook.file}`);
  if (plan.inventory && sha256OfFile(plan.inventory.file) !== plan.inventory.hash) changed.push(`the inventory ${plan.inventory.file}`);
  if (changed.length && !options.force) {
    throw refuse(
      `${changed.join(' and ')} changed since run ${runId} started`,
      'Resume executes the plan stored with the run; review the change, then add --force to resume anyway (recorded in the journal), or start a new run.',
    );
  }
  if (!plan.inventory) throw refuse(`run ${runId} has no inventory`, 'Only runs with an inventory file can be resumed.');
  const unknownStep = a.unknown ? findStep(plan, a.unknown.step.stepId) : undefined;
  // A step left running detached is no unknown outcome: its programs are re-attached to.
  const programs = unknownStep ? detachedPrograms(run.records, unknownStep.id) : new Map<string | null, DetachedRecord>();
  if (options.attach && (!unknownStep || !programs.size))
    throw refuse(
      `no detached step of run ${runId} is waiting to be re-attached`,
      `runbook resume ${runId} continues the run; runbook report ${runId} shows its record.`,
    );
  if (unknownStep && !programs.size && !unknownStep.verify && !ctx.interactive && !options.unknown) {
    throw refuse(
      `step ${unknownStep.id} started in the interrupted run and has no recorded end; it has no verification, so its outcome is unknown`,
      `Check ${describeTargets(a)} by hand, then resume with --unknown rerun (run it again), --unknown done (count it as done) or --unknown abort, or resume on a terminal to be asked.`,
    );
  }
  let inventory;
  try {
    inventory = loadInventory(plan.inventory.file);
  } catch (error) {
    throw refuse(
      `cannot read the inventory ${plan.inventory.file}: ${(error as Error).message}`,
      'Resume needs the inventory the run used.',
    );
  }
  const hooks: ResumeHooks = {
    runId,
    store,
    from: a.first.selection.from,
    only: a.first.selection.only,
    forcedChanges: changed,
    settle: (session) =>
      programs.size ? reattach(session, a, unknownStep!, programs, ctx) : settle(session, a, unknownStep, options, ctx),
  };
  if (options.attach && unknownStep) {
    const kill = options.attach.confirmKill !== null;
    await options.attach.confirmKill?.(
      unknownStep,
      [...programs.keys()].map((t) => t ?? 'local'),
    );
    hooks.attach = { stopAfter: unknownStep.id, kill };
  }
  const execOptions: ExecOptions = {
    yes: options.yes ?? false,
    allowDestructive: options.allowDestructive ?? false,
    ...(options.attest ? { attest: options.attest } : {}),
    acceptNewHostKeys: options.acceptNewHostKeys ?? false,
    ...(options.knownHosts ? { knownHosts: options.knownHosts } : {}),
  };
  if (!ctx.json) {
    const done = [...a.completed.keys()];
    ctx.print(
      `Resuming run ${runId} (${a.state}; ${done.length} of ${plan.steps.length} step(s) completed${a.lastStep ? `, last step ${a.lastStep}` : ''}).`,
    );
  }
  return runPrepared({ plan, inventory }, execOptions, ctx, 'exec', hooks);
}

/** The step runs detached: re-attach to its programs; targets where it already ended are done. */
async function reattach(
  session: RunSession,
  a: RunAnalysis,
  step: PlannedStep,
  programs: Map<string | null, DetachedRecord>,
  ctx: CommandContext,
) {
  const settled = await settle(session, { ...a, unknown: null }, undefined, {}, ctx);
  if (settled === 'abort') return settled;
  const where = [...programs].map(([t, p]) => `${t ?? 'local'} (pid ${p.pid}, ${p.dir})`).join(', ');
  if (!ctx.json) ctx.print(`Step ${step.id} (${step.title}) runs detached on ${where}: re-attaching.`);
  const done = a.unknown?.succeededTargets ?? [];
  return {
    ...settled,
    reattach: new Map([[step.id, programs]]),
    ...(done.length ? { doneTargets: new Map([[step.id, new Set(done)]]) } : {}),
  };
}

function describeTargets(a: RunAnalysis): string {
  const u = a.unknown;
  if (!u) return 'the targets';
  const finished = u.finishedTargets.length ? ` (finished on ${u.finishedTargets.join(', ')})` : '';
  return `${u.step.targets.join(', ') || 'the operator machine'}${finished}`;
}

type Say = (text: string) => void;
type Settled = Awaited<ReturnType<ResumeHooks['settle']>>;

/** How the unknown outcome of the interrupted step was decided, before anything is applied. */
interface UnknownDecision {
  decision: Choice;
  by: 'verification' | 'operator' | 'flag';
  message: string;
  /** The targets known to have taken the step: a rerun leaves them alone. */
  doneOn: string[];
}

/**
 * What the journal says is done, and the step of unknown outcome decided (by its verification,
 * --unknown or the operator) and applied; or 'abort'.
 */
async function settle(
  session: RunSession,
  a: RunAnalysis,
  step: PlannedStep | undefined,
  options: ResumeOptions,
  ctx: CommandContext,
): Promise<Settled> {
  const completed = completedSteps(a);
  // Preconditions describe the state before the first change; once a step ran they no longer hold.
  const runPreconditions = a.lastStep === null;
  const say: Say = (text) => {
    if (!ctx.json) ctx.print(text);
  };
  if (!step || !a.unknown) {
    const doneTargets = await doneWhereStopped(session, a, say);
    return { completed, runPreconditions, ...(doneTargets ? { doneTargets } : {}) };
  }
  session.pause();
  say(
    `Step ${step.id} (${step.title}) started at ${a.unknown.step.time} and has no recorded end: its outcome is unknown (${describeTargets(a)}).`,
  );
  const decided = await decideUnknown(session, step, a.unknown, options, say);
  const applied = applyDecision(session, step, a.unknown.step.targets, decided, say);
  if (applied === 'abort') return 'abort';
  if (decided.decision === 'done') completed.set(step.id, { status: 'succeeded' });
  const doneTargets = applied.length ? new Map([[step.id, new Set(applied)]]) : undefined;
  return { completed, runPreconditions, ...(doneTargets ? { doneTargets } : {}) };
}

/** The steps the journal records as completed, as the executor takes them. */
function completedSteps(a: RunAnalysis): NonNullable<RunSession['execute']['completed']> {
  const completed: NonNullable<RunSession['execute']['completed']> = new Map();
  for (const [id, c] of a.completed) {
    completed.set(id, {
      status: c.status === 'interrupted' ? 'failed' : c.status,
      ...(c.value !== undefined ? { value: c.value } : {}),
      ...(c.stdout !== undefined ? { stdout: c.stdout } : {}),
      ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
    });
  }
  return completed;
}

/** Decides the step of unknown outcome: its verification first, else --unknown, else the operator. */
async function decideUnknown(
  session: RunSession,
  step: PlannedStep,
  unknown: NonNullable<RunAnalysis['unknown']>,
  options: ResumeOptions,
  say: Say,
): Promise<UnknownDecision> {
  if (step.verify) return decideByVerification(session, step, unknown.step.targets, say);
  if (options.unknown) {
    const decision = options.unknown as Choice;
    return { decision, by: 'flag', message: `--unknown ${decision}`, doneOn: unknown.succeededTargets };
  }
  const decision = await askUnknownOutcome(step.id, unknown.succeededTargets.length > 0);
  return { decision, by: 'operator', message: `chosen on the terminal: ${decision}`, doneOn: unknown.succeededTargets };
}

async function decideByVerification(session: RunSession, step: PlannedStep, stepTargets: string[], say: Say): Promise<UnknownDecision> {
  say(`Running its verification to decide: ${step.verify!.title}`);
  const outcome = await verifyStep(session.execute, step.id);
  const result = outcome?.result;
  const passed = result?.status === 'succeeded';
  say(
    passed
      ? `The verification passed: step ${step.id} counts as done.`
      : `The verification failed (${result?.message}): step ${step.id} runs again.`,
  );
  return {
    decision: passed ? 'done' : 'rerun',
    by: 'verification',
    message: passed ? `verification passed: ${result.message}` : `verification failed: ${result?.message ?? 'no result'}`,
    // A verification that checks the step's hosts one by one decides for each of them.
    doneOn: (outcome?.passedOn ?? []).filter((t) => stepTargets.includes(t)),
  };
}

/**
 * Records the decision in the journal and tells the operator; returns the targets a rerun leaves
 * alone, or 'abort'.
 */
function applyDecision(
  session: RunSession,
  step: PlannedStep,
  stepTargets: string[],
  { decision, by, message, doneOn }: UnknownDecision,
  say: Say,
): string[] | 'abort' {
  const succeeded = decision === 'rerun' ? doneOn : [];
  const others = stepTargets.filter((t) => !succeeded.includes(t));
  const how = by === 'verification' ? 'verified' : 'succeeded';
  if (succeeded.length) message += `; runs again on ${others.join(', ') || 'no target'} only (${how} on ${succeeded.join(', ')})`;
  session.journal.note({ type: 'unknown-outcome', stepId: step.id, title: step.title, decision, by, message });
  if (decision === 'abort') return 'abort';
  if (by !== 'verification')
    say(decision === 'done' ? `Step ${step.id} counts as done (${message}).` : `Step ${step.id} runs again (${message}).`);
  else if (succeeded.length) say(`It runs again on ${others.join(', ')} only: its verification passed on ${succeeded.join(', ')}.`);
  return succeeded;
}

/**
 * The step the run stopped at (failed, or interrupted by Ctrl-C) runs again only on the targets
 * without a recorded success; with a verification that checks its hosts one by one, a recorded
 * success counts only where that verification still passes.
 */
async function doneWhereStopped(
  session: RunSession,
  a: RunAnalysis,
  say: (text: string) => void,
): Promise<Map<string, Set<string>> | undefined> {
  const stopped = a.stoppedAt;
  if (!stopped?.succeededTargets.length) return undefined;
  const step = findStep(session.execute.plan, stopped.stepId);
  let done = stopped.succeededTargets;
  const verifiedTargets = step?.verify?.instances.map((i) => i.target) ?? [];
  if (step?.verify && done.some((t) => verifiedTargets.includes(t))) {
    say(`Step ${step.id} succeeded on ${done.join(', ')} before the run stopped; checking with its verification: ${step.verify.title}`);
    const passed = (await verifyStep(session.execute, step.id))?.passedOn ?? [];
    done = done.filter((t) => !verifiedTargets.includes(t) || passed.includes(t));
  }
  if (!done.length) return undefined;
  say(`Step ${stopped.stepId} runs again only where it did not succeed (it succeeded on ${done.join(', ')}).`);
  return new Map([[stopped.stepId, new Set(done)]]);
}

export interface AttachOptions extends Omit<ResumeOptions, 'attach' | 'unknown' | 'force'> {
  kill?: boolean;
  confirmKill?: string;
}

export async function attachCommand(runId: string, options: AttachOptions, ctx: CommandContext): Promise<RunSummary> {
  const { kill, confirmKill, ...rest } = options;
  const confirm = kill ? (step: PlannedStep, targets: string[]) => confirmKilling(step, targets, confirmKill, ctx) : null;
  return resumeCommand(runId, { ...rest, attach: { confirmKill: confirm } }, ctx);
}

async function confirmKilling(step: PlannedStep, targets: string[], typedFlag: string | undefined, ctx: CommandContext): Promise<void> {
  const expected = targets.join(',');
  const what = `kill the detached program of step ${step.id} (${step.title}) on ${targets.length} target(s): ${expected}`;
  let typed = typedFlag;
  if (typed === undefined) {
    if (!ctx.interactive)
      throw new RunbookError('aborted', `--kill needs a typed confirmation, but there is no terminal to ask`, {
        hint: `Pass --confirm-kill ${expected} to ${what}.`,
      });
    typed = await askTyped(`This will ${what}. Type "${expected}" to kill it (anything else aborts):`);
  }
  if (typed.trim() !== expected)
    throw new RunbookError('aborted', `not killed: the confirmation "${typed.trim()}" is not "${expected}"`, {
      hint: 'Nothing was killed; the program goes on. runbook attach without --kill waits for it.',
    });
}
