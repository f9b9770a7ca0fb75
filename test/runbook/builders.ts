/**
 * Fixture builders for the runbook, planner and CLI tests: small functions that produce a
 * realistic runbook or inventory (as an object, YAML text or a file) with overrides, and a helper
 * that runs the same front half as the CLI (load, validate, resolve parameters, plan) in-process.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ValidationError, type Diagnostic } from '../../src/core/errors.js';
import { buildPlan } from '../../src/planner/planner.js';
import type { Plan } from '../../src/planner/plan-types.js';
import { loadInventory, type Inventory } from '../../src/inventory/inventory.js';
import { loadRunbookFile, type LoadedRunbook } from '../../src/runbook/load.js';
import { exampleParameters, resolveParameters } from '../../src/runbook/params.js';

type Obj = Record<string, unknown>;

/** An ssh step on role `app`. */
export function sshStep(overrides: Obj = {}): Obj {
  return { id: 'restart', title: 'Restart the service', kind: 'ssh', target: 'app', command: 'systemctl restart app', ...overrides };
}

/** A local step (no target). */
export function localStep(overrides: Obj = {}): Obj {
  return { id: 'note', title: 'Note the run', kind: 'local', readOnly: true, command: 'echo done', ...overrides };
}

/** A sql step on role `appdb`. */
export function sqlStep(overrides: Obj = {}): Obj {
  return { id: 'record', title: 'Record the release', kind: 'sql', target: 'appdb', sql: 'select 1', ...overrides };
}

/** A small runbook with an `app` hosts role and an `appdb` database role. */
export function runbookObject(overrides: Obj = {}): Obj {
  return {
    id: 'restart-app',
    title: 'Restart the application',
    version: '1.0.0',
    parameters: {},
    targets: { app: { type: 'hosts', description: 'Application hosts' }, appdb: { type: 'database' } },
    steps: [sshStep()],
    ...overrides,
  };
}

export function runbookYaml(overrides: Obj = {}): string {
  return stringify(runbookObject(overrides));
}

/** An inventory binding `app` to two hosts and `appdb` to one database. */
export function inventoryObject(overrides: Obj = {}): Obj {
  return {
    name: 'test site',
    hosts: {
      app1: { address: '10.20.0.11', user: 'deploy', vars: { workdir: '/srv/app' } },
      app2: { address: '10.20.0.12', user: 'deploy', vars: { workdir: '/srv/app' } },
    },
    databases: { appdb: { host: '10.20.0.20', database: 'app', user: 'app_owner', password: { env: 'TEST_DB_PASSWORD' } } },
    roles: { app: ['app1', 'app2'], appdb: 'appdb' },
    ...overrides,
  };
}

/** A temporary directory removed by `cleanup()`. */
export function tempDir(prefix = 'runbook-test-'): { dir: string; write(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, text) {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Planned {
  runbook?: LoadedRunbook;
  inventory?: Inventory | null;
  plan?: Plan;
  /** Every problem, in the order the CLI finds them (load, inventory, parameters, plan). */
  diagnostics: Diagnostic[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/**
 * Load, resolve and plan as `runbook plan` does, in-process. Without an inventory and parameters
 * the runbook is planned symbolically, as `runbook validate` does.
 */
export async function planFiles(
  runbookFile: string,
  options: { inventory?: string; params?: Record<string, string>; env?: NodeJS.ProcessEnv; answers?: Record<string, string> } = {},
): Promise<Planned> {
  const done = (p: Omit<Planned, 'errors' | 'warnings'>): Planned => ({
    ...p,
    errors: p.diagnostics.filter((d) => d.severity === 'error'),
    warnings: p.diagnostics.filter((d) => d.severity === 'warning'),
  });
  const loaded = loadRunbookFile(runbookFile);
  if (!loaded.runbook) return done({ diagnostics: loaded.diagnostics });
  const runbook = loaded.runbook;
  let inventory: Inventory | null = null;
  if (options.inventory) {
    try {
      inventory = loadInventory(options.inventory);
    } catch (error) {
      if (error instanceof ValidationError) return done({ runbook, diagnostics: [...runbook.warnings, ...error.diagnostics] });
      throw error;
    }
  }
  const commandLine = options.params ?? {};
  const params =
    inventory || Object.keys(commandLine).length
      ? await resolveParameters(runbook.spec.parameters, {
          commandLine,
          inventory: inventory?.parameters ?? {},
          ...(inventory ? { inventoryFile: inventory.file, inventorySource: inventory.source } : {}),
          env: options.env ?? {},
        })
      : exampleParameters(runbook.spec.parameters);
  if (params.diagnostics.some((d) => d.severity === 'error'))
    return done({ runbook, inventory, diagnostics: [...runbook.warnings, ...params.diagnostics] });
  const { plan, diagnostics } = buildPlan({
    runbook,
    inventory,
    parameters: params.values,
    parameterInfo: params.info,
    answers: { ...(inventory?.answers ?? {}), ...(options.answers ?? {}) },
  });
  return done({ runbook, inventory, plan, diagnostics: [...runbook.warnings, ...params.diagnostics, ...diagnostics] });
}

/** Writes a runbook (and optionally an inventory) built from objects, then plans them. */
export async function planObjects(
  runbook: Obj,
  options: { inventory?: Obj; params?: Record<string, string>; env?: NodeJS.ProcessEnv; answers?: Record<string, string> } = {},
): Promise<Planned> {
  const tmp = tempDir();
  try {
    const rb = tmp.write('runbook.yaml', stringify(runbook));
    const inv = options.inventory ? tmp.write('inventory.yaml', stringify(options.inventory)) : undefined;
    const { inventory: _object, ...rest } = options;
    return await planFiles(rb, { ...rest, ...(inv ? { inventory: inv } : {}) });
  } finally {
    tmp.cleanup();
  }
}
