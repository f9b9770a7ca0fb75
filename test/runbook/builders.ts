/**
 * Fixture builders for the runbook, planner and CLI tests: small functions that produce a
 * realistic runbook or inventory (as an object, YAML text or a file) with overrides, and a helper
 * that runs the CLI's own front half (load, validate, resolve parameters, plan) in-process.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createContext, type CommandContext } from '../../src/commands/context.js';
import { preparePlan } from '../../src/commands/prepare.js';
import { ValidationError, type Diagnostic } from '../../src/core/errors.js';
import type { Plan } from '../../src/planner/plan-types.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import type { LoadedRunbook } from '../../src/runbook/load.js';

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

/**
 * A writer of small numbered runbook files (YAML text) for the tests that run them against a lab:
 * `id: <prefix>-<n>`, the given parameters and targets, then the steps (and `extra`, e.g. a
 * rollback section) exactly as the test writes them. `name` replaces `<prefix>-<n>`.
 */
export function runbookWriter(
  dir: () => string,
  prefix: string,
  head: { parameters?: Record<string, string>; targets: Record<string, 'hosts' | 'database' | 'http'> },
): (steps: string, extra?: string, name?: string) => string {
  let n = 0;
  const lines = (title: string, entries: Array<[string, string]>) =>
    entries.length ? `${title}:\n${entries.map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n` : '';
  return (steps, extra = '', name) => {
    const id = name ?? `${prefix}-${++n}`;
    const path = join(dir(), `${id}.yaml`);
    writeFileSync(
      path,
      `id: ${id}\ntitle: ${id}\n` +
        lines('parameters', Object.entries(head.parameters ?? {})) +
        lines(
          'targets',
          Object.entries(head.targets).map(([k, type]) => [k, `{ type: ${type} }`]),
        ) +
        `steps:\n${steps}\n${extra}`,
    );
    return path;
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
  /** Every problem the CLI reports (its errors, or the warnings of a plan made). */
  diagnostics: Diagnostic[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/**
 * Load, resolve and plan in-process through the CLI's own front half (commands/prepare.ts), as
 * `runbook plan` does, without a terminal. Without an inventory and parameters the runbook is
 * planned symbolically. A validation failure comes back as `errors` instead of a throw.
 */
export async function planFiles(
  runbookFile: string,
  options: { inventory?: string; params?: Record<string, string>; env?: NodeJS.ProcessEnv; answers?: Record<string, string> } = {},
): Promise<Planned> {
  const ctx: CommandContext = { ...createContext({}), runbookDirs: [], env: options.env ?? {}, interactive: false };
  const assignments = (values: Record<string, string> | undefined) => Object.entries(values ?? {}).map(([k, v]) => `${k}=${v}`);
  try {
    const prepared = await preparePlan(
      runbookFile,
      {
        ...(options.inventory ? { inventory: options.inventory } : {}),
        param: assignments(options.params),
        answer: assignments(options.answers),
      },
      ctx,
    );
    return { ...prepared, diagnostics: prepared.warnings, errors: [], warnings: prepared.warnings };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const warnings = error.diagnostics.filter((d) => d.severity === 'warning');
    return { diagnostics: error.diagnostics, errors: error.diagnostics.filter((d) => d.severity === 'error'), warnings };
  }
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
