/**
 * YAML files with positions: parse, validate against a zod schema, and turn every problem into
 * a diagnostic naming the file, line, column and field path. Never throws on bad input.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type YAMLError } from 'yaml';
import { z } from 'zod';
import type { Diagnostic } from './errors.js';
import { readInputFile } from './input-file.js';
import { knownFieldsAt, type JsonSchema } from './schema-walk.js';
import { didYouMean } from './suggest.js';

export type PathSegment = string | number;

export interface YamlSource {
  file: string;
  text: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

export function readYamlSource(file: string): { source?: YamlSource; diagnostics: Diagnostic[] } {
  const { text, diagnostics } = readText(file);
  return text === undefined ? { diagnostics } : parseYamlText(file, text);
}

/** A runbook or inventory's text: a regular file of sane size in valid UTF-8 (input-file.ts). */
export function readText(file: string): { text?: string; diagnostics: Diagnostic[] } {
  const read = readInputFile(file);
  return read.diagnostic ? { diagnostics: [read.diagnostic] } : { text: read.text, diagnostics: [] };
}

/** Aliases a runbook may expand: plenty for `<<: *defaults`, far below an alias bomb. */
const MAX_ALIAS_COUNT = 100;

export function parseYamlText(file: string, text: string): { source?: YamlSource; diagnostics: Diagnostic[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const diagnostics: Diagnostic[] = doc.errors.map((e) => {
    const { offset, message } = explainYamlError(doc, text, e);
    const pos = lines.linePos(offset);
    return { severity: 'error', file, line: pos.line, column: pos.col, path: '', message: `YAML syntax: ${message}` };
  });
  if (diagnostics.length === 0) {
    const bomb = aliasExpansionProblem(doc);
    if (bomb) {
      const pos = lines.linePos(bomb.offset);
      diagnostics.push({ severity: 'error', file, line: pos.line, column: pos.col, path: '', message: bomb.message });
    }
  }
  if (diagnostics.length === 0 && (doc.contents === null || !isMap(doc.contents))) {
    diagnostics.push({
      severity: 'error',
      file,
      line: 1,
      column: 1,
      path: '',
      message: `expected a YAML mapping (key: value) at the top level, found ${doc.contents === null ? 'nothing (the file is empty)' : describeFound(doc.toJS())}`,
    });
  }
  return diagnostics.length ? { diagnostics } : { source: { file, text, doc, lines }, diagnostics };
}

/**
 * A document whose aliases expand beyond reason (a "billion laughs" alias bomb) is refused at
 * the first alias that expands too much, before anything converts the whole document.
 */
function aliasExpansionProblem(doc: Document.Parsed): { offset: number; message: string } | null {
  try {
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    return null;
  } catch (error) {
    if (!(error instanceof ReferenceError)) return { offset: 0, message: `YAML: ${firstLine((error as Error).message)}` };
    let at: { offset: number; name: string } | undefined;
    visit(doc, {
      Alias(_, alias) {
        try {
          (alias.resolve(doc) as Node | undefined)?.toJS(doc, { maxAliasCount: MAX_ALIAS_COUNT });
        } catch {
          at = { offset: alias.range?.[0] ?? 0, name: alias.source };
          return visit.BREAK;
        }
        return undefined;
      },
    });
    return {
      offset: at?.offset ?? 0,
      message: `YAML aliases expand too much${at ? ` (alias *${at.name})` : ''}: more than ${MAX_ALIAS_COUNT} alias expansions, the shape of an alias bomb; write the values out instead`,
    };
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** Names the duplicated key, and places an unclosed quote where it opens rather than at the end of the file. */
function explainYamlError(doc: Document.Parsed, text: string, e: YAMLError): { offset: number; message: string } {
  const message = firstLine(e.message);
  if (e.code === 'DUPLICATE_KEY') {
    const key = /^["']?([^"':\n]*)/.exec(text.slice(e.pos[0]))?.[1]?.trim();
    return { offset: e.pos[0], message: key ? `key "${key}" appears twice in the same mapping (keys must be unique)` : message };
  }
  if (e.code === 'MISSING_CHAR' && /quote/.test(message)) {
    let start: number | undefined;
    visit(doc, {
      Scalar(_, node) {
        if ((node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') && node.range && node.range[1] >= e.pos[0])
          start ??= node.range[0];
      },
    });
    if (start !== undefined) return { offset: start, message: `this quoted string is never closed (${message})` };
  }
  return { offset: e.pos[0], message };
}

export function formatPath(path: readonly PathSegment[]): string {
  return path.reduce<string>((out, seg) => (typeof seg === 'number' ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg), '');
}

/** Line and column of the node at `path`, or of its nearest existing parent. */
export function positionOf(source: YamlSource, path: readonly PathSegment[], key = false): { line: number; column: number } {
  for (let depth = path.length; depth >= 0; depth--) {
    const sub = path.slice(0, depth);
    const node = (sub.length ? source.doc.getIn(sub, true) : source.doc.contents) as Node | undefined;
    let offset = node?.range?.[0];
    if (key && depth === path.length && depth > 0) offset = keyOffset(source, sub) ?? offset;
    if (offset !== undefined) {
      const pos = source.lines.linePos(offset);
      return { line: pos.line, column: pos.col };
    }
  }
  return { line: 1, column: 1 };
}

function keyOffset(source: YamlSource, path: readonly PathSegment[]): number | undefined {
  const parent = path.length > 1 ? source.doc.getIn(path.slice(0, -1), true) : source.doc.contents;
  if (!isMap(parent)) return undefined;
  const last = path[path.length - 1];
  const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
  return pair && isScalar(pair.key) ? pair.key.range?.[0] : undefined;
}

export function diagnosticAt(
  source: YamlSource,
  path: readonly PathSegment[],
  message: string,
  severity: Diagnostic['severity'] = 'error',
): Diagnostic {
  return { severity, file: source.file, ...positionOf(source, path), path: formatPath(path), message };
}

/** Validates `data` with `schema`; returns the parsed value or diagnostics with positions. */
export function validateWithSchema<T>(
  source: YamlSource,
  schema: z.ZodType<T>,
  describeUnion: (issue: ZodIssueLike, data: unknown) => string | undefined = () => undefined,
): { value?: T; diagnostics: Diagnostic[] } {
  const data: unknown = source.doc.toJS();
  const result = schema.safeParse(data);
  if (result.success) return { value: result.data, diagnostics: [] };
  let jsonSchema: JsonSchema | undefined;
  const diagnostics = (result.error.issues as ZodIssueLike[]).map((issue) => {
    const path = issue.path.filter((p): p is PathSegment => typeof p === 'string' || typeof p === 'number');
    const message = describeUnion(issue, data) ?? describeIssue(issue, valueAt(data, path));
    if (issue.code === 'unrecognized_keys' && issue.keys?.[0] !== undefined) {
      jsonSchema ??= z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
      const hint = issue.keys.length === 1 ? didYouMean(issue.keys[0], knownFieldsAt(jsonSchema, data, path)) : '';
      return { ...diagnosticAt(source, [...path, issue.keys[0]], message + hint), ...positionOf(source, [...path, issue.keys[0]], true) };
    }
    return diagnosticAt(source, path, message);
  });
  return { diagnostics: dedupe(diagnostics) };
}

export interface ZodIssueLike {
  code: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  keys?: string[];
  values?: unknown[];
  errors?: ZodIssueLike[][];
  input?: unknown;
  origin?: string;
  minimum?: number | bigint;
}

export function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let current = data;
  for (const seg of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PathSegment, unknown>)[seg];
  }
  return current;
}

function describeFound(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (value === '') return 'an empty string';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

const typeWords: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  map: 'a mapping',
};

function expectedWords(expected: string | undefined): string {
  return expected === undefined ? 'a value' : (typeWords[expected] ?? expected);
}

/** What the members of a union expect when each fails on the value itself: "a string or a list". */
function unionAlternatives(issue: ZodIssueLike): string[] {
  const out: string[] = [];
  for (const branch of issue.errors ?? []) {
    const own = branch.filter((i) => i.path.length === 0);
    for (const i of own) {
      if (i.code === 'invalid_type') out.push(expectedWords(i.expected));
      else if (i.code === 'invalid_value') out.push(...(i.values ?? []).map((v) => JSON.stringify(v)));
    }
    if (own.length === 0 && branch.length) out.push('a mapping');
  }
  return [...new Set(out)];
}

function describeIssue(issue: ZodIssueLike, found: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return found === undefined
        ? `required field is missing (expected ${expectedWords(issue.expected)})`
        : `expected ${expectedWords(issue.expected)}, found ${describeFound(found)}`;
    case 'too_small':
      if (issue.origin === 'array')
        return `expected at least ${String(issue.minimum)} item${Number(issue.minimum) === 1 ? '' : 's'}, found ${describeFound(found)}`;
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return `expected a non-empty string, found ${describeFound(found)}`;
      return `${issue.message}${found === undefined ? '' : `, found ${describeFound(found)}`}`;
    case 'unrecognized_keys':
      return `unknown field${(issue.keys?.length ?? 0) > 1 ? 's' : ''} ${issue.keys?.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_value':
      return `expected one of ${issue.values?.map((v) => JSON.stringify(v)).join(', ')}, found ${describeFound(found)}`;
    case 'invalid_union': {
      const alternatives = unionAlternatives(issue);
      if (alternatives.length && found === undefined) return `required field is missing (expected ${alternatives.join(' or ')})`;
      if (alternatives.length) return `expected ${alternatives.join(' or ')}, found ${describeFound(found)}`;
      return `${issue.message.replace(/^Invalid input/, 'invalid value')}, found ${describeFound(found)}`;
    }
    default:
      return `${issue.message}${found === undefined ? '' : `, found ${describeFound(found)}`}`;
  }
}

function dedupe(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.line}:${d.column}:${d.path}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Finds the first scalar under `path` whose text contains `needle` (to place template errors). */
export function findScalarContaining(source: YamlSource, path: readonly PathSegment[], needle: string): PathSegment[] | undefined {
  const start = source.doc.getIn(path, true) as Node | undefined;
  const walk = (node: unknown, at: PathSegment[]): PathSegment[] | undefined => {
    if (isScalar(node)) return typeof node.value === 'string' && node.value.includes(needle) ? at : undefined;
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? (pair.key.value as string) : String(pair.key);
        const found = walk(pair.value, [...at, key]);
        if (found) return found;
      }
    }
    if (isSeq(node)) {
      for (const [i, item] of node.items.entries()) {
        const found = walk(item, [...at, i]);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walk(start, [...path]);
}
