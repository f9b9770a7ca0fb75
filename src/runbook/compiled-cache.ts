/**
 * A cache of runbooks that passed validation, as JSON keyed by the file's content and by the
 * code that validated it. Parsing YAML with positions and checking the schema costs tens of
 * milliseconds per runbook at every start; JSON.parse of the result costs well under one.
 * Only valid runbooks are stored, so every error still comes from a full validation with its
 * line and column. RUNBOOK_NO_CACHE=1 turns it off; a cache that cannot be written is skipped.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Diagnostic } from '../core/errors.js';
import { readInputFile } from '../core/input-file.js';
import type { RunbookSpec } from './schema.js';

export interface CompiledRunbook {
  spec: RunbookSpec;
  warnings: Diagnostic[];
}

function cacheDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.RUNBOOK_NO_CACHE && env.RUNBOOK_NO_CACHE !== '0') return undefined;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'runbook', 'compiled');
}

let fingerprint: string | undefined;

/**
 * Identifies the code that loads and validates runbooks, so that any new build invalidates what
 * was cached: the content hash `npm run build` wrote beside the compiled modules
 * (scripts/build-fingerprint.mjs), one small read; without it (the sources run directly, as the
 * tests do) the size and modification time of every module of this package.
 */
function codeFingerprint(): string {
  if (fingerprint) return fingerprint;
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  fingerprint = builtFingerprint(root) ?? walkedFingerprint(root);
  return fingerprint;
}

function builtFingerprint(root: string): string | undefined {
  try {
    const { fingerprint } = JSON.parse(readFileSync(join(root, 'build-fingerprint.json'), 'utf8')) as { fingerprint?: unknown };
    return typeof fingerprint === 'string' && /^[0-9a-f]{16}$/.test(fingerprint) ? fingerprint : undefined;
  } catch {
    return undefined;
  }
}

function walkedFingerprint(root: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    // Code-unit order: localeCompare would load ICU's collation (tens of ms) for nothing.
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'runbooks') walk(path);
      } else if (/\.[jt]s$/.test(entry.name)) {
        const { size, mtimeMs } = statSync(path);
        hash.update(`${path}\0${size}\0${mtimeMs}\n`);
      }
    }
  };
  walk(root);
  return hash.digest('hex').slice(0, 16);
}

function entryPath(dir: string, contentHash: string): string {
  return join(dir, `${codeFingerprint()}-${contentHash}.json`);
}

/**
 * A runbook file as the cache knows it, without parsing it: its text and hash (for a full load
 * when the cache has nothing), and its validated form when cached. `list` stops here.
 */
export function readRunbookText(
  file: string,
  env = process.env,
): { text: string; hash: string; compiled?: CompiledRunbook | undefined } | { diagnostic: Diagnostic } {
  const read = readInputFile(file);
  if (read.diagnostic) return { diagnostic: read.diagnostic };
  const hash = createHash('sha256').update(read.text).digest('hex');
  return { text: read.text, hash, compiled: readCompiled(hash, file, env) };
}

/** The validated form of a runbook whose text has this hash, with diagnostics naming `file`. */
export function readCompiled(contentHash: string, file: string, env = process.env): CompiledRunbook | undefined {
  const dir = cacheDir(env);
  if (!dir) return undefined;
  try {
    const path = entryPath(dir, contentHash);
    if (!trusted(path)) return undefined;
    const compiled = JSON.parse(readFileSync(path, 'utf8')) as CompiledRunbook;
    return { spec: compiled.spec, warnings: compiled.warnings.map((w) => ({ ...w, file })) };
  } catch {
    return undefined;
  }
}

/**
 * A cached runbook is executed as if it were the YAML file: only an entry this user wrote and
 * nobody else can change is used (a shared or loosened cache directory is validated around).
 */
function trusted(path: string): boolean {
  const { uid, mode } = statSync(path);
  const me = process.getuid?.();
  return (me === undefined || uid === me) && (mode & 0o022) === 0;
}

export function writeCompiled(contentHash: string, compiled: CompiledRunbook, env = process.env): void {
  const dir = cacheDir(env);
  if (!dir) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const target = entryPath(dir, contentHash);
    // Written aside then renamed, so that a concurrent reader never sees half a file.
    const temporary = `${target}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(compiled), { mode: 0o600 });
    renameSync(temporary, target);
    // Entries of earlier builds are never read again.
    for (const name of readdirSync(dir)) if (!name.startsWith(codeFingerprint())) rmSync(join(dir, name), { force: true });
  } catch {
    // A read-only or full home directory only costs the next start its speed.
  }
}
