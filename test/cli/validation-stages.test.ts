/**
 * Every validation stage reported at once: plan, exec, show, smoke and validate check the runbook
 * (YAML syntax, schema, rules, references and templates), the inventory and the command line's
 * parameters in one run, report all their problems with file, line and field (exit 3), name the
 * stages they had to skip, and touch nothing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../runbook/builders.js';
import { runCli } from './run-cli.js';

const tmp = tempDir('runbook-stages-');
afterAll(() => tmp.cleanup());

const marker = join(tmp.dir, 'touched');
/** A runbook with a misspelt field, an undefined reference and a step that would leave a mark. */
const runbook = tmp.write(
  'stages.yaml',
  `id: stages
title: Stages
parameters:
  release: { type: string, pattern: '[0-9.]+' }
steps:
  - id: mark
    title: Leave a mark
    kind: local
    comand: typo
    command: touch ${marker} {{ params.relase }}
`,
);
/** An inventory with an unknown field. */
const inventory = tmp.write('inventory.yaml', 'name: stages\nhostz: {}\nparameters:\n  release: "1.0"\n');
/** A runbook whose YAML does not parse. */
const broken = tmp.write('broken.yaml', 'id: broken\nsteps: [\n  - id: a\n');
const state = ['--state-dir', join(tmp.dir, 'state')];

interface ErrorLine {
  error: string;
  exitCode: number;
  diagnostics: Array<{ file: string; line?: number; path: string; message: string }>;
  skipped: Array<{ stage: string; reason: string }>;
}
const errorOf = (stderr: string) => JSON.parse(stderr) as ErrorLine;

/** The three stages' problems, each where it is. */
function expectAllStages(e: ErrorLine) {
  expect(e).toMatchObject({ error: 'invalid', exitCode: 3 });
  expect(e.diagnostics).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        file: runbook,
        line: 9,
        path: 'steps[0].comand',
        message: expect.stringContaining('unknown field "comand"'),
      }),
      expect.objectContaining({
        file: runbook,
        line: 10,
        path: 'steps[0].command',
        message: expect.stringContaining('{{ params.relase }}'),
      }),
      expect.objectContaining({ file: inventory, line: 2, path: 'hostz', message: expect.stringContaining('unknown field "hostz"') }),
      expect.objectContaining({ file: '(command line)', path: '--param', message: 'expected --param name=value, found "release"' }),
    ]),
  );
  expect(e.skipped.map((s) => s.stage)).toContain('parameter values from the inventory');
}

describe('one run reports the problems of every stage', () => {
  it.each([
    ['plan', ['plan', runbook]],
    ['exec --dry-run', ['exec', runbook, '--dry-run']],
    ['exec', ['exec', runbook, '--yes', ...state]],
    ['show', ['show', runbook]],
  ])('%s: runbook, inventory and command line together, nothing run', async (_name, args) => {
    const r = await runCli(['--json', ...args, '-i', inventory, '-p', 'release']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expectAllStages(errorOf(r.stderr));
    expect(existsSync(marker)).toBe(false);
  });

  it('smoke: the same, before any database is contacted', async () => {
    const r = await runCli(['--json', 'smoke', runbook, '-i', inventory, '-p', 'release', ...state], {
      env: { RUNBOOK_SMOKE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
    });
    expect(r.code).toBe(3);
    expectAllStages(errorOf(r.stderr));
  });

  it('the text form lists every problem with file:line and the skipped stages', async () => {
    const r = await runCli(['plan', runbook, '-i', inventory, '-p', 'release']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${runbook}:9:5: error: steps[0].comand: unknown field "comand"`);
    expect(r.stderr).toContain(`${runbook}:10:`);
    expect(r.stderr).toContain(`${inventory}:2:1: error: hostz: unknown field "hostz"`);
    expect(r.stderr).toContain('(command line): error: --param: expected --param name=value, found "release"');
    expect(r.stderr).toContain('skipped: parameter values from the inventory (the inventory does not load)');
  });

  it('a runbook whose YAML does not parse: its later stages are skipped, the inventory is still checked', async () => {
    const r = await runCli(['--json', 'plan', broken, '-i', inventory]);
    const e = errorOf(r.stderr);
    expect(r.code).toBe(3);
    const byFile = (file: string) => e.diagnostics.filter((d) => d.file === file).map((d) => d.message);
    expect(byFile(broken).length).toBeGreaterThan(0);
    expect(byFile(broken).every((m) => m.startsWith('YAML syntax:'))).toBe(true);
    expect(byFile(inventory)).toEqual(['unknown field "hostz"; did you mean "hosts"?']);
    expect(e.skipped.map((s) => `${s.stage}: ${s.reason}`)).toEqual(
      expect.arrayContaining([
        'runbook schema: the YAML does not parse',
        'runbook rules, references and templates: the YAML does not parse',
        "parameters and answers: the runbook's parameter and step definitions do not load",
      ]),
    );
  });

  it('bad parameter values are reported with the runbook problems, not after them', async () => {
    const good = tmp.write('good-inventory.yaml', 'name: good\nparameters:\n  release: "x.y"\n');
    const r = await runCli(['--json', 'plan', runbook, '-i', good]);
    const e = errorOf(r.stderr);
    expect(e.diagnostics.map((d) => [d.file, d.line])).toEqual([
      [runbook, 9],
      [runbook, 10],
      [good, 3],
    ]);
    expect(e.diagnostics[2]!.message).toBe('parameter "release": "x.y" does not match /[0-9.]+/');
  });
});

describe('validate', () => {
  it('a rule error (duplicate id) no longer hides the reference errors', async () => {
    const dup = tmp.write(
      'dup.yaml',
      'id: dup\ntitle: Dup\nsteps:\n  - { id: a, title: a, kind: local, command: "echo {{ params.nope }}" }\n  - { id: a, title: b, kind: local, command: "echo b" }\n',
    );
    const r = await runCli(['--json', 'validate', dup]);
    expect(r.code).toBe(3);
    const [report] = JSON.parse(r.stdout) as Array<{ diagnostics: Array<{ line: number; message: string }>; skipped: unknown[] }>;
    expect(report!.diagnostics.map((d) => [d.line, d.message])).toEqual([
      [5, 'duplicate step id "a" (also at steps[0])'],
      [4, 'undefined reference "{{ params.nope }}"'],
    ]);
    expect(report!.skipped).toEqual([]);
  });

  it('a file whose YAML does not parse says which stages it skipped', async () => {
    const r = await runCli(['validate', broken]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('skipped: runbook schema (the YAML does not parse)');
    expect(r.stdout).toContain('skipped: runbook rules, references and templates (the YAML does not parse)');
  });
});
