/** The dry-run: the plan as an operator reads it, every command exactly as it would run. */
import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../core/duration.js';
import { displayParts } from '../core/template.js';
import type { Plan, PlannedStep } from '../planner/plan-types.js';
import { notSelected, selectsAll, type Selection } from '../planner/selection.js';
import { getStepKind } from '../steps/registry.js';
import type { PlannedAction } from '../steps/types.js';
import { collapseIdentical } from '../core/collapse.js';

/** `selection`: the --from/--only of a partial run, whose left-out steps are shown as such. */
export function renderPlan(plan: Plan, c: ChalkInstance, selection: Selection = { from: null, only: null }): string {
  const out: string[] = [];
  const rb = plan.runbook;
  out.push(c.bold(`Runbook ${rb.id} ${rb.version}: ${rb.title}`));
  if (rb.source) out.push(`Source: ${rb.source}`);
  out.push(
    `Inventory: ${plan.inventory ? `${plan.inventory.file}${plan.inventory.name ? ` (${plan.inventory.name})` : ''}` : 'none (example values)'}`,
  );
  if (plan.limit)
    out.push(
      c.yellow(
        `Limited to: ${plan.limit.hosts.join(', ')} (--limit ${plan.limit.requested.join(',')}); host steps run only there, database, HTTP and local steps as planned`,
      ),
    );
  if (plan.parameters.length) {
    out.push('', c.bold('Parameters'));
    for (const p of plan.parameters) {
      const origin = !p.secret
        ? p.source
        : p.source === 'environment'
          ? `secret, from ${p.from}`
          : p.source === 'example'
            ? 'secret'
            : `secret, ${p.from ?? 'prompt'}: not set, asked on a terminal`;
      out.push(`  ${p.name} = ${p.secret ? '***' : JSON.stringify(p.value)} ${c.dim(`(${origin})`)}`);
    }
  }
  const roles = Object.entries(plan.targets);
  if (roles.length) {
    out.push('', c.bold('Targets'));
    for (const [role, t] of roles)
      out.push(`  ${role} (${t.type}): ${t.entries.map((e) => `${e.name} ${c.dim(`[${e.where}]`)}`).join(', ')}`);
  }
  const skippedChecks = plan.skippedPreconditions ?? [];
  if (plan.preconditions.length || skippedChecks.length) {
    const when = selectsAll(selection)
      ? ' (read-only; all are checked before anything changes)'
      : ' (NOT checked: a run with --from or --only starts past the state they describe)';
    out.push('', c.bold('Preconditions') + c.dim(when));
    plan.preconditions.forEach((check, i) => {
      out.push(`  P${i + 1}. ${check.title} ${c.dim(`[${check.kind}${check.role ? ` on ${check.role}` : ''}]`)}`);
      out.push(...renderSource(check.source, '      ', c), ...renderNotes(check.notes, '      ', c));
      out.push(...renderAction(check, '      ', c));
    });
    for (const s of skippedChecks) out.push(c.dim(`  skipped: ${s.title} (only when ${s.condition})`));
  }
  out.push('', c.bold('Steps'));
  const leftOutWhy = plan.steps.map((step) => notSelected(plan, step.id, selection));
  plan.steps.forEach((step, i) => out.push(...renderStep(step, `${i + 1}.`, c, leftOutWhy[i]), ''));
  if (plan.rollback.length) {
    out.push(c.bold('Rollback steps') + c.dim(' (run only when a failing step names them)'));
    plan.rollback.forEach((step, i) => out.push(...renderStep(step, `R${i + 1}.`, c), ''));
  }
  const leftOut = leftOutWhy.filter(Boolean).length;
  const runs = plan.steps.filter((s, i) => s.condition.decided !== 'skip' && !leftOutWhy[i]).length;
  const skipped = plan.steps.length - runs - leftOut;
  out.push(
    c.dim(
      `${plan.steps.length} steps (${runs} planned to run, ${skipped} skipped by parameters${leftOut ? `, ${leftOut} left out by --from/--only${plan.limit ? '/--limit' : ''}` : ''}), ${plan.preconditions.length} preconditions. Dry-run: nothing was run.`,
    ),
  );
  return out.join('\n');
}

/** Where a step or check comes from in the source procedure. */
const renderSource = (source: string | null, pad: string, c: ChalkInstance): string[] =>
  source ? [`${pad}${c.dim(`source: ${source}`)}`] : [];

