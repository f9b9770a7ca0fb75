/**
 * The planner: a pure function from runbook + inventory + parameters to the resolved plan. It
 * renders every template, resolves every target, decides parameter conditions, and reports
 * every problem as a diagnostic with its file position. It opens no connection.
 */
import type { Diagnostic } from '../core/errors.js';
import type { Inventory, InventorySpec, SecretRef } from '../inventory/inventory.js';
import type { LoadedRunbook } from '../runbook/load.js';
import { parseDuration } from '../core/duration.js';
import type { RunbookSpec, StepSpec } from '../runbook/schema.js';
import { closest } from '../core/suggest.js';
import { renderParts, renderSql, TemplateError } from '../core/template.js';
import { getStepKind } from '../steps/registry.js';
import type { ActionInstance, PlannedAction, Renderer, StepKind } from '../steps/types.js';
import { diagnosticAt, findScalarContaining, formatPath, type PathSegment } from '../core/yaml-source.js';
import { conditionLeaves, decideWithParameters, describeCondition } from './conditions.js';
import {
  PLAN_FORMAT_VERSION,
  type Plan,
  type PlannedParameter,
  type PlannedPrecondition,
  type PlannedSecret,
  type PlannedStep,
  type StepCondition,
} from './plan-types.js';
import { createResolver, describeEntry, type ParameterValue } from './scope.js';
import { confirmationMode, defaultTimeout, failurePolicy, fanOutPolicy, retryPolicy, typedConfirmationTemplate } from './step-policy.js';

export interface PlanInput {
  runbook: LoadedRunbook;
  /** null: plan symbolically (validation), binding each role to one example entry. */
  inventory: Inventory | null;
  parameters: Record<string, ParameterValue>;
  parameterInfo: PlannedParameter[];
  answers: Record<string, string>;
  /**
   * Where each inventory host really is (user@address:port via jumps), as ssh_config resolves it;
   * read by the caller, so that planning stays free of file reads. Default: the inventory's words.
   */
  hostEndpoints?: Record<string, string>;
  /** --limit: host entries or host roles; host actions keep only these hosts. */
  limit?: string[];
}

export interface PlanOutput {
  plan: Plan;
  diagnostics: Diagnostic[];
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;

export function buildPlan(input: PlanInput): PlanOutput {
  return new Planner(input).build();
}

class Planner {
  private readonly diagnostics: Diagnostic[] = [];
  private readonly inventory: InventorySpec & { file?: string };
  private readonly roleCache = new Map<string, string[] | null>();
  private readonly symbolic: boolean;
  private readonly limit: Set<string> | null;

  constructor(private readonly input: PlanInput) {
    this.symbolic = input.inventory === null;
    this.inventory = input.inventory ?? symbolicInventory(input.runbook);
    this.limit = input.limit ? this.limitHosts(input.limit) : null;
  }

  /** --limit names: a host entry, or a role of hosts standing for its hosts. */
  private limitHosts(names: string[]): Set<string> {
    const hosts = new Set<string>();
    for (const name of names) {
      const role = this.inventory.roles[name];
      if (name in this.inventory.hosts) hosts.add(name);
      else if (role !== undefined && [role].flat().every((n) => n in this.inventory.hosts)) [role].flat().forEach((n) => hosts.add(n));
      else
        this.diagnostics.push({
          severity: 'error',
          file: '(command line)',
          path: '--limit',
          message: `--limit ${name}: not a host or a role of hosts of the inventory (hosts: ${Object.keys(this.inventory.hosts).join(', ') || 'none'})`,
        });
    }
    if (!names.length)
      this.diagnostics.push({ severity: 'error', file: '(command line)', path: '--limit', message: '--limit names no host' });
    return hosts;
  }

