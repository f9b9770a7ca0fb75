/** The runbook format: a valid runbook loads, the JSON Schema is usable by editors, small rules. */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RunbookError } from '../../src/core/errors.js';
import { findRunbook, loadCatalog } from '../../src/runbook/catalog.js';
import { formatDuration, parseDuration } from '../../src/core/duration.js';
import { loadInventory } from '../../src/inventory/inventory.js';
import { loadRunbookFile } from '../../src/runbook/load.js';
import { runbookJsonSchema } from '../../src/runbook/schema.js';
import { stepKinds } from '../../src/steps/registry.js';
import { localStep, runbookYaml, tempDir } from './builders.js';

const EXAMPLE = 'fixtures/example/example-maintenance.yaml';
const KINDS = ['ssh', 'sql', 'local', 'http', 'manual', 'prompt', 'wait', 'file-edit'];

describe('loading', () => {
  it('the example runbook loads without problems', () => {
    const { runbook, diagnostics } = loadRunbookFile(EXAMPLE);
    expect(diagnostics).toEqual([]);
    expect(runbook?.spec.id).toBe('example-maintenance');
    expect(runbook?.spec.steps.map((s) => s.kind)).toEqual([
      'ssh',
      'sql',
      'http',
      'local',
      'prompt',
      'ssh',
      'ssh',
      'wait',
      'file-edit',
      'manual',
      'ssh',
    ]);
    expect(runbook?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(runbook?.warnings).toEqual([]);
  });

  it('defaults: version, parameters, targets, preconditions, rollback', () => {
    const tmp = tempDir();
    try {
      const file = tmp.write(
        'minimal.yaml',
        'id: minimal\ntitle: Minimal\nsteps:\n  - { id: one, title: One, kind: local, command: "true" }\n',
      );
      const { runbook, diagnostics } = loadRunbookFile(file);
      expect(diagnostics).toEqual([]);
      expect(runbook?.spec).toMatchObject({ version: '1.0.0', parameters: {}, targets: {}, preconditions: [], rollback: [] });
    } finally {
      tmp.cleanup();
    }
  });

  it('a missing file is one diagnostic naming the file, not an exception', () => {
    expect(loadRunbookFile('fixtures/does-not-exist.yaml').diagnostics).toEqual([
      { severity: 'error', file: 'fixtures/does-not-exist.yaml', path: '', message: 'file not found' },
    ]);
  });

  it('several problems in one file are all reported, each with its position', () => {
    const tmp = tempDir();
    try {
      const file = tmp.write(
        'two.yaml',
        runbookYaml({ steps: [localStep({ id: 'a', timeout: 'soon' }), localStep({ id: 'b', retries: { count: 0 } })] }),
      );
      const { runbook, diagnostics } = loadRunbookFile(file);
      expect(runbook).toBeUndefined();
      expect(diagnostics.map((d) => d.path).sort()).toEqual(['steps[0].timeout', 'steps[1].retries.count']);
      for (const d of diagnostics) expect(d.line).toBeGreaterThan(1);
    } finally {
      tmp.cleanup();
    }
  });

  it('the | raw filter is a warning with its position, not an error', () => {
    const tmp = tempDir();
    try {
      const file = tmp.write(
        'raw.yaml',
        runbookYaml({
          parameters: { flags: { type: 'string', default: '-v' } },
          steps: [localStep({ command: 'rsync {{ params.flags | raw }} a b' })],
        }),
      );
      const { runbook, diagnostics } = loadRunbookFile(file);
      expect(runbook).toBeDefined();
      expect(diagnostics).toHaveLength(1);
      const lineOfCommand =
        readFileSync(file, 'utf8')
          .split('\n')
          .findIndex((l) => l.includes('rsync')) + 1;
      expect(diagnostics[0]).toMatchObject({ severity: 'warning', file, line: lineOfCommand, path: 'steps[0].command' });
      expect(diagnostics[0]?.message).toMatch(/\{\{ params\.flags \| raw \}\} splices the value unquoted/);
    } finally {
      tmp.cleanup();
    }
  });

  it('the example inventory loads', () => {
    const inv = loadInventory('fixtures/inventories/example.yaml');
    expect(Object.keys(inv.hosts)).toEqual(['app1', 'app2']);
    expect(inv.databases.appdb?.port).toBe(5432);
    expect(inv.roles.app).toEqual(['app1', 'app2']);
  });
});

describe('runbook schema (JSON Schema for editors)', () => {
  const schema = runbookJsonSchema() as Record<string, unknown>;

  it('is JSON Schema 2020-12 of an object with the top-level fields', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.type).toBe('object');
    expect(Object.keys(schema.properties as object)).toEqual(
      expect.arrayContaining(['id', 'title', 'parameters', 'targets', 'preconditions', 'steps', 'rollback']),
    );
    expect(schema.required).toEqual(expect.arrayContaining(['id', 'title', 'steps']));
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });

  it('names every step kind, with its description', () => {
    const text = JSON.stringify(schema);
    const kinds = [...text.matchAll(/"kind":\{(?:[^{}]*?)"const":"([a-z-]+)"/g)].map((m) => m[1]);
    expect(new Set(kinds)).toEqual(new Set(KINDS));
    expect(stepKinds.map((k) => k.kind).sort()).toEqual([...KINDS].sort());
    for (const k of stepKinds) expect(text).toContain(JSON.stringify(k.summary));
  });

  it('a JSON Schema validator accepts it, accepts the example runbook and rejects a malformed one', () => {
    // ajv 6 (draft-07) is what is installed; the keywords zod emits here are the same in both drafts.
    const Ajv = createRequire(import.meta.url)('ajv') as new (options: object) => {
      compile(s: object): ((data: unknown) => boolean) & { errors?: Array<{ message?: string; dataPath?: string }> | null };
    };
    const { $schema: _ignored, ...draft } = schema;
    const validate = new Ajv({ allErrors: true, schemaId: 'auto' }).compile(draft);
    const example: unknown = parse(readFileSync(EXAMPLE, 'utf8'));
    expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
    for (const file of ['unknown-step-kind.yaml', 'unknown-field-comand.yaml', 'missing-title.yaml', 'targets-list-not-mapping.yaml']) {
      expect(validate(parse(readFileSync(`fixtures/malformed/${file}`, 'utf8'))), file).toBe(false);
    }
  });
});

