/**
 * A reviewed plan file edited by hand, its digest written again so that it still "matches": bad
 * input (exit 3, the file and the field named, what to do), never an internal error; an
 * unedited plan of the example (every step kind) is read as it is.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPlanFile } from '../../src/planner/plan-file.js';
import { tempDir } from '../runbook/builders.js';
import { runCli } from './run-cli.js';

const RUNBOOK = 'fixtures/example/example-maintenance.yaml';
const INVENTORY = 'fixtures/inventories/example.yaml';
const HINT = 'hint: This is not a plan as `runbook plan -o` writes it (edited by hand?). Nothing was run.';

describe('a hand-edited plan file', () => {
  const tmp = tempDir('runbook-plan-file-');
  let plan: Record<string, unknown>;
  afterAll(() => tmp.cleanup());

  beforeAll(async () => {
    const r = await runCli(['plan', RUNBOOK, '-i', INVENTORY, '-o', join(tmp.dir, 'plan.json')]);
    expect(r.code, r.stderr).toBe(0);
    const { digest: _digest, ...content } = JSON.parse(readFileSync(join(tmp.dir, 'plan.json'), 'utf8')) as Record<string, unknown>;
    plan = content;
  });

  /** Writes the plan as `runbook plan -o` would, with a digest that matches the edited content. */
  const sealed = (name: string, content: unknown): string => {
    const text = JSON.stringify(content, null, 2);
    const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
    return tmp.write(name, JSON.stringify({ ...(content as object), digest }, null, 2));
  };
  const exec = (file: string) =>
    runCli(['exec', 'example-maintenance', '--plan', file, '-i', INVENTORY, '--state-dir', join(tmp.dir, 'state')]);

  it('reads the unedited plan of every step kind as it is', () => {
    expect(readPlanFile(plan, 'plan.json')).toBe(plan);
  });

  it('names an unknown step kind with its field, exit 3', async () => {
    const edited = structuredClone(plan) as { steps: Array<{ action: { kind: string } }> };
    edited.steps[0]!.action.kind = 'sshh';
    const file = sealed('kind.json', edited);
    const r = await exec(file);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      `${file}: error: steps[0].action.kind: unknown step kind "sshh" (known: ssh, sql, local, http, manual, prompt, wait, file-edit)\n` +
        `${HINT} Make and review the plan again: runbook plan <id> -i <inventory> -o plan.json\n`,
    );
  });

  it('names a missing part, exit 3', async () => {
    const { steps: _steps, ...edited } = plan;
    const file = sealed('steps.json', edited);
    const r = await exec(file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${file}: error: steps: Invalid input: expected array, received undefined\n${HINT}`);
    expect(r.stderr).not.toContain('internal error');
  });

  it('names an action left without the target its kind needs', async () => {
    const edited = structuredClone(plan) as { steps: Array<{ action: { kind: string; instances: Array<{ target: string | null }> } }> };
    const index = edited.steps.findIndex((s) => s.action.kind === 'sql');
    edited.steps[index]!.action.instances[0]!.target = null;
    const file = sealed('target.json', edited);
    const r = await exec(file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${file}: error: steps[${index}].action.instances[0].target: a sql action needs a database target\n${HINT}`);
  });

  it('refuses a file that holds no object', async () => {
    const file = tmp.write('null.json', 'null');
    const r = await exec(file);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      `error: ${file} is not a plan: it holds null\nhint: Nothing was run. Make and review a new plan: runbook plan <id> -i <inventory> -o plan.json\n`,
    );
  });
});

describe('a plan file without a digest written again', () => {
  it('is still refused as changed after it was written', async () => {
    const tmp = tempDir('runbook-plan-file-');
    try {
      const file = join(tmp.dir, 'plan.json');
      expect((await runCli(['plan', RUNBOOK, '-i', INVENTORY, '-o', file])).code).toBe(0);
      writeFileSync(file, readFileSync(file, 'utf8').replace('"kind": "ssh"', '"kind": "sshh"'));
      const r = await runCli(['exec', 'example-maintenance', '--plan', file, '-i', INVENTORY]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('was changed after it was written');
    } finally {
      tmp.cleanup();
    }
  });
});
