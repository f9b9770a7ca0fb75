/**
 * Loading a runbook: YAML with positions, the zod schema, then small rules the schema cannot
 * express (unique ids, references, regular expressions, parameter definitions). Returns every
 * problem with its file, line, column and field path; never throws on bad input.
 */
import { createHash } from 'node:crypto';
import type { Diagnostic } from '../core/errors.js';
import { runbookSchema, type ParameterSpec, type RunbookSpec } from './schema.js';
import { findPlaceholders, TemplateError } from '../core/template.js';
import { readRunbookText, writeCompiled } from './compiled-cache.js';
import {
  diagnosticAt,
  parseYamlText,
  readText,
  validateWithSchema,
  valueAt,
  type PathSegment,
  type YamlSource,
  type ZodIssueLike,
} from '../core/yaml-source.js';
import { stepKinds } from '../steps/registry.js';

export interface LoadedRunbook {
  spec: RunbookSpec;
  file: string;
  hash: string;
  source: YamlSource;
  warnings: Diagnostic[];
}

export function loadRunbookFile(file: string): { runbook?: LoadedRunbook; diagnostics: Diagnostic[] } {
  const read = readRunbookText(file);
  if ('diagnostic' in read) return { diagnostics: [read.diagnostic] };
  const { text, hash, compiled } = read;
  if (compiled) {
    const source = parsedOnDemand(file, text);
    return { runbook: { spec: compiled.spec, file, hash, source, warnings: compiled.warnings }, diagnostics: compiled.warnings };
  }
  const { source, diagnostics } = parseYamlText(file, text);
  if (!source) return { diagnostics };
  const { value, diagnostics: schemaProblems } = validateWithSchema(source, runbookSchema, describeStepKindIssue);
  if (!value) return { diagnostics: schemaProblems };
  const problems = checkRunbookRules(source, value);
  if (problems.some((d) => d.severity === 'error')) return { diagnostics: problems };
  writeCompiled(hash, { spec: value, warnings: problems });
  return { runbook: { spec: value, file, hash, source, warnings: problems }, diagnostics: problems };
}

/** The stages of a runbook's validation, in order: each needs the one before it to pass. */
export const RUNBOOK_STAGES = ['YAML syntax', 'schema', 'rules, references and templates'] as const;

/** Where the validation of a runbook had to stop, and the stages after that point it skipped. */
export type RunbookStop = { at: 'file' | 'yaml' | 'schema'; reason: string };

/**
 * For the commands that report every stage's problems at once: goes as far as the file allows.
 * When the schema's only complaints are unknown fields (typos), the runbook without those fields
 * goes on to the rules here and to the caller's symbolic plan (references, templates); so does a
 * runbook whose rules fail (a duplicate id). The runbook returned then comes with errors in its
 * diagnostics and must not be run. Without a runbook, `stop` says which stage stopped it.
 */
export function loadRunbookForValidation(file: string): { runbook?: LoadedRunbook; diagnostics: Diagnostic[]; stop?: RunbookStop } {
  const strict = loadRunbookFile(file);
  if (strict.runbook) return strict;
  const { text } = readText(file);
  if (text === undefined) return { ...strict, stop: { at: 'file', reason: 'the file cannot be read' } };
  const source = parseYamlText(file, text).source;
  if (!source) return { ...strict, stop: { at: 'yaml', reason: 'the YAML does not parse' } };
  const schemaStop = { ...strict, stop: { at: 'schema', reason: 'the schema errors come first' } } as const;
  const data: unknown = source.doc.toJS();
  const first = runbookSchema.safeParse(data);
  const issues = first.success ? [] : (first.error.issues as ZodIssueLike[]);
  if (issues.some((i) => i.code !== 'unrecognized_keys')) return schemaStop;
  for (const issue of issues) {
    const holder = valueAt(data, issue.path as PathSegment[]);
    if (holder && typeof holder === 'object') for (const key of issue.keys ?? []) delete (holder as Record<string, unknown>)[key];
  }
  const second = runbookSchema.safeParse(data);
  if (!second.success) return schemaStop;
  const hash = createHash('sha256').update(text).digest('hex');
  const rules = checkRunbookRules(source, second.data);
  const schemaErrors = issues.length ? strict.diagnostics : [];
  return { runbook: { spec: second.data, file, hash, source, warnings: [] }, diagnostics: [...schemaErrors, ...rules] };
}

/** The stages a stop skipped, for a report: after YAML syntax, the schema and the rest. */
export function skippedAfter(stop: RunbookStop): Array<{ stage: string; reason: string }> {
  const from = { file: 0, yaml: 1, schema: 2 }[stop.at];
  return RUNBOOK_STAGES.slice(from).map((stage) => ({ stage: `runbook ${stage}`, reason: stop.reason }));
}

/**
 * The YAML document of a runbook loaded from the cache, parsed only if something asks for a
 * position (a planning error): the text is the one that was validated, so it parses.
 */
function parsedOnDemand(file: string, text: string): YamlSource {
  let parsed: YamlSource | undefined;
  const parse = (): YamlSource => {
    parsed ??= parseYamlText(file, text).source;
    if (!parsed) throw new Error(`${file} no longer parses although its validated form was cached`);
    return parsed;
  };
  return {
    file,
    text,
    get doc() {
      return parse().doc;
    },
    get lines() {
      return parse().lines;
    },
  };
}