/** The runbook's notes for the operator, line by line. */
const renderNotes = (notes: string | null, pad: string, c: ChalkInstance): string[] =>
  notes
    ? notes
        .trimEnd()
        .split('\n')
        .map((l) => `${pad}${c.dim(`note: ${l}`)}`)
    : [];

function renderStep(step: PlannedStep, number: string, c: ChalkInstance, leftOut: string | null = null): string[] {
  const flags: string[] = [step.kind];
  if (step.confirm.mode === 'yes') flags.push('confirm y/N');
  if (step.confirm.mode === 'typed') flags.push(`type "${displayParts(step.confirm.expected ?? [])}" to confirm`);
  if (step.destructive) flags.push('DESTRUCTIVE');
  const skipped = step.condition.decided === 'skip';
  const head = `${number} ${step.id}: ${step.title} ${c.dim(`[${flags.join(', ')}]`)}`;
  const pad = '      ';
  if (leftOut) return [`  ${c.dim(`${head} NOT RUN`)}`, `${pad}${c.dim(`not run: ${leftOut}`)}`];
  const lines = [`  ${skipped ? c.dim(`${head} SKIPPED`) : step.destructive ? c.red(head) : head}`];
  lines.push(...renderSource(step.source, pad, c));
  if (skipped) {
    lines.push(`${pad}${c.dim(`skipped: condition ${step.condition.text} is false with these parameters`)}`);
    return lines;
  }
  if (step.condition.decided === 'at-run-time') lines.push(`${pad}${c.yellow(`runs only if ${step.condition.text}`)}`);
  lines.push(...renderNotes(step.notes, pad, c));
  lines.push(...renderAction(step.action, pad, c));
  if (step.fanOut.mode !== 'parallel' || step.fanOut.maxFailures || step.action.instances.length > 1) {
    if (step.action.instances.length > 1) {
      const how =
        step.fanOut.mode === 'serial'
          ? 'one host at a time'
          : step.fanOut.mode === 'batches'
            ? `in batches of ${step.fanOut.batchSize}`
            : `in parallel, at most ${step.fanOut.limit} at once`;
      lines.push(`${pad}${c.dim(`fan-out: ${how}; tolerated failures: ${step.fanOut.maxFailures}`)}`);
    }
  }
  if (step.verify) {
    lines.push(`${pad}verify: ${step.verify.title}`);
    lines.push(...renderAction(step.verify, pad + '  ', c));
  }
  const extras: string[] = [`timeout ${formatDuration(step.timeoutMs)}`];
  if (step.retries) extras.push(`retries ${step.retries.count} every ${formatDuration(step.retries.delayMs)}`);
  if (step.onFailure.mode === 'continue') extras.push('on failure: continue');
  if (step.onFailure.mode === 'rollback') extras.push(`on failure: roll back with ${step.onFailure.rollback.join(', ')}`);
  lines.push(`${pad}${c.dim(extras.join('; '))}`);
  return lines;
}

export function renderAction(action: PlannedAction, pad: string, c: ChalkInstance): string[] {
  const kind = getStepKind(action.kind);
  const lines: string[] = [];
  if (action.instances.length === 0) lines.push(`${pad}${c.yellow('(no target entries)')}`);
  const groups = collapseIdentical(action.instances, (instance) => [
    ...kind.describe(instance.data),
    ...nestedActions(instance.data).flatMap((a) => renderAction(a, '  ', c)),
  ]);
  for (const { members, lines: body } of groups) {
    const targets = members.filter((m) => m.target !== null);
    if (!targets.length) {
      lines.push(...body.map((l) => `${pad}${l}`));
    } else {
      lines.push(
        `${pad}${c.cyan(`on ${targets.map((m) => m.target).join(', ')}`)} ${c.dim(`(${targets.map((m) => m.where).join(', ')})`)}:`,
      );
      lines.push(...body.map((l) => `${pad}  ${l}`));
    }
  }
  return lines;
}

/** Checks inside a step (a manual step's check, a wait step's until), shown under it. */
function nestedActions(data: Record<string, unknown>): PlannedAction[] {
  return Object.values(data).filter((v): v is PlannedAction => Boolean(v && typeof v === 'object' && 'instances' in v && 'kind' in v));
}
