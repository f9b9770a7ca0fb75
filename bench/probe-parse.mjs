#!/usr/bin/env node
/**
 * Diagnostic for the cold-start figures (not part of `npm run bench`): where the time of loading
 * one runbook goes, in a fresh process, as `runbook list` / a dry-run pay it.
 * Usage: node bench/probe-parse.mjs <runbook.yaml> [doc|parse|json|load]
 *   doc   yaml.parseDocument with a LineCounter (what src/core/yaml-source.ts does) + toJS
 *   parse yaml.parse (no positions kept)
 *   json  JSON.parse of the same data (what a build-time precompiled runbook would cost)
 *   load  dist/runbook/load.js loadRunbookFile: parse + zod schema + rules
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [file, mode = 'doc'] = process.argv.slice(2);
const text = readFileSync(file, 'utf8');
const t0 = performance.now();
let importMs = 0;
let parseMs = 0;
if (mode === 'load') {
  const m = await import(pathToFileURL(path.join(REPO, 'dist', 'runbook', 'load.js')).href);
  importMs = performance.now() - t0;
  const t1 = performance.now();
  m.loadRunbookFile(file);
  parseMs = performance.now() - t1;
} else {
  const YAML = await import('yaml');
  importMs = performance.now() - t0;
  // The first parse in the process is timed: a CLI run parses each file once, before the JIT warms up.
  const json = mode === 'json' ? JSON.stringify(YAML.parse(text)) : '';
  const t1 = performance.now();
  if (mode === 'doc') YAML.parseDocument(text, { lineCounter: new YAML.LineCounter(), uniqueKeys: true }).toJS();
  else if (mode === 'parse') YAML.parse(text);
  else if (mode === 'json') JSON.parse(json);
  parseMs = performance.now() - t1;
}
console.log(
  JSON.stringify({ file: path.basename(file), bytes: text.length, mode, import_ms: +importMs.toFixed(1), parse_ms: +parseMs.toFixed(1) }),
);
