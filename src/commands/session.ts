/**
 * A run session of a prepared plan, shared by exec, check, resume, attach and smoke: lock,
 * secrets, journal, renderers, signals, connections, the executor.
 */
import { hostname, userInfo } from 'node:os';
import { errorCodeForExit, RunbookError } from '../core/errors.js';
import { EventBus, type NewEvent } from '../engine/events.js';
import { executePlan, type DetachedOptions, type ExecuteOptions, type RunSummary } from '../engine/executor.js';
import { collectSecrets } from '../engine/secrets.js';
import { newRunId, type JournalHandle } from '../journal/journal.js';
import { lockKey, type HeldLock } from '../journal/lock.js';
import { guardOutput } from '../journal/output-guard.js';
import { openStateStore, type StateStore } from '../journal/store.js';
import { openConnections, type RunConnections } from '../targets/connections.js';
import type { Connections } from '../targets/types.js';
import type { Inventory } from '../inventory/inventory.js';
import type { Plan } from '../planner/plan-types.js';
import { askSecret, createConfirmer, createOperatorIO } from '../ui/operator.js';
import { createJsonRenderer, createTerminalRenderer } from '../ui/terminal-renderer.js';
import type { CommandContext } from './context.js';
import { interruptMessages } from './interrupt-message.js';
import type { PlanOptions, Prepared } from './prepare.js';
import { checkSelection, selectsAll } from '../planner/selection.js';

export interface ExecOptions extends PlanOptions {
  yes?: boolean;
  allowDestructive?: boolean;
  /** Manual `attest` steps attested on the command line. */
  attest?: string[];
  acceptNewHostKeys?: boolean;
  knownHosts?: string;
  from?: string;
  only?: string;
  stateDir?: string;
  /** Shared PostgreSQL store for journals and locks (or RUNBOOK_STATE_URL). */
  stateUrl?: string;
  runId?: string;
  /** A reviewed plan file (runbook plan -o) to execute as it is. */
  plan?: string;
}

const GRACE_MS = 10_000;

/** What resume brings to a run: the journal to continue, and how to settle what it left open. */
export interface ResumeHooks {
  runId: string;
  store: StateStore;
  /** The selection of the original run (--from/--only), applied again. */
  from: string | null;
  only: string | null;
  /** Files that changed since the run started (resumed with --force). */
  forcedChanges: string[];
  /** runbook attach: end after the re-attached step; kill its programs first if confirmed. */
  attach?: { stopAfter: string; kill: boolean };
  /**
   * Called once the session is recorded (run-started) and before any step runs: settles the
   * step of unknown outcome and says which steps are done, or 'abort'.
   */
  settle(session: RunSession): Promise<
    | {
        completed: NonNullable<ExecuteOptions['completed']>;
        doneTargets?: ExecuteOptions['doneTargets'];
        runPreconditions: boolean;
        reattach?: DetachedOptions['reattach'];
      }
    | 'abort'
  >;
}

/** What a running session offers to resume's settling: the executor's options, the journal, the terminal. */
export interface RunSession {
  execute: ExecuteOptions;
  journal: JournalHandle;
  lock: HeldLock;
  /** Stops the live terminal view before asking the operator. */
  pause(): void;
}

