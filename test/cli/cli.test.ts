/**
 * The command line, run as a child process (build first: `npm run build`) with stdin closed and
 * no terminal: help, list, show, validate, plan, exec --dry-run, schema, errors and exit codes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Plan } from '../../src/planner/plan-types.js';
import { displayParts } from '../../src/core/template.js';
import { composeCommand, type CommandData } from '../../src/steps/command-shape.js';
import type { RenderedSql } from '../../src/core/template.js';
import { localStep, runbookObject, tempDir } from '../runbook/builders.js';
import { EXAMPLE, INVENTORIES, RUNBOOKS, VACUUM, inventoryCases, runbookCases } from '../runbook/malformed-cases.js';
import { ANSI, CLI, runCli, STACK, type CliResult } from './run-cli.js';

const INVENTORY = 'fixtures/inventories/example.yaml';
const EXAMPLES = ['--runbooks', 'fixtures/example'];

const tmp = tempDir('runbook-cli-');
afterAll(() => tmp.cleanup());

beforeAll(() => {
  if (!existsSync(CLI) || !existsSync('dist/cli.js')) throw new Error('build first: npm run build');
});

function expectClean(r: CliResult): void {
  expect(r.timedOut).toBe(false);
  expect(r.stdout + r.stderr).not.toMatch(ANSI);
  expect(r.stdout + r.stderr).not.toMatch(STACK);
  expect(r.stderr).not.toContain('internal error');
}

describe('help', () => {
  it('--help shows the commands, examples and the exit codes', async () => {
    const r = await runCli(['--help']);
    expectClean(r);
    expect(r.code).toBe(0);
    for (const command of ['list', 'show', 'validate', 'plan', 'exec', 'check', 'resume', 'schema'])
      expect(r.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toMatch(/\$ runbook exec \S+ --dry-run -i \S+/);
    expect(r.stdout).toContain('Exit codes:');
    expect(r.stdout).toMatch(/0 success; 1 a step or verification failed .*; 2 usage;\s+3 invalid runbook\/inventory\/parameter/);
    expect(r.stdout).toContain('130 interrupted');
  });

  it('an unknown option is a usage error (exit 2)', async () => {
    const r = await runCli(['list', '--frobnicate']);
    expectClean(r);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--frobnicate'");
  });
});

describe('list and show', () => {
  it('list shows each runbook with its title, step count and version', async () => {
    const r = await runCli([...EXAMPLES, 'list']);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^example-maintenance\s+Example maintenance \(every step kind\) \(11 steps, v1\.0\.0\)$/m);
  });

  it('list names invalid files instead of failing', async () => {
    const r = await runCli(['--runbooks', RUNBOOKS, ...EXAMPLES, 'list']);
    expectClean(r);
    expect(r.stdout).toMatch(/^example-maintenance\s/m);
    expect(r.stdout).toContain(`invalid: ${join(process.cwd(), RUNBOOKS, 'missing-title.yaml')}`);
  });

  it('list --json is parseable', async () => {
    const r = await runCli([...EXAMPLES, '--json', 'list']);
    expectClean(r);
    const entries = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(entries).toContainEqual(
      expect.objectContaining({
        id: 'example-maintenance',
        title: 'Example maintenance (every step kind)',
        version: '1.0.0',
        steps: 11,
        valid: true,
      }),
    );
  });

  it('show prints the procedure: parameters, roles and steps', async () => {
    const r = await runCli([...EXAMPLES, 'show', 'example-maintenance']);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Example maintenance \(every step kind\)$/m);
    expect(r.stdout).toContain('release (string, default "2.4.1"): Version being rolled out');
    expect(r.stdout).toContain('db_admin_password (secret, required, env EXAMPLE_DB_PASSWORD)');
    expect(r.stdout).toContain('app (hosts): Application hosts');
    expect(r.stdout).toContain('11. purge-cache: Purge the application cache');
  });

  it('show --json is parseable and holds the runbook and its plan', async () => {
    const r = await runCli([...EXAMPLES, '--json', 'show', 'example-maintenance']);
    expectClean(r);
    const out = JSON.parse(r.stdout) as { runbook: { id: string }; plan: Plan };
    expect(out.runbook.id).toBe('example-maintenance');
    expect(out.plan.formatVersion).toBe(2);
  });

  it('an unknown runbook is a usage error (exit 2) with a hint', async () => {
    const r = await runCli([...EXAMPLES, 'show', 'no-such-runbook']);
    expectClean(r);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: no runbook "no-such-runbook"');
    expect(r.stderr).toContain('hint: Run `runbook list` to see the runbooks');
    const exec = await runCli([...EXAMPLES, 'exec', 'no-such-runbook', '--dry-run']);
    expect(exec.code).toBe(2);
    expect(exec.stderr).toBe(r.stderr);
  });
});

describe('validate and schema', () => {
  it('a valid directory: exit 0; --json is parseable', async () => {
    const r = await runCli(['validate', 'fixtures/example']);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid   fixtures/example/example-maintenance.yaml (example-maintenance)');
    const j = await runCli(['--json', 'validate', 'fixtures/example']);
    expect(JSON.parse(j.stdout)).toEqual([
      {
        file: 'fixtures/example/example-maintenance.yaml',
        kind: 'runbook',
        id: 'example-maintenance',
        valid: true,
        diagnostics: [],
        skipped: [],
      },
    ]);
  });

  const sample = runbookCases.filter((c) =>
    [
      'yaml-tab-indentation.yaml',
      'yaml-duplicate-key.yaml',
      'top-level-list.yaml',
      'missing-id.yaml',
      'unknown-field-comand.yaml',
      'unknown-step-kind.yaml',
      'undefined-param-reference.yaml',
      'template-in-single-quotes.yaml',
      'sql-on-hosts-role.yaml',
      'invalid-duration.yaml',
      'when-later-step.yaml',
      'destructive-confirm-yes.yaml',
      'detached-with-stdin.yaml',
    ].includes(c.file),
  );

  it.each(sample)('validate $file: exit 3, $path at $line:$column', async (c) => {
    const file = `${RUNBOOKS}/${c.file}`;
    const r = await runCli(['validate', file]);
    expectClean(r);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`invalid ${file}`);
    expect(r.stdout).toContain(`${file}:${c.line}:${c.column}: error:${c.path ? ` ${c.path}:` : ''} `);
    for (const fragment of c.says) expect(r.stdout).toContain(fragment);
    expect(r.stderr).toContain('error: 1 of 1 file(s) invalid');
  });

  it('validate --json of a malformed file: parseable report and error, exit 3', async () => {
    const r = await runCli(['--json', 'validate', `${RUNBOOKS}/unknown-step-kind.yaml`]);
    expectClean(r);
    expect(r.code).toBe(3);
    const [report] = JSON.parse(r.stdout) as Array<{ valid: boolean; diagnostics: Array<Record<string, unknown>> }>;
    expect(report?.valid).toBe(false);
    expect(report?.diagnostics[0]).toMatchObject({ line: 8, column: 11, path: 'steps[0].kind', severity: 'error' });
    expect(JSON.parse(r.stderr)).toMatchObject({ error: 'invalid' });
  });

  it('a whole directory of malformed files: each is named, exit 3', async () => {
    const r = await runCli(['validate', RUNBOOKS]);
    expectClean(r);
    expect(r.code).toBe(3);
    for (const c of runbookCases) expect(r.stdout).toContain(`invalid ${RUNBOOKS}/${c.file}`);
  });

  it('schema prints JSON Schema naming every step kind', async () => {
    const r = await runCli(['schema']);
    expectClean(r);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { $schema: string };
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    for (const kind of ['ssh', 'sql', 'local', 'http', 'manual', 'prompt', 'wait', 'file-edit'])
      expect(r.stdout).toContain(`"const": "${kind}"`);
  });
});

describe('plan and exec --dry-run', () => {
  it('plan --json: versioned plan JSON', async () => {
    const r = await runCli(['--json', 'plan', EXAMPLE, '-i', INVENTORY]);
    expectClean(r);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as Plan;
    expect(plan.formatVersion).toBe(2);
    expect(plan.runbook.id).toBe('example-maintenance');
    expect(plan.inventory?.file).toBe(INVENTORY);
    expect(plan.steps).toHaveLength(11);
  });

  it('plan -o file writes the same JSON and prints nothing on stdout', async () => {
    const out = join(tmp.dir, 'plan.json');
    const r = await runCli(['plan', EXAMPLE, '-i', INVENTORY, '-o', out]);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`plan written to ${out}`);
    const plan = JSON.parse(readFileSync(out, 'utf8')) as Plan;
    expect(plan.formatVersion).toBe(2);
    const json = await runCli(['--json', 'plan', EXAMPLE, '-i', INVENTORY]);
    expect(plan).toEqual(JSON.parse(json.stdout));
  });

  it('exec --dry-run --from/--only shows what the partial run leaves out, preconditions included', async () => {
    const full = await runCli(['--json', 'plan', EXAMPLE, '-i', INVENTORY]);
    const ids = (JSON.parse(full.stdout) as Plan).steps.map((s) => s.id);
    const from = ids[3]!;
    const r = await runCli(['exec', EXAMPLE, '--dry-run', '-i', INVENTORY, '--from', from]);
    expectClean(r);
    expect(r.code).toBe(0);
    for (const id of ids.slice(0, 3)) expect(r.stdout).toMatch(new RegExp(`${id}: .* NOT RUN\\n\\s+not run: before --from ${from}`));
    expect(r.stdout).not.toMatch(new RegExp(`${from}: .* NOT RUN`));
    expect(r.stdout).toContain('Preconditions (NOT checked');
    expect(r.stdout).toContain('3 left out by --from/--only');
    const only = await runCli(['exec', EXAMPLE, '--dry-run', '-i', INVENTORY, '--only', from]);
    expect(only.stdout.match(/NOT RUN/g)).toHaveLength(ids.length - 1);
    const unknown = await runCli(['exec', EXAMPLE, '--dry-run', '-i', INVENTORY, '--only', 'no-such-step']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--only no-such-step: no such step');
  });

  it('exec --dry-run: exit 0, and every command and statement of the plan is printed exactly', async () => {
    const [dry, json] = await Promise.all([
      runCli(['exec', EXAMPLE, '--dry-run', '-i', INVENTORY]),
      runCli(['--json', 'plan', EXAMPLE, '-i', INVENTORY]),
    ]);
    expectClean(dry);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(json.stdout) as Plan;
    const expected: string[] = [];
    const visit = (action: Plan['steps'][number]['action'] | null) => {
      for (const instance of action?.instances ?? []) {
        const data = instance.data as Record<string, unknown>;
        if (action?.kind === 'ssh' || action?.kind === 'local')
          expected.push(`$ ${composeCommand(data as unknown as CommandData, displayParts)}`);
        if (action?.kind === 'sql') for (const s of data.statements as RenderedSql[]) expected.push(s.text);
        if (action?.kind === 'http') expected.push(`${String(data.method)} ${displayParts(data.path as [])}`);
        for (const nested of ['until', 'check'] as const) if (data[nested]) visit(data[nested] as Plan['steps'][number]['action']);
      }
    };
    for (const p of plan.preconditions) visit(p);
    for (const s of plan.steps) {
      visit(s.action);
      visit(s.verify);
    }
    expect(expected.length).toBeGreaterThanOrEqual(20);
    for (const line of expected) expect(dry.stdout).toContain(line);
    expect(dry.stdout).toContain("$ printf '%s\\n' 'planned maintenance' >> /srv/app/maintenance.log");
    expect(dry.stdout).toContain("insert into settings(key, value) values ('release', $1);");
    expect(dry.stdout).toContain('-- binds: $1 = "2.5.0"');
    expect(dry.stdout).toContain('Dry-run: nothing was run.');
  });

  it('exec --dry-run without an inventory shows example values', async () => {
    const r = await runCli(['exec', EXAMPLE, '--dry-run']);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Inventory: none (example values)');
  });

  it('no colour codes when NO_COLOR is set, nor when output is not a terminal', async () => {
    for (const env of [{ NO_COLOR: '1' }, { NO_COLOR: undefined }]) {
      for (const args of [
        ['--help'],
        [...EXAMPLES, 'list'],
        ['exec', EXAMPLE, '--dry-run', '-i', INVENTORY],
        ['validate', `${RUNBOOKS}/missing-id.yaml`],
        [...EXAMPLES, 'show', 'nope'],
      ]) {
        const r = await runCli(args, { env });
        expect(r.stdout + r.stderr, args.join(' ')).not.toMatch(ANSI);
      }
    }
  });

  it('--json plan output is parseable also without an inventory', async () => {
    const r = await runCli(['--json', 'plan', EXAMPLE]);
    expectClean(r);
    expect((JSON.parse(r.stdout) as Plan).inventory).toBeNull();
  });

  it('a secret set in the environment appears neither in the dry-run nor in the plan JSON', async () => {
    const MARKER = 'MARKER-cli-9d8e7f';
    const env = { EXAMPLE_DB_PASSWORD: MARKER };
    const [dry, json] = await Promise.all([
      runCli(['exec', EXAMPLE, '--dry-run', '-i', INVENTORY], { env }),
      runCli(['--json', 'plan', EXAMPLE, '-i', INVENTORY], { env }),
    ]);
    expect(dry.code).toBe(0);
    expect(json.code).toBe(0);
    expect(dry.stdout + dry.stderr + json.stdout + json.stderr).not.toContain(MARKER);
    expect(dry.stdout).toContain('db_admin_password = *** (secret, from env EXAMPLE_DB_PASSWORD)');
  });
});

describe('bad inventories and parameters: exit 3, nothing run', () => {
  const sample = inventoryCases.filter((c) =>
    [
      'role-names-undefined-entry.yaml',
      'literal-password.yaml',
      'port-as-string.yaml',
      'duplicate-name-across-sections.yaml',
      'missing-role-binding.yaml',
      'wrong-role-entry-type.yaml',
      'role-too-many-entries.yaml',
      'tab-indentation.yaml',
    ].includes(c.file),
  );

  it.each(sample)('exec --dry-run -i $file: $path at $line:$column', async (c) => {
    const file = `${INVENTORIES}/${c.file}`;
    const r = await runCli(['exec', c.runbook ?? EXAMPLE, '--dry-run', '-i', file]);
    expectClean(r);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${file}:${c.line}:${c.column}: error:${c.path ? ` ${c.path}:` : ''} `);
    for (const fragment of c.says) expect(r.stderr).toContain(fragment);
  });

  const parameterCases = inventoryCases.filter((c) => c.path.startsWith('parameters.'));
  it.each(parameterCases)('a bad parameter value in the inventory ($file) is placed at its line and column', async (c) => {
    const file = `${INVENTORIES}/${c.file}`;
    const r = await runCli(['exec', c.runbook ?? EXAMPLE, '--dry-run', '-i', file]);
    expectClean(r);
    expect(r.code).toBe(3);
    for (const fragment of c.says) expect(r.stderr).toContain(fragment);
    expect(r.stderr).toContain(`${file}:${c.line}:${c.column}: error: ${c.path}: `);
  });

  it.each([
    ['mode=sometimes', '(command line): error: --param mode: parameter "mode": "sometimes" is not one of analyze, full'],
    ['parallel_jobs=64', 'parameter "parallel_jobs": 64 is above the maximum 8'],
    ['schema_name=Public', 'parameter "schema_name": "Public" does not match /[a-z_][a-z0-9_]*/'],
    ['nope=1', 'unknown parameter "nope"; this runbook takes parallel_jobs, schema_name, mode'],
    ['nonsense', 'expected --param name=value, found "nonsense"'],
  ])('--param %s: exit 3', async (param, message) => {
    const r = await runCli(['plan', VACUUM, '-p', param]);
    expectClean(r);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });

  it('a missing required parameter without a terminal is an error (exit 3) at once, never a hanging prompt', async () => {
    const file = tmp.write(
      'needs-ticket.yaml',
      stringify(
        runbookObject({
          targets: {},
          parameters: { ticket: { type: 'string', description: 'Change ticket' } },
          steps: [localStep({ command: 'echo {{ params.ticket }}' })],
        }),
      ),
    );
    for (const args of [
      ['plan', file, '-i', INVENTORY],
      ['exec', file, '--dry-run', '-i', INVENTORY],
      ['exec', file, '-i', INVENTORY, '--yes'],
    ]) {
      const r = await runCli(args, { timeoutMs: 15_000 });
      expectClean(r);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toContain('missing parameter "ticket" (string: Change ticket): pass --param ticket=<value>');
      expect(r.ms).toBeLessThan(10_000);
    }
    const given = await runCli(['plan', file, '-i', INVENTORY, '-p', 'ticket=CHG-1']);
    expect(given.code).toBe(0);
    expect(given.stdout).toContain('$ echo CHG-1');
  });
});

describe('output closed early (runbook schema | head -1)', () => {
  it('ends quietly: no stack trace, no unhandled EPIPE', async () => {
    const { spawn } = await import('node:child_process');
    const result = await new Promise<{ stderr: string; code: number | null }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'schema'], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.once('data', () => child.stdout.destroy());
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ stderr, code });
      });
    });
    expect(result.stderr).not.toContain("Unhandled 'error' event");
    expect(result.stderr).not.toMatch(STACK);
  });
});