const kindNames = stepKinds.map((k) => k.kind);

/** An unknown step kind gets a plain message instead of one error per union member. */
function describeStepKindIssue(issue: ZodIssueLike, data: unknown): string | undefined {
  const path = issue.path.filter((p): p is PathSegment => typeof p === 'string' || typeof p === 'number');
  const last = path[path.length - 1];
  if (last === 'kind' && issue.code === 'invalid_union') {
    const found = valueAt(data, path);
    const names =
      path[0] === 'preconditions' || path.includes('verify') || path.includes('check') || path.includes('until')
        ? ['ssh', 'sql', 'http', 'local']
        : kindNames;
    return found === undefined
      ? `required field "kind" is missing (expected one of ${names.join(', ')})`
      : `unknown step kind ${JSON.stringify(found)}; expected one of ${names.join(', ')}`;
  }
  return undefined;
}

function checkRunbookRules(source: YamlSource, rb: RunbookSpec): Diagnostic[] {
  const problems: Diagnostic[] = [];
  const error = (path: PathSegment[], message: string) => problems.push(diagnosticAt(source, path, message));

  const seen = new Map<string, string>();
  for (const section of ['steps', 'rollback'] as const) {
    rb[section].forEach((step, i) => {
      const other = seen.get(step.id);
      if (other) error([section, i, 'id'], `duplicate step id "${step.id}" (also at ${other})`);
      else seen.set(step.id, `${section}[${i}]`);
    });
  }
  const rollbackIds = new Set(rb.rollback.map((s) => s.id));
  rb.steps.forEach((step, i) => {
    if (typeof step.onFailure === 'object') {
      step.onFailure.rollback.forEach((id, j) => {
        if (!rollbackIds.has(id))
          error(['steps', i, 'onFailure', 'rollback', j], `rollback step "${id}" is not defined in the "rollback" section`);
      });
    }
  });

  for (const [name, p] of Object.entries(rb.parameters)) checkParameter(p, ['parameters', name], error);

  walkStrings(rb, [], (text, path) => {
    const key = path[path.length - 1];
    if (typeof key === 'string' && ['matches', 'notMatches', 'prompt', 'removeLines', 'pattern', 'regex'].includes(key)) {
      try {
        // A {{ }} value stands for an escaped literal: check the pattern around it.
        new RegExp(text.replace(/\{\{[^}]*\}\}/g, 'x'));
      } catch (e) {
        error(path, `invalid regular expression: ${(e as Error).message}`);
      }
    }
    if (!text.includes('{{')) return;
    try {
      for (const p of findPlaceholders(text)) {
        if (p.raw)
          problems.push(
            diagnosticAt(
              source,
              path,
              `{{ ${p.path} | raw }} splices the value unquoted: make sure it cannot carry shell or SQL syntax`,
              'warning',
            ),
          );
      }
    } catch (e) {
      if (e instanceof TemplateError) error(path, e.message);
      else throw e;
    }
  });
  return problems;
}

function checkParameter(p: ParameterSpec, path: PathSegment[], error: (path: PathSegment[], message: string) => void): void {
  if (p.type === 'enum' && !p.values) error(path, 'an enum parameter needs "values"');
  if (p.type !== 'enum' && p.values) error([...path, 'values'], `"values" is only for enum parameters (this one is ${p.type})`);
  if (p.type === 'secret' && p.default !== undefined)
    error([...path, 'default'], 'a secret parameter cannot have a default: give it through "env" or a masked prompt');
  if (p.pattern !== undefined) {
    try {
      new RegExp(p.pattern);
    } catch (e) {
      error([...path, 'pattern'], `invalid regular expression: ${(e as Error).message}`);
    }
  }
  if (p.min !== undefined && p.max !== undefined && p.min > p.max) error([...path, 'min'], `min ${p.min} is greater than max ${p.max}`);
  if (p.default !== undefined && p.type !== 'secret') {
    const problem = checkParameterValue(p, p.default);
    if (problem) error([...path, 'default'], `default ${problem}`);
  }
}

/** Why `value` is not acceptable for parameter `p`, or undefined when it is. */
export function checkParameterValue(p: ParameterSpec, value: string | number | boolean): string | undefined {
  switch (p.type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return `${JSON.stringify(value)} is not an integer`;
      if (p.min !== undefined && value < p.min) return `${value} is below the minimum ${p.min}`;
      if (p.max !== undefined && value > p.max) return `${value} is above the maximum ${p.max}`;
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${JSON.stringify(value)} is not true or false`;
    case 'enum':
      return p.values?.includes(String(value)) ? undefined : `${JSON.stringify(value)} is not one of ${p.values?.join(', ')}`;
    default:
      if (typeof value !== 'string') return `${JSON.stringify(value)} is not a string`;
      if (p.pattern !== undefined && !new RegExp(`^(?:${p.pattern})$`).test(value))
        return `${JSON.stringify(value)} does not match /${p.pattern}/`;
      return undefined;
  }
}

function walkStrings(value: unknown, path: PathSegment[], visit: (text: string, path: PathSegment[]) => void): void {
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) value.forEach((v, i) => walkStrings(v, [...path, i], visit));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walkStrings(v, [...path, k], visit);
}