/** Executes a prepared plan: lock, secrets, journal, renderers, signals, connections, executor. */
export async function runPrepared(
  prepared: Pick<Prepared, 'plan' | 'inventory'>,
  options: ExecOptions,
  ctx: CommandContext,
  mode: 'exec' | 'check',
  resume?: ResumeHooks,
): Promise<RunSummary> {
  const plan = prepared.plan;
  const from = resume ? resume.from : (options.from ?? null);
  const only = resume ? resume.only : (options.only ?? null);
  checkSelection(plan, { from, only });
  const runId = resume?.runId ?? options.runId ?? newRunId(plan.runbook.id);
  const operator = `${userInfo().username}@${hostname()}`;
  // The lock comes first: a second operator learns at once, before being asked for anything.
  const store = resume?.store ?? (mode === 'exec' ? await openStateStore(options, ctx.env) : null);
  let lock: HeldLock | null = null;
  let journal: JournalHandle | null = null;
  let connections: RunConnections | undefined;
  try {
    if (store)
      lock = await store.lock(
        lockKey(plan),
        { runId, pid: process.pid, host: hostname(), user: userInfo().username, since: new Date().toISOString() },
        resume?.runId ?? null,
      );
    const secrets = await collectSecrets(plan, ctx.env, ctx.interactive ? askSecret : null);
    connections = openConnections({
      inventory: prepared.inventory!,
      secrets,
      knownHostsFile: options.knownHosts,
      acceptNewHostKeys: options.acceptNewHostKeys ?? false,
    });
    // The input is valid, the lock held and the credentials known: the SSH handshakes (host keys
    // verified as always) now overlap the journal's creation instead of waiting for the first
    // step. Not when new host keys are to be recorded: that stays with the step that needs the host.
    if (mode === 'exec' && !options.acceptNewHostKeys) await connections.prepareHosts(sshHostsOf(plan, prepared.inventory!));
    const redact = (text: string) => secrets.redact(text);
    if (store) journal = resume ? await store.reopenJournal(runId, redact) : await store.createJournal(runId, plan, redact);
    return await runSession({ prepared, options, ctx, mode, resume, runId, operator, from, only, secrets, journal, lock, connections });
  } finally {
    await connections?.closeAll();
    await lock?.release();
    journal?.close();
    if (!resume) await store?.close();
  }
}

interface SessionInput {
  prepared: Pick<Prepared, 'plan' | 'inventory'>;
  options: ExecOptions;
  ctx: CommandContext;
  mode: 'exec' | 'check';
  resume: ResumeHooks | undefined;
  runId: string;
  operator: string;
  from: string | null;
  only: string | null;
  secrets: Awaited<ReturnType<typeof collectSecrets>>;
  journal: JournalHandle | null;
  lock: HeldLock | null;
  connections: Connections;
}

/** Every inventory host a check, step or verification of the plan runs on (rollback included). */
function sshHostsOf(plan: Plan, inventory: Inventory): Set<string> {
  const steps = [...plan.steps, ...plan.rollback];
  const actions = [...plan.preconditions, ...steps.map((s) => s.action), ...steps.flatMap((s) => (s.verify ? [s.verify] : []))];
  const hosts = new Set<string>();
  for (const action of actions)
    for (const { target } of action.instances) if (target !== null && target in inventory.hosts) hosts.add(target);
  return hosts;
}

/** One session of a run: output, signals, connections, the resume's settling, the executor. */
async function runSession(input: SessionInput): Promise<RunSummary> {
  const { resume, runId, journal, lock, connections } = input;
  const { bus, terminal } = sessionOutput(input);
  const pause = () => terminal?.pause();
  const signals = trapSignals(bus);
  bus.emit(runStartedEvent(input));
  try {
    const execute = executeOptions(input, { bus, connections, signals, pause });
    if (resume && journal && lock) await settleResume(resume, execute, { journal, lock, bus, runId, pause });
    const summary = await executePlan(execute);
    if (summary.exitCode !== 0) throw runFailedError(summary, runId, journal);
    return summary;
  } finally {
    signals.release();
  }
}

/** The event bus with its listeners: the journal and the terminal view (or the --json stream). */
function sessionOutput({ prepared, ctx, secrets, journal }: SessionInput) {
  const bus = new EventBus((text) => secrets.redact(text));
  const terminal = ctx.json
    ? null
    : createTerminalRenderer((t) => void ctx.stdout.write(t), ctx.style, { live: Boolean(ctx.stdout.isTTY) });
  const render = terminal ?? createJsonRenderer((t) => void ctx.stdout.write(t));
  const secretValues = prepared.plan.secrets.map((s) => secrets.get(s.name)).filter((v): v is string => v !== undefined);
  // One guard in front of every listener: a secret echoed across two output chunks is masked too.
  bus.on(
    guardOutput(
      (event) => {
        journal?.listener(event);
        render(event);
      },
      secretValues,
      (t) => secrets.redact(t),
    ),
  );
  return { bus, terminal };
}

interface Signals {
  /** Aborted at the first Ctrl-C: no new step starts. */
  stop: AbortSignal;
  /** Aborted after the grace time, or at a second Ctrl-C or SIGTERM: the running command is stopped. */
  kill: AbortSignal;
  release(): void;
}

