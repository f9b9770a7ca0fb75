/**
 * Authoring help: "did you mean" for misspelt fields, references and runbook ids, every
 * validation stage reported in one run, `$schema` allowed, the inventory JSON Schema, and
 * `validate` of inventories.
 */
import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../runbook/builders.js';
import { runCli } from './run-cli.js';

const tmp = tempDir('runbook-authoring-');
afterAll(() => tmp.cleanup());

const RUNBOOK = `id: authoring
title: Authoring
parameters:
  release: { type: string, default: '1.0' }
steps:
  - { id: first, title: first, kind: local, command: 'echo {{ params.release }}' }
`;

describe('did you mean', () => {
  it('an unknown step field names the field meant', async () => {
    const file = tmp.write('field.yaml', RUNBOOK.replace("command: 'echo", "comand: 'echo"));
    const r = await runCli(['validate', file]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`${file}:6:45: error: steps[0].comand: unknown field "comand"; did you mean "command"?`);
  });

  it('an unknown inventory field names the field meant, and an unrelated one gets no guess', async () => {
    const file = tmp.write('inventory.yaml', 'hosts:\n  a: { adress: 192.0.2.1 }\n  b: { zzzzzz: 1 }\n');
    const r = await runCli(['validate', file]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('hosts.a.adress: unknown field "adress"; did you mean "address"?');
    expect(r.stdout).toMatch(/hosts\.b\.zzzzzz: unknown field "zzzzzz"\n/);
  });

  it('a misspelt parameter, step or scope in a reference', async () => {
    const file = tmp.write(
      'refs.yaml',
      RUNBOOK.replace('{{ params.release }}', '{{ params.relase }}') +
        "  - { id: second, title: second, kind: local, command: 'echo {{ steps.frist.value }}' }\n" +
        "  - { id: third, title: third, kind: local, command: 'echo {{ prams.release }}' }\n",
    );
    const r = await runCli(['validate', file]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('undefined reference "{{ params.relase }}"; did you mean "params.release"?');
    expect(r.stdout).toContain('undefined reference "{{ steps.frist.value }}"; did you mean "steps.first.value"?');
    expect(r.stdout).toContain('undefined reference "{{ prams.release }}"; did you mean "params.release"?');
  });

  it('a misspelt runbook id', async () => {
    const r = await runCli(['show', 'vcd-db-upgrad']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no runbook "vcd-db-upgrad"; did you mean "vcd-db-upgrade"?');
  });
});

it('validate reports every stage at once: unknown fields, rules and references', async () => {
  const file = tmp.write(
    'stages.yaml',
    RUNBOOK.replace("command: 'echo {{ params.release }}'", "comand: x, command: 'echo {{ params.nope }}'") +
      "  - { id: first, title: again, kind: local, command: 'true', expect: { stdout: { matches: '(' } } }\n",
  );
  const r = await runCli(['validate', file]);
  expect(r.code).toBe(3);
  expect(r.stdout).toContain('unknown field "comand"');
  expect(r.stdout).toContain('duplicate step id "first"');
  expect(r.stdout).toContain('invalid regular expression');
  expect(r.stdout).toContain('undefined reference "{{ params.nope }}"');
});

it('a $schema key is allowed in a runbook and in an inventory', async () => {
  const runbook = tmp.write('with-schema.yaml', `$schema: ./runbook.schema.json\n${RUNBOOK}`);
  const inventory = tmp.write('inv-with-schema.yaml', '$schema: ./inventory.schema.json\nname: local\n');
  const r = await runCli(['validate', runbook, inventory]);
  expect(r.stdout).toContain(`valid   ${runbook} (authoring)`);
  expect(r.stdout).toContain(`valid   ${inventory} (inventory)`);
  expect(r.code).toBe(0);
  const e = await runCli(['exec', runbook, '-i', inventory, '--dry-run']);
  expect(e.stderr).toBe('');
  expect(e.code).toBe(0);
  expect(e.stdout).toContain('Dry-run: nothing was run.');
});

it('runbook schema inventory prints the inventory JSON Schema, with the fields described', async () => {
  const r = await runCli(['schema', 'inventory']);
  expect(r.code).toBe(0);
  const schema = JSON.parse(r.stdout) as { properties: Record<string, { description?: string }>; additionalProperties: boolean };
  expect(Object.keys(schema.properties)).toEqual(
    expect.arrayContaining(['$schema', 'hosts', 'databases', 'endpoints', 'roles', 'parameters']),
  );
  expect(schema.properties.roles?.description).toBe('Which entries fill each runbook target role.');
  expect(schema.additionalProperties).toBe(false);
  const runbook = JSON.parse((await runCli(['schema'])).stdout) as { properties: Record<string, unknown> };
  expect(Object.keys(runbook.properties)).toContain('steps');
  const other = await runCli(['schema', 'plan']);
  expect(other.code).toBe(2);
  expect(other.stderr).toBe('error: no schema for "plan"\nhint: runbook schema [runbook|inventory]\n');
});

it('validate takes inventories, alone or in a directory with runbooks', async () => {
  const r = await runCli([
    'validate',
    'fixtures/inventories/',
    'fixtures/malformed-inventories/port-out-of-range.yaml',
    'fixtures/example/',
  ]);
  expect(r.code).toBe(3);
  const inventories = readdirSync('fixtures/inventories').filter((name) => name.endsWith('.yaml'));
  for (const name of inventories) expect(r.stdout).toContain(`valid   fixtures/inventories/${name} (inventory)`);
  expect(r.stdout).toContain('invalid fixtures/malformed-inventories/port-out-of-range.yaml (inventory)');
  expect(r.stdout).toContain('valid   fixtures/example/example-maintenance.yaml (example-maintenance)');
  // Every shipped inventory, the malformed one and the example runbook.
  expect(r.stderr).toContain(`1 of ${inventories.length + 2} file(s) invalid`);
});