describe('catalog', () => {
  it('finds a runbook by id in a directory, and by path', () => {
    expect(findRunbook('example-maintenance', ['fixtures/example']).spec.id).toBe('example-maintenance');
    expect(findRunbook(EXAMPLE, []).spec.id).toBe('example-maintenance');
  });

  it('an unknown id is a usage error with a hint', () => {
    let error: unknown;
    try {
      findRunbook('no-such-runbook', ['fixtures/example']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RunbookError);
    expect(error).toMatchObject({ code: 'usage', exitCode: 2, message: 'no runbook "no-such-runbook"' });
    expect((error as RunbookError).hint).toContain('runbook list');
  });

  it('lists valid runbooks and keeps broken files with their diagnostics', () => {
    const entries = loadCatalog(['fixtures/example', 'fixtures/malformed']);
    expect(entries.filter((e) => e.runbook).map((e) => e.runbook?.spec.id)).toContain('example-maintenance');
    const broken = entries.find((e) => e.file.endsWith('missing-title.yaml'));
    expect(broken?.runbook).toBeUndefined();
    expect(broken?.diagnostics[0]?.path).toBe('title');
  });
});

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    [90, 90_000],
    [0.5, 500],
  ] as const)('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['5 minutes', '', 'm', '10', '-1s', '1d'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('formats for the operator', () => {
    expect([500, 1500, 90_000, 3_600_000, 5_400_000].map(formatDuration)).toEqual(['500ms', '1.5s', '1m30s', '1h', '1h30m']);
  });
});