  build(): PlanOutput {
    const rb = this.input.runbook;
    const spec = rb.spec;
    const preconditions: PlannedPrecondition[] = [];
    const skippedPreconditions: Plan['skippedPreconditions'] = [];
    spec.preconditions.forEach((check, i) => {
      const path = ['preconditions', i];
      // Planned even when skipped, so that its references are checked all the same.
      const action = this.planAction(check, null, path, new Set());
      const condition = this.planCondition(check, path, new Set());
      if (condition.decided === 'skip') skippedPreconditions.push({ title: action.title, condition: condition.text ?? '' });
      else if (this.limit && action.role && !action.instances.length)
        skippedPreconditions.push({ title: action.title, condition: `a host of --limit is in role ${action.role}` });
      else preconditions.push({ ...action, notes: check.notes ?? null, source: check.source ?? null });
    });
    const earlier = new Set<string>();
    const steps: PlannedStep[] = [];
    spec.steps.forEach((step, i) => {
      steps.push(this.planStep(step, ['steps', i], earlier, 'main'));
      earlier.add(step.id);
    });
    const allMain = new Set(spec.steps.map((s) => s.id));
    const rollback = spec.rollback.map((step, i) => this.planStep(step as StepSpec, ['rollback', i], allMain, 'rollback'));
    const targets: Plan['targets'] = {};
    for (const [role, def] of Object.entries(spec.targets)) {
      const names = this.roleCache.get(role);
      if (names) targets[role] = { type: def.type, entries: names.map((name) => ({ name, where: this.where(name) })) };
    }
    const plan: Plan = {
      formatVersion: PLAN_FORMAT_VERSION,
      runbook: {
        id: spec.id,
        title: spec.title,
        version: spec.version,
        file: rb.file,
        hash: rb.hash,
        source: spec.source?.document ?? null,
      },
      inventory: this.input.inventory
        ? { file: this.input.inventory.file, hash: this.input.inventory.hash, name: this.input.inventory.name ?? null }
        : null,
      parameters: this.input.parameterInfo,
      targets,
      secrets: this.secrets(targets),
      answers: { ...this.input.answers },
      preconditions,
      skippedPreconditions,
      steps,
      rollback,
      ...(this.limit && this.input.limit ? { limit: { requested: this.input.limit, hosts: [...this.limit] } } : {}),
    };
    return { plan, diagnostics: this.diagnostics };
  }

  private secrets(targets: Plan['targets']): PlannedSecret[] {
    const out: PlannedSecret[] = [];
    for (const p of this.input.parameterInfo) {
      if (!p.secret) continue;
      const env = this.input.runbook.spec.parameters[p.name]?.env;
      out.push({
        name: `params.${p.name}`,
        from: env ? { env, orPrompt: true } : { prompt: true },
        description: this.input.runbook.spec.parameters[p.name]?.description ?? p.name,
      });
    }
    const used = new Set(Object.values(targets).flatMap((t) => t.entries.map((e) => e.name)));
    const add = (entry: string, field: string, ref: SecretRef | undefined) => {
      if (!ref || !used.has(entry)) return;
      out.push({
        name: `inventory.${entry}.${field}`,
        from: 'env' in ref ? { env: ref.env } : { prompt: true },
        description: `${field} of ${entry}`,
      });
    };
    for (const [name, h] of Object.entries(this.inventory.hosts)) {
      add(name, 'password', h.password);
      add(name, 'passphrase', h.passphrase);
    }
    for (const [name, d] of Object.entries(this.inventory.databases)) add(name, 'password', d.password);
    for (const [name, e] of Object.entries(this.inventory.endpoints)) {
      if (e.auth?.type === 'basic' || e.auth?.type === 'query') add(name, 'password', e.auth.password);
      if (e.auth?.type === 'bearer') add(name, 'token', e.auth.token);
      if (e.auth?.type === 'oauth2-client-credentials') add(name, 'clientSecret', e.auth.clientSecret);
    }
    return out;
  }

  private where(name: string): string {
    return this.input.hostEndpoints?.[name] ?? describeEntry(this.inventory, name);
  }

  private error(path: PathSegment[], message: string): void {
    this.diagnostics.push(diagnosticAt(this.input.runbook.source, path, message));
  }

