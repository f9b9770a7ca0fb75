/** `runbook exec` and `runbook check`: plan, collect secrets, open connections, execute. */
import { hostname, userInfo } from 'node:os';
import { RunbookError } from '../errors.js';
import { EventBus } from '../engine/events.js';
import { executePlan, type RunSummary } from '../engine/executor.js';
import { collectSecrets } from '../engine/secrets.js';
import { defaultStateDir, newRunId, startJournal } from '../journal/journal.js';
import { openConnections } from '../targets/connections.js';
import { askSecret, createConfirmer, createOperatorIO } from '../ui/operator.js';
import { createJsonRenderer, createTerminalRenderer } from '../ui/terminal-renderer.js';
import type { CommandContext } from './context.js';
import { loadReviewedPlan, preparePlan, type PlanOptions, type Prepared } from './prepare.js';
import { printWarnings } from './plan-commands.js';

export interface ExecOptions extends PlanOptions {
  yes?: boolean;
  allowDestructive?: boolean;
  acceptNewHostKeys?: boolean;
  knownHosts?: string;
  from?: string;
  only?: string;
  stateDir?: string;
  runId?: string;
  /** A reviewed plan file (runbook plan -o) to execute as it is. */
  plan?: string;
}

const GRACE_MS = 10_000;

export async function execCommand(id: string, options: ExecOptions, ctx: CommandContext): Promise<RunSummary> {
  return run(id, options, ctx, 'exec');
}

export async function checkCommand(id: string, options: ExecOptions, ctx: CommandContext): Promise<RunSummary> {
  return run(id, options, ctx, 'check');
}

async function run(id: string, options: ExecOptions, ctx: CommandContext, mode: 'exec' | 'check'): Promise<RunSummary> {
  if (options.plan) return runPrepared(loadReviewedPlan(options.plan, options.inventory), options, ctx, mode);
  if (!options.inventory) throw new RunbookError('usage', `${mode} needs an inventory (-i <file>)`, { hint: 'Preview without one: runbook exec <id> --dry-run' });
  const prepared = await preparePlan(id, options, ctx);
  printWarnings(prepared, ctx);
  return runPrepared(prepared, options, ctx, mode);
}

/** Executes a prepared plan: secrets, journal, renderers, signals, connections, executor. */
export async function runPrepared(prepared: Prepared, options: ExecOptions, ctx: CommandContext, mode: 'exec' | 'check'): Promise<RunSummary> {
  const plan = prepared.plan;
  const stepIds = plan.steps.map((s) => s.id);
  for (const [flag, value] of [['--from', options.from], ['--only', options.only]] as const) {
    if (value && !stepIds.includes(value)) throw new RunbookError('usage', `${flag} ${value}: no such step`, { hint: `Steps: ${stepIds.join(', ')}` });
  }
  const secrets = await collectSecrets(plan, ctx.env, ctx.interactive ? askSecret : null);
  const runId = options.runId ?? newRunId(plan.runbook.id);
  const operator = `${userInfo().username}@${hostname()}`;
  const bus = new EventBus((text) => secrets.redact(text));
  const journal = mode === 'exec' ? startJournal(options.stateDir ?? defaultStateDir(ctx.env), runId, plan, (t) => secrets.redact(t)) : null;
  if (journal) bus.on(journal.listener);
  const terminal = ctx.json ? null : createTerminalRenderer((t) => void ctx.stdout.write(t), ctx.style, { live: Boolean(ctx.stdout.isTTY) });
  bus.on(terminal ?? createJsonRenderer((t) => void ctx.stdout.write(t)));

  const stop = new AbortController();
  const kill = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1 && signal === 'SIGINT') {
      bus.emit({ type: 'interrupt-requested', message: `Ctrl-C: no new step will start; the running command gets ${GRACE_MS / 1000}s to end (Ctrl-C again to stop it now).` });
      stop.abort();
      setTimeout(() => kill.abort(), GRACE_MS).unref();
    } else {
      stop.abort();
      kill.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const connections = openConnections({ inventory: prepared.inventory!, secrets, knownHostsFile: options.knownHosts, acceptNewHostKeys: options.acceptNewHostKeys ?? false });
  const policy = { interactive: ctx.interactive, yes: options.yes ?? false, allowDestructive: options.allowDestructive ?? false, beforePrompt: () => terminal?.pause() };
  bus.emit({
    type: 'run-started',
    runId,
    mode,
    runbook: { id: plan.runbook.id, version: plan.runbook.version, hash: plan.runbook.hash, file: plan.runbook.file },
    inventory: plan.inventory ? { file: plan.inventory.file, hash: plan.inventory.hash } : null,
    operator,
    parameters: plan.parameters.map((p) => ({ name: p.name, value: p.secret ? '***' : (p.value ?? '') })),
    selection: { from: options.from ?? null, only: options.only ?? null, forced: false },
  });
  try {
    const summary = await executePlan({
      plan,
      runId,
      operator,
      connections,
      secrets,
      bus,
      io: createOperatorIO(policy),
      confirmer: createConfirmer(policy),
      stopSignal: stop.signal,
      killSignal: kill.signal,
      mode,
      runPreconditions: !options.only && !options.from,
      from: options.from ?? null,
      only: options.only ?? null,
    });
    if (summary.exitCode !== 0) {
      throw new RunbookError(summary.status === 'aborted' ? 'aborted' : summary.status === 'interrupted' ? 'interrupted' : 'step-failed', `run ${runId} ${summary.status}: ${summary.message}`, {
        hint: journal ? `The journal is in ${journal.dir}.` : 'Fix the failing checks and run again.',
      });
    }
    return summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    journal?.close();
    await connections.closeAll();
  }
}
