/**
 * What the dry-run tests of the shipped runbooks share: the CLI run with the runbook's secrets,
 * the plan as `plan --json` prints it (typed by src's own plan types, not a hand copy), and small
 * readers of it.
 */
import { expect, it } from 'vitest';
import type { Plan, PlannedAction, PlannedStep } from '../../src/planner/plan-types.js';
import { displayParts, type Part } from '../../src/core/template.js';
import type { RunnableCommand } from '../../src/steps/command-run.js';
import type { SqlData } from '../../src/steps/sql.js';
import type { WaitData } from '../../src/steps/wait.js';
import { runCli, type CliResult } from '../cli/run-cli.js';

export interface ShippedRunbook {
  id: string;
  /** The example inventory of the runbook (fixtures/inventories). */
  inventory: string;
  /** Runs the CLI with the runbook's secrets in the environment; `hide` is shown as `<tmp>`. */
  cli(args: string[]): Promise<CliResult>;
  /** `runbook plan <id> --json <args>`, which must succeed. */
  plan(args: string[]): Promise<Plan>;
  /** The secret values in the environment, which no output may show. */
  secrets: string[];
}

export function shippedRunbook(id: string, options: { env?: Record<string, string>; hide?: string } = {}): ShippedRunbook {
  const cli = async (args: string[]) => {
    const r = await runCli(args, { ...(options.env ? { env: options.env } : {}), timeoutMs: 60_000 });
    return options.hide ? { ...r, stdout: r.stdout.split(options.hide).join('<tmp>') } : r;
  };
  return {
    id,
    inventory: `fixtures/inventories/${id}.yaml`,
    cli,
    secrets: Object.values(options.env ?? {}),
    async plan(args) {
      const r = await cli(['plan', id, '--json', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Plan;
    },
  };
}

/**
 * The tests every shipped runbook's dry-run has (called inside its describe): the runbook
 * validates without a warning, and the plan text of each branch (its arguments; '' names the only
 * one) is printed without a terminal, secrets masked, as in the snapshot.
 */
export function itValidatesAndPrintsItsPlan(rb: ShippedRunbook, branches: Record<string, string[]>): void {
  it('validates with no warnings', async () => {
    const r = await rb.cli(['validate', `src/runbooks/${rb.id}.yaml`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^valid\s/m);
    expect(r.stdout + r.stderr).not.toMatch(/warning/i);
  });
  for (const [branch, args] of Object.entries(branches)) {
    it(`prints the whole plan without a terminal${branch ? `: ${branch}` : ''} (snapshot)`, async () => {
      const r = await rb.cli(['exec', rb.id, '--dry-run', ...args]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Dry-run: nothing was run.');
      for (const secret of rb.secrets) expect(r.stdout).not.toContain(secret);
      expect(r.stdout).toMatchSnapshot();
    });
  }
}

/** A step of the plan, main or rollback. */
export function step(plan: Plan, id: string): PlannedStep {
  const s = [...plan.steps, ...plan.rollback].find((x) => x.id === id);
  if (!s) throw new Error(`no step ${id}`);
  return s;
}

/** The ids of the steps the plan does not skip. */
export const running = (steps: PlannedStep[]): string[] => steps.filter((s) => s.condition.decided !== 'skip').map((s) => s.id);

/** Parts as the dry-run shows them: secrets as ***, run-time values as <steps.x.value>. */
export const text = (parts: readonly Part[] | null | undefined): string => displayParts(parts ?? []);

/** The data of an instance of a step's action (or of a nested action), as its step kind writes it. */
export function commandOf(of: PlannedStep | PlannedAction, instance = 0): RunnableCommand {
  return dataOf(of, instance) as unknown as RunnableCommand;
}
export function sqlOf(of: PlannedStep | PlannedAction, instance = 0): SqlData {
  return dataOf(of, instance) as unknown as SqlData;
}
export function waitOf(of: PlannedStep | PlannedAction, instance = 0): WaitData {
  return dataOf(of, instance) as unknown as WaitData;
}

function dataOf(of: PlannedStep | PlannedAction, instance: number): Record<string, unknown> {
  const action = 'instances' in of ? of : of.action;
  const data = action.instances[instance]?.data;
  if (!data) throw new Error(`${action.title} has no instance ${instance}`);
  return data;
}