  /** Entries bound to a role, checked against the role definition; null when unusable. */
  private entries(role: string, path: PathSegment[]): string[] | null {
    if (this.roleCache.has(role)) return this.roleCache.get(role) ?? null;
    const def = this.input.runbook.spec.targets[role];
    let result: string[] | null = null;
    if (!def) {
      this.error(
        path,
        `unknown target role "${role}"; the runbook declares ${Object.keys(this.input.runbook.spec.targets).join(', ') || 'no roles'} under "targets"`,
      );
    } else {
      const bound = this.inventory.roles[role];
      const inv = this.input.inventory;
      if (bound === undefined) {
        if (inv)
          this.inventoryError(
            ['roles'],
            `the runbook needs role "${role}" (${def.type}${def.description ? `: ${def.description}` : ''}) but the inventory does not bind it under "roles"`,
          );
      } else {
        const names = [bound].flat();
        const wrong = names.filter((n) => kindOf(this.inventory, n) !== def.type);
        const min = def.min ?? 1;
        if (wrong.length) {
          this.inventoryError(
            ['roles', role],
            `role "${role}" needs ${def.type} entries, but ${wrong.map((w) => `"${w}" is ${kindOf(this.inventory, w) ?? 'not defined'}`).join(', ')}`,
          );
        } else if (names.length < min || (def.max !== undefined && names.length > def.max)) {
          this.inventoryError(
            ['roles', role],
            `role "${role}" takes ${def.max === undefined ? `at least ${min}` : def.max === min ? `exactly ${min}` : `${min} to ${def.max}`} entr${min === 1 && def.max === 1 ? 'y' : 'ies'}, found ${names.length}`,
          );
        } else result = names;
      }
    }
    this.roleCache.set(role, result);
    return result;
  }

  private inventoryError(path: PathSegment[], message: string): void {
    const inv = this.input.inventory;
    if (inv) this.diagnostics.push(diagnosticAt(inv.source, path, message));
  }

  private roleBindings(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const role of Object.keys(this.input.runbook.spec.targets)) {
      const bound = this.inventory.roles[role];
      if (bound !== undefined) out[role] = [bound].flat();
    }
    return out;
  }

  private renderer(
    target: ActionInstance['target'] extends infer _ ? { type: 'hosts' | 'database' | 'http'; name: string } | null : never,
    earlier: ReadonlySet<string>,
    path: PathSegment[],
  ): Renderer {
    const resolve = createResolver({
      runbook: this.input.runbook.spec,
      inventory: this.inventory,
      parameters: this.input.parameters,
      roles: this.roleBindings(),
      target,
      earlierSteps: earlier,
    });
    const report = (template: string, error: unknown): void => {
      if (!(error instanceof TemplateError)) throw error;
      const at = findScalarContaining(this.input.runbook.source, path, template) ?? path;
      const message =
        this.symbolic || !/undefined reference/.test(error.message) ? error.message : `${error.message} (with this inventory)`;
      const text = explainReference(message, target) + suggestReference(message, this.input.runbook.spec, earlier);
      if (!this.diagnostics.some((d) => d.message === text && d.path === formatPath(at))) this.error(at, text);
    };
    return {
      parts: (template, encoding) => {
        try {
          return renderParts(template, resolve, encoding);
        } catch (error) {
          report(template, error);
          return [{ text: template }];
        }
      },
      sql: (template) => {
        try {
          return renderSql(template, resolve);
        } catch (error) {
          report(template, error);
          return { text: template, binds: [] };
        }
      },
    };
  }

  /** Plans one action (a step's, a check's, a verification's): its target role and one instance per target. */
  planAction(
    spec: Record<string, unknown>,
    defaultRole: string | null,
    path: PathSegment[],
    earlier: ReadonlySet<string>,
    render = true,
    defaultTitle?: string,
  ): PlannedAction {
    const kind = getStepKind(String(spec.kind));
    const role = this.actionRole(kind, spec, defaultRole, path);
    const title = actionTitle(spec, kind.kind, defaultTitle);
    const timeoutMs = parseDuration((spec.timeout as string | number | undefined) ?? defaultTimeout(kind.kind)) ?? DEFAULT_TIMEOUT_MS;
    const unrendered: PlannedAction = { kind: kind.kind, title, role, instances: [], timeoutMs };
    if (kind.target !== 'none' && !role) {
      this.error(path, `a ${kind.kind} ${path[0] === 'preconditions' ? 'check' : 'step'} needs a "target" role`);
      return unrendered;
    }
    if (!render) return unrendered;
    // Checks inside the action (wait's until, manual's check) are planned on the same role by default.
    const nested = {
      check: (sub: Record<string, unknown>, subDefault: string | null, field: string) =>
        this.planAction(
          sub,
          subDefault ?? role,
          [...path, field],
          earlier,
          true,
          `${field === 'until' ? 'condition' : 'check'} of ${typeof spec.id === 'string' ? spec.id : title}`,
        ),
    };
    const plan = (target: Parameters<Planner['renderer']>[0]) => kind.plan(spec, this.renderer(target, earlier, path), nested);
    if (role === null)
      return { ...unrendered, instances: [{ target: null, where: kind.kind === 'local' ? 'local' : 'operator', data: plan(null) }] };
    const type = this.checkRoleType(kind, role, path);
    const names = (this.entries(role, [...path, 'target']) ?? []).filter((n) => type !== 'hosts' || !this.limit || this.limit.has(n));
    return { ...unrendered, instances: names.map((name) => ({ target: name, where: this.where(name), data: plan({ type, name }) })) };
  }

