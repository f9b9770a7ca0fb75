/**
 * The layering check of `npm run lint` (.dependency-cruiser.mjs, docs/architecture.md) fails on
 * each kind of forbidden import: it is run on small trees laid out like src/, one bad import each.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
const made: string[] = [];
afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Runs the project's check on a tree of the given files (path under the tree -> source). */
async function cruise(files: Record<string, string>): Promise<{ code: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-layers-'));
  made.push(dir);
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' } }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const bin = join(repo, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
  try {
    const r = await promisify(execFile)(process.execPath, [bin, '--config', join(repo, '.dependency-cruiser.mjs'), 'src'], { cwd: dir });
    return { code: 0, output: r.stdout + r.stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

const ok = 'export const x = 1;\n';

describe('layering check', () => {
  it('accepts imports that go down the layers', async () => {
    const r = await cruise({
      'src/core/a.ts': ok,
      'src/planner/b.ts': "import { x } from '../core/a.js';\nexport const y = x;\n",
      'src/targets/c.ts': "import pg from 'pg';\nexport const z = pg;\n",
    });
    expect(r.output).toContain('no dependency violations found');
    expect(r.code).toBe(0);
  });

  it.each([
    [
      'layer-core',
      { 'src/core/a.ts': "import { y } from '../planner/b.js';\nexport const x = y;\n", 'src/planner/b.ts': 'export const y = 1;\n' },
    ],
    [
      'layer-targets',
      { 'src/targets/a.ts': "import type { Y } from '../engine/b.js';\nexport type X = Y;\n", 'src/engine/b.ts': 'export type Y = 1;\n' },
    ],
    [
      'no-module-cycle',
      {
        'src/steps/a.ts': "import { y } from './b.js';\nexport const x = () => y;\n",
        'src/steps/b.ts': "import { x } from './a.js';\nexport const y = () => x;\n",
      },
    ],
    ['connection-libraries-in-targets', { 'src/journal/a.ts': "import pg from 'pg';\nexport const x = pg;\n" }],
    ['prompts-in-ui', { 'src/commands/a.ts': "import { confirm } from '@inquirer/prompts';\nexport const x = confirm;\n" }],
    [
      'step-kinds-apart',
      { 'src/steps/sql.ts': "import { y } from './http.js';\nexport const x = y;\n", 'src/steps/http.ts': 'export const y = 1;\n' },
    ],
    [
      'commands-apart',
      {
        'src/commands/journal-commands.ts': "import { y } from './catalog-commands.js';\nexport const x = y;\n",
        'src/commands/catalog-commands.ts': 'export const y = 1;\n',
      },
    ],
  ])('fails on a forbidden import: %s', async (rule, files) => {
    const r = await cruise(files);
    expect(r.output).toContain(`error ${rule}:`);
    expect(r.code).not.toBe(0);
  });
});
