/**
 * The malformed-input corpus: every file in fixtures/malformed/ (runbooks) and
 * fixtures/malformed-inventories/ (inventories) has exactly one defect, and the tool must name
 * the file, line, column and field path, and say what it expected and what it found.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../src/core/errors.js';
import { formatDiagnostic } from '../../src/core/errors.js';
import { planFiles } from './builders.js';
import { EXAMPLE, INVENTORIES, RUNBOOKS, VACUUM, inventoryCases, runbookCases, type Expected } from './malformed-cases.js';

function expectDiagnostic(errors: Diagnostic[], c: Expected): void {
  const shown = errors.map(formatDiagnostic).join('\n');
  expect(errors.length, shown).toBe(c.errors ?? 1);
  const found = errors.find((d) => d.path === c.path && d.line === c.line);
  expect(found, `no diagnostic at ${c.path} line ${c.line} in:\n${shown}`).toBeDefined();
  expect({ file: found?.file, line: found?.line, column: found?.column, path: found?.path }).toEqual({
    file: c.file,
    line: c.line,
    column: c.column,
    path: c.path,
  });
  for (const fragment of c.says) expect(found?.message).toContain(fragment);
  // Diagnostics are sentences for an operator, never a stack trace or a raw zod dump.
  expect(found?.message).not.toMatch(/\n\s+at |ZodError|"code":/);
}

describe('malformed runbooks (fixtures/malformed)', () => {
  it('every file of the corpus has a case, and there are at least 30 files in all', () => {
    const runbooks = readdirSync(RUNBOOKS).filter((f) => f.endsWith('.yaml'));
    const inventories = readdirSync(INVENTORIES).filter((f) => f.endsWith('.yaml'));
    expect(runbooks.sort()).toEqual(runbookCases.map((c) => c.file).sort());
    expect(inventories.sort()).toEqual(inventoryCases.map((c) => c.file).sort());
    expect(runbooks.length + inventories.length).toBeGreaterThanOrEqual(30);
  });

  it.each(runbookCases)('$file: $path at $line:$column', async (c) => {
    const file = join(RUNBOOKS, c.file);
    const { errors } = await planFiles(file);
    expectDiagnostic(errors, { ...c, file });
  });
});

describe('malformed inventories (fixtures/malformed-inventories)', () => {
  it('the runbook the inventories go with is itself valid', async () => {
    for (const rb of [EXAMPLE, VACUUM]) expect((await planFiles(rb)).errors).toEqual([]);
  });

  it.each(inventoryCases)('$file: $path at $line:$column', async (c) => {
    const file = join(INVENTORIES, c.file);
    const { errors } = await planFiles(c.runbook ?? EXAMPLE, { inventory: file });
    expectDiagnostic(errors, { ...c, file });
  });

  it('a literal password is not repeated in the message', async () => {
    const { errors } = await planFiles(EXAMPLE, { inventory: join(INVENTORIES, 'literal-password.yaml') });
    expect(JSON.stringify(errors)).not.toContain('s3cret-Passw0rd');
  });
});

describe('bad parameter values on the command line', () => {
  const cases: Array<{ param: string; path: string; says: string }> = [
    { param: 'mode=sometimes', path: '--param mode', says: 'parameter "mode": "sometimes" is not one of analyze, full' },
    { param: 'parallel_jobs=64', path: '--param parallel_jobs', says: 'parameter "parallel_jobs": 64 is above the maximum 8' },
    { param: 'parallel_jobs=0', path: '--param parallel_jobs', says: 'parameter "parallel_jobs": 0 is below the minimum 1' },
    { param: 'parallel_jobs=two', path: '--param parallel_jobs', says: 'parameter "parallel_jobs": "two" is not an integer' },
    {
      param: 'schema_name=Public',
      path: '--param schema_name',
      says: 'parameter "schema_name": "Public" does not match /[a-z_][a-z0-9_]*/',
    },
    { param: 'nope=1', path: '--param nope', says: 'unknown parameter "nope"; this runbook takes parallel_jobs, schema_name, mode' },
  ];
  it.each(cases)('--param $param', async ({ param, path, says }) => {
    const eq = param.indexOf('=');
    const { errors } = await planFiles(VACUUM, { params: { [param.slice(0, eq)]: param.slice(eq + 1) } });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ file: '(command line)', path, severity: 'error' });
    expect(errors[0]?.message).toContain(says);
  });

  it('a command-line value overrides a bad inventory value, and a good inventory value is not overridden by a bad default', async () => {
    const ok = await planFiles(VACUUM, { inventory: join(INVENTORIES, 'integer-out-of-range.yaml'), params: { parallel_jobs: '4' } });
    expect(ok.errors).toEqual([]);
    expect(ok.plan?.parameters.find((p) => p.name === 'parallel_jobs')).toMatchObject({ value: 4, source: 'command line' });
  });
});