  /** The role an action acts on: its own `target`, else the default; none for a kind without target. */
  private actionRole(kind: StepKind, spec: Record<string, unknown>, defaultRole: string | null, path: PathSegment[]): string | null {
    const explicitRole = typeof spec.target === 'string' ? spec.target : null;
    if (kind.target !== 'none') return explicitRole ?? defaultRole;
    if (explicitRole)
      this.error(
        [...path, 'target'],
        `a ${kind.kind} step has no target (it runs ${kind.kind === 'local' ? "on the operator's machine" : 'with the operator'})`,
      );
    return null;
  }

  /** The type of the role's entries; an error when the kind needs another type. */
  private checkRoleType(kind: StepKind, role: string, path: PathSegment[]): 'hosts' | 'database' | 'http' {
    const def = this.input.runbook.spec.targets[role];
    if (def && def.type !== kind.target)
      this.error([...path, 'target'], `role "${role}" is a ${def.type} role, but a ${kind.kind} step needs a ${kind.target} role`);
    return def?.type ?? 'hosts';
  }

  private planStep(step: StepSpec, path: PathSegment[], earlier: ReadonlySet<string>, phase: PlannedStep['phase']): PlannedStep {
    const kind = getStepKind(step.kind);
    const condition = this.planCondition(step, path, earlier);
    // A step skipped by its condition is still planned (its references checked), not rendered.
    const render = this.symbolic || condition.decided !== 'skip';
    const action = this.planAction(step, null, path, earlier, render);
    const verify =
      step.verify && render
        ? this.planAction(step.verify, action.role, [...path, 'verify'], new Set([...earlier, step.id]), true, `verification of ${step.id}`)
        : null;
    return {
      id: step.id,
      title: step.title,
      kind: step.kind,
      phase,
      notes: step.notes ?? null,
      source: step.source ?? null,
      action,
      confirm: this.planConfirmation(step, kind, action, path, earlier),
      destructive: step.destructive ?? false,
      condition,
      verify,
      timeoutMs: action.timeoutMs,
      retries: retryPolicy(step),
      onFailure: failurePolicy(step),
      fanOut: fanOutPolicy(step),
    };
  }

  /** The step's confirmation, with the text to type rendered for a typed one. */
  private planConfirmation(
    step: StepSpec,
    kind: StepKind,
    action: PlannedAction,
    path: PathSegment[],
    earlier: ReadonlySet<string>,
  ): PlannedStep['confirm'] {
    const { mode, problem } = confirmationMode(step, kind.changes);
    if (problem) this.error([...path, 'confirm'], problem);
    if (mode !== 'typed') return { mode, expected: null };
    const template = typedConfirmationTemplate(
      step,
      action.instances.map((i) => i.target),
      this.input.runbook.spec.id,
    );
    return { mode, expected: this.renderer(null, earlier, path).parts(template, 'text') };
  }

