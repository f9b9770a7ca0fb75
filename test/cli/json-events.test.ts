/** The `--json` event stream: versioned in every line, and every event type documented. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { EVENT_SCHEMA_VERSION } from '../../src/engine/events.js';
import { tempDir } from '../runbook/builders.js';
import { runCli } from './run-cli.js';

const tmp = tempDir('runbook-json-');
afterAll(() => tmp.cleanup());

const doc = readFileSync('docs/json-events.md', 'utf8');
const documented = new Set([...doc.matchAll(/^### `([a-z-]+)`$/gm)].map((m) => m[1]));

it('documents every event type the engine emits, and the current version', () => {
  // The detached step kind defines its own events; the engine's union includes them.
  const sources = ['src/engine/events.ts', 'src/steps/detached-events.ts'].map((f) => readFileSync(f, 'utf8')).join('\n');
  const emitted = [...sources.matchAll(/type: '([a-z-]+)'/g)].map((m) => m[1]);
  expect(emitted.length).toBeGreaterThan(10);
  expect(emitted.filter((t) => !documented.has(t))).toEqual([]);
  expect(doc).toContain(`the version of this format: **${EVENT_SCHEMA_VERSION}**`);
});

it('exec --json: every line is one documented event with the schema version', async () => {
  const runbook = tmp.write(
    'json.yaml',
    'id: json-events\ntitle: JSON events\nsteps:\n  - { id: hello, title: say hello, kind: local, readOnly: true, command: echo hello }\n',
  );
  const inventory = tmp.write('inventory.yaml', 'name: local only\n');
  const r = await runCli(['--json', 'exec', runbook, '-i', inventory, '--yes', '--state-dir', join(tmp.dir, 'state')]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const events = r.stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { schemaVersion: number; type: string; time: string });
  for (const e of events) {
    expect(e.schemaVersion).toBe(EVENT_SCHEMA_VERSION);
    expect(documented).toContain(e.type);
    expect(Object.keys(e).slice(0, 2)).toEqual(['schemaVersion', 'type']);
  }
  expect(events.map((e) => e.type)).toEqual(
    expect.arrayContaining(['run-started', 'step-started', 'output', 'step-finished', 'run-finished']),
  );
});

it('an error with --json is a documented, versioned line on stderr', async () => {
  const r = await runCli(['--json', 'exec', 'no-such-runbook', '--dry-run']);
  expect(r.stdout).toBe('');
  const line = JSON.parse(r.stderr) as Record<string, unknown>;
  expect(line).toMatchObject({ schemaVersion: EVENT_SCHEMA_VERSION, type: 'error', exitCode: r.code });
  expect(documented).toContain('error');
});
