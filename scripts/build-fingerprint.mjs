#!/usr/bin/env node
/**
 * Run by `npm run build` after tsc: writes <dist>/build-fingerprint.json, the sha256 of every
 * compiled module (path and content). The cache of validated runbooks (src/runbook/compiled-cache.ts)
 * keys its entries by it, so a new build invalidates them without walking and stat-ing the
 * package's modules at every start (that walk cost 5 to 65 ms of each `runbook list`).
 *
 * Usage: node scripts/build-fingerprint.mjs [dist-dir]   (default: dist next to this folder)
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const FINGERPRINT_FILE = 'build-fingerprint.json';

/** Every .js module below `dir`, in a fixed order (code-unit order, the same on every machine). */
function modules(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .map((entry) => ({ entry, path: join(dir, entry.name) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .flatMap(({ entry, path }) => (entry.isDirectory() ? modules(path) : entry.name.endsWith('.js') ? [path] : []));
}

const dist = process.argv[2] ?? join(dirname(dirname(fileURLToPath(import.meta.url))), 'dist');
const hash = createHash('sha256');
for (const file of modules(dist))
  hash
    .update(`${relative(dist, file)}\0`)
    .update(readFileSync(file))
    .update('\0');
const target = join(dist, FINGERPRINT_FILE);
writeFileSync(`${target}.tmp`, JSON.stringify({ fingerprint: hash.digest('hex').slice(0, 16) }) + '\n');
renameSync(`${target}.tmp`, target);
