#!/usr/bin/env node
/**
 * Diagnostic for the cold-start figures (not part of `npm run bench`): the cost of importing
 * each heavy dependency and each command module of dist/, alone, in a fresh node process
 * (median of 7), against `node -e 0`. Run after `npm run build`.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(path.join(REPO, 'dist', p)).href;
const specs = [
  'commander',
  'yaml',
  'zod',
  'chalk',
  'ssh2',
  'pg',
  'execa',
  '@inquirer/prompts',
  'ssh-config',
  'diff',
  dist('runbook/load.js'),
  dist('planner/planner.js'),
  dist('commands/catalog-commands.js'),
  dist('commands/plan-commands.js'),
  dist('commands/exec-commands.js'),
  dist('engine/executor.js'),
  dist('targets/connections.js'),
];
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rows = [];
for (const spec of specs) {
  const times = [];
  for (let i = 0; i < 7; i++) {
    const code = `const t=performance.now(); await import(${JSON.stringify(spec)}); process.stdout.write(String(performance.now()-t));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: REPO, encoding: 'utf8' });
    times.push(
      Number(
        out
          .trim()
          .split('\n')
          .at(-1)
          .replace(/^[^0-9.]*/, ''),
      ),
    );
  }
  rows.push({ module: spec.replace(pathToFileURL(REPO).href + '/', ''), import_ms: Number(median(times).toFixed(1)) });
}
console.table(rows);