  private planCondition(step: Pick<StepSpec, 'when'>, path: PathSegment[], earlier: ReadonlySet<string>): StepCondition {
    if (!step.when) return { decided: 'run', text: null, runtime: null };
    for (const leaf of conditionLeaves(step.when)) {
      if (leaf.param !== undefined && !(leaf.param in this.input.runbook.spec.parameters)) {
        this.error([...path, 'when'], `condition on unknown parameter "${leaf.param}"`);
      }
      if (leaf.step !== undefined && !earlier.has(leaf.step)) {
        this.error([...path, 'when'], `condition on step "${leaf.step}", which is not an earlier step`);
      }
      if ((leaf.param === undefined) === (leaf.step === undefined)) {
        this.error([...path, 'when'], 'each condition names exactly one of "param" or "step"');
      }
    }
    const decided = decideWithParameters(step.when, (name) => {
      const p = this.input.parameters[name];
      return p && 'value' in p ? p.value : undefined;
    });
    if (decided === true) return { decided: 'run', text: describeCondition(step.when), runtime: null };
    if (decided === false) return { decided: 'skip', text: describeCondition(step.when), runtime: null };
    return { decided: 'at-run-time', text: describeCondition(decided), runtime: decided };
  }
}

/** An action's title: its own, else its id, else what it belongs to ("check of <step>"). */
function actionTitle(spec: Record<string, unknown>, kind: string, defaultTitle: string | undefined): string {
  if (typeof spec.title === 'string') return spec.title;
  if (typeof spec.id === 'string') return spec.id;
  return defaultTitle ?? `${kind} check`;
}

/** "did you mean" for a misspelt scope, parameter, role or (earlier) step in a reference. */
function suggestReference(message: string, runbook: RunbookSpec, earlier: ReadonlySet<string>): string {
  const path = /undefined reference "\{\{ ([\w.-]+)/.exec(message)?.[1]?.split('.');
  if (!path?.[0]) return '';
  const [scope, name] = path;
  const scopes = ['params', 'host', 'target', 'db', 'roles', 'steps', 'run', 'runbook'];
  if (!scopes.includes(scope)) {
    const best = closest(scope, scopes);
    return best ? `; did you mean "${[best, ...path.slice(1)].join('.')}"?` : '';
  }
  const names =
    scope === 'params'
      ? Object.keys(runbook.parameters)
      : scope === 'roles'
        ? Object.keys(runbook.targets)
        : scope === 'steps'
          ? [...earlier]
          : [];
  const best = name === undefined ? undefined : closest(name, names);
  return best ? `; did you mean "${[scope, best, ...path.slice(2)].join('.')}"?` : '';
}

function explainReference(message: string, target: { type: 'hosts' | 'database' | 'http'; name: string } | null): string {
  const head = /undefined reference "\{\{ (host|db|target)\.([\w-]+)(?:\.([\w-]+))?/.exec(message);
  if (!head) return message;
  const [, scope, field, sub] = head;
  const fits =
    target !== null &&
    (scope === 'target' || (scope === 'host' && target.type === 'hosts') || (scope === 'db' && target.type === 'database'));
  if (!fits) return `${message}: host.*, db.* and target.* are defined only in steps acting on a target of that type`;
  if (scope === 'host' && field === 'vars' && sub) return `${message}: host "${target.name}" has no "${sub}" under vars in the inventory`;
  return message;
}

function kindOf(inv: InventorySpec, name: string): 'hosts' | 'database' | 'http' | undefined {
  if (name in inv.hosts) return 'hosts';
  if (name in inv.databases) return 'database';
  if (name in inv.endpoints) return 'http';
  return undefined;
}

/** One example entry per role, so a runbook can be planned (validated) without an inventory. */
function symbolicInventory(rb: LoadedRunbook): InventorySpec {
  const inv: InventorySpec = { hosts: {}, databases: {}, endpoints: {}, roles: {}, parameters: {}, answers: {} };
  for (const [role, def] of Object.entries(rb.spec.targets)) {
    const name = `${role}-1`;
    if (def.type === 'hosts') inv.hosts[name] = { address: `${role}.example`, vars: new Proxy({}, { get: () => 'example' }) };
    if (def.type === 'database') inv.databases[name] = { host: `${role}.example`, port: 5432, database: role, user: '', sslmode: 'prefer' };
    if (def.type === 'http') inv.endpoints[name] = { url: `https://${role}.example` };
    inv.roles[role] = name;
  }
  return inv;
}