/** Ctrl-C stops gracefully (then hard after GRACE_MS or a second Ctrl-C); SIGTERM stops hard. */
function trapSignals(bus: EventBus): Signals {
  const stop = new AbortController();
  const kill = new AbortController();
  let interrupts = 0;
  const message = interruptMessages(bus, GRACE_MS);
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1 && signal === 'SIGINT') {
      bus.emit({ type: 'interrupt-requested', message: message() });
      stop.abort();
      setTimeout(() => kill.abort(), GRACE_MS).unref();
    } else {
      stop.abort();
      kill.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    stop: stop.signal,
    kill: kill.signal,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function runStartedEvent({ prepared: { plan }, mode, resume, runId, operator, from, only }: SessionInput): NewEvent {
  return {
    type: 'run-started',
    runId,
    mode: resume ? 'resume' : mode,
    runbook: { id: plan.runbook.id, version: plan.runbook.version, hash: plan.runbook.hash, file: plan.runbook.file },
    inventory: plan.inventory ? { file: plan.inventory.file, hash: plan.inventory.hash } : null,
    operator,
    parameters: plan.parameters.map((p) => ({ name: p.name, value: p.secret ? '***' : (p.value ?? '') })),
    selection: { from, only, forced: (resume?.forcedChanges.length ?? 0) > 0 },
  };
}

/** The executor's options for this session, with the operator policy of the command line. */
function executeOptions(
  { prepared, options, ctx, mode, resume, runId, operator, from, only, secrets }: SessionInput,
  session: { bus: EventBus; connections: ExecuteOptions['connections']; signals: Signals; pause: () => void },
): ExecuteOptions {
  const policy = {
    interactive: ctx.interactive,
    yes: options.yes ?? false,
    allowDestructive: options.allowDestructive ?? false,
    attested: options.attest ?? [],
    beforePrompt: session.pause,
  };
  return {
    plan: prepared.plan,
    runId,
    operator,
    connections: session.connections,
    secrets,
    bus: session.bus,
    io: createOperatorIO(policy),
    confirmer: createConfirmer(policy),
    stopSignal: session.signals.stop,
    killSignal: session.signals.kill,
    mode,
    runPreconditions: selectsAll({ from, only }),
    unattended: ctx.interactive ? null : { yes: policy.yes, allowDestructive: policy.allowDestructive, attested: policy.attested },
    from,
    only,
    detached: { interactive: ctx.interactive, ...(resume?.attach ?? {}) },
  };
}

/** Resume: records why it went on (--force, a taken-over lock), then applies what `settle` decided. */
async function settleResume(
  resume: ResumeHooks,
  execute: ExecuteOptions,
  session: { journal: JournalHandle; lock: HeldLock; bus: EventBus; runId: string; pause: () => void },
): Promise<void> {
  const { journal, lock, bus, runId } = session;
  if (resume.forcedChanges.length) journal.note({ type: 'resume-forced', changed: resume.forcedChanges });
  if (lock.takenOver) {
    const { runId: heldBy, pid, host, user, since } = lock.takenOver;
    journal.note({ type: 'lock-taken-over', lock: { runId: heldBy, pid, host, user, since } });
  }
  const settled = await resume.settle({ execute, journal, lock, pause: session.pause });
  if (settled === 'abort') {
    bus.emit({ type: 'run-finished', status: 'aborted', message: 'the operator aborted the resume', exitCode: 5 });
    throw new RunbookError('aborted', `run ${runId} aborted on resume`, { hint: `The journal records the decision (${journal.dir}).` });
  }
  execute.completed = settled.completed;
  if (settled.doneTargets) execute.doneTargets = settled.doneTargets;
  if (settled.reattach) execute.detached = { ...execute.detached!, reattach: settled.reattach };
  execute.runPreconditions = settled.runPreconditions && selectsAll({ from: execute.from ?? null, only: execute.only ?? null });
}

/** A run that did not succeed ends the command with its exit code, and says how to go on. */
function runFailedError(summary: RunSummary, runId: string, journal: JournalHandle | null): RunbookError {
  return new RunbookError(errorCodeForExit(summary.exitCode), `run ${runId} ${summary.status}: ${summary.message}`, {
    hint: journal
      ? `The journal is in ${journal.dir}. Continue after fixing the cause: runbook resume ${runId}`
      : 'Fix the failing checks and run again.',
  });
}
