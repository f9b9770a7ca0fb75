/**
 * Templating: `{{ path }}` placeholders in commands, SQL, URLs and text.
 *
 * A placeholder is never spliced as text into a shell command or SQL statement: in a shell
 * command its value becomes one shell-quoted word, in SQL a bind parameter ($1, $2...). The
 * explicit `{{ path | raw }}` form splices the value as it is; `validate` warns wherever it is
 * used. Secrets stay symbolic in the plan (rendered `***`) and are resolved only when a step runs;
 * references to results of earlier steps are likewise resolved at run time.
 */

import { quoteShellWord } from './shell-quote.js';

/** How a value is embedded where it lands. */
/**
 * How a value is embedded: one shell word, as it is, URL-encoded, plain text, or inside a
 * regular-expression replacement (where `$` must stay literal).
 */
export type Encoding = 'shell' | 'raw' | 'url' | 'text' | 'replacement' | 'regex';

/** One piece of a rendered template. */
export type Part = { text: string } | { secret: string; encoding: Encoding } | { ref: string; encoding: Encoding };

/** A bind parameter of a SQL statement. */
export type BindValue = { value: string | number | boolean | null } | { secret: string } | { ref: string };

export type Scalar = string | number | boolean;

/** What a placeholder path resolves to at plan time. */
export type Resolved = { kind: 'value'; value: Scalar | Scalar[] } | { kind: 'secret'; name: string } | { kind: 'deferred'; ref: string };

/** Resolves a dotted path; undefined means the reference is not defined. */
export type Resolver = (path: string) => Resolved | undefined;

export interface Placeholder {
  path: string;
  raw: boolean;
  start: number;
  end: number;
}

export class TemplateError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'TemplateError';
  }
}

const placeholderPattern = /\{\{\s*([^}|]*?)\s*(?:\|\s*([a-z]+)\s*)?\}\}/g;
const pathPattern = /^[A-Za-z_][\w-]*(\.[\w-]+)*$/;

/** Finds every placeholder, checking its syntax. */
export function findPlaceholders(template: string): Placeholder[] {
  const found: Placeholder[] = [];
  for (const match of template.matchAll(placeholderPattern)) {
    const path = match[1] ?? '';
    const filter = match[2];
    const start = match.index;
    if (!pathPattern.test(path)) {
      throw new TemplateError(`"${match[0]}" is not a valid reference (expected e.g. {{ params.name }})`, start);
    }
    if (filter !== undefined && filter !== 'raw') {
      throw new TemplateError(`unknown filter "${filter}" in "${match[0]}" (the only filter is "raw")`, start);
    }
    found.push({ path, raw: filter === 'raw', start, end: start + match[0].length });
  }
  const stray = template.replace(placeholderPattern, '').indexOf('{{');
  if (stray >= 0) throw new TemplateError('unclosed "{{" (placeholders look like {{ params.name }})', stray);
  return found;
}

/**
 * The quoting state at each placeholder: a placeholder inside quotes would be quoted twice, so
 * the author is told to remove the quotes (the value is quoted for them).
 */
function quoteStateAt(template: string, offset: number, language: 'shell' | 'sql'): string | undefined {
  let quote: string | undefined;
  for (let i = 0; i < offset; i++) {
    const c = template[i];
    if (quote === undefined) {
      if (c === '\\' && language === 'shell') i++;
      else if (c === "'" || c === '"') quote = c;
      // Comments are not strings: an apostrophe in `-- don't` or `# don't` opens no quote.
      else if (
        (language === 'sql' && c === '-' && template[i + 1] === '-') ||
        (language === 'shell' && c === '#' && (i === 0 || /[\s;&|()]/.test(template[i - 1] ?? '')))
      )
        i = lineEnd(template, i) - 1;
      else if (language === 'sql' && c === '/' && template[i + 1] === '*') {
        const end = template.indexOf('*/', i + 2);
        i = end < 0 ? template.length : end + 1;
      }
    } else if (c === quote) {
      quote = undefined;
    } else if (c === '\\' && quote === '"' && language === 'shell') {
      i++;
    }
  }
  return quote;
}

function lineEnd(text: string, from: number): number {
  const end = text.indexOf('\n', from);
  return end < 0 ? text.length : end;
}

/** A literal inside a regular expression: every character matches itself. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function describeValue(value: Scalar | Scalar[], encoding: Encoding): string {
  const one = (v: Scalar): string => {
    const s = String(v);
    if (encoding === 'shell') return quoteShellWord(s);
    // A value "." or ".." would be a dot segment, which servers and proxies resolve away.
    if (encoding === 'url') return /^\.+$/.test(s) ? s.replace(/\./g, '%2E') : encodeURIComponent(s);
    if (encoding === 'replacement') return s.replace(/\$/g, '$$$$');
    if (encoding === 'regex') return escapeRegExp(s);
    return s;
  };
  if (!Array.isArray(value)) return one(value);
  // A list in a pattern matches any one of its values.
  if (encoding === 'regex') return `(?:${value.map(one).join('|')})`;
  return value.map(one).join(encoding === 'shell' ? ' ' : ',');
}

function undefinedReference(p: Placeholder): TemplateError {
  return new TemplateError(`undefined reference "{{ ${p.path} }}"`, p.start);
}

/** Renders a template for a shell command, a URL or plain text into parts. */
export function renderParts(template: string, resolve: Resolver, encoding: Exclude<Encoding, 'raw'>): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const p of findPlaceholders(template)) {
    if (encoding === 'shell' && !p.raw) {
      const quote = quoteStateAt(template, p.start, 'shell');
      if (quote) {
        throw new TemplateError(
          `{{ ${p.path} }} stands inside ${quote === "'" ? 'single' : 'double'} quotes: remove the quotes, the value is shell-quoted for you`,
          p.start,
        );
      }
    }
    if (p.start > last) parts.push({ text: template.slice(last, p.start) });
    last = p.end;
    const resolved = resolve(p.path);
    if (!resolved) throw undefinedReference(p);
    const as: Encoding = p.raw ? 'raw' : encoding;
    if (resolved.kind === 'value') parts.push({ text: describeValue(resolved.value, as) });
    else if (resolved.kind === 'secret') parts.push({ secret: resolved.name, encoding: as });
    else parts.push({ ref: resolved.ref, encoding: as });
  }
  if (last < template.length) parts.push({ text: template.slice(last) });
  return mergeText(parts);
}

function mergeText(parts: Part[]): Part[] {
  const merged: Part[] = [];
  for (const part of parts) {
    const prev = merged[merged.length - 1];
    if ('text' in part && prev && 'text' in prev) prev.text += part.text;
    else merged.push('text' in part ? { text: part.text } : part);
  }
  return merged;
}

export interface RenderedSql {
  text: string;
  binds: BindValue[];
}

/** Renders SQL: every placeholder becomes a bind parameter ($1...), `raw` ones are spliced. */
export function renderSql(template: string, resolve: Resolver): RenderedSql {
  const binds: BindValue[] = [];
  let text = '';
  let last = 0;
  for (const p of findPlaceholders(template)) {
    text += template.slice(last, p.start);
    last = p.end;
    const resolved = resolve(p.path);
    if (!resolved) throw undefinedReference(p);
    if (p.raw) {
      if (resolved.kind !== 'value') {
        throw new TemplateError(`{{ ${p.path} | raw }}: only plain values can be spliced into SQL`, p.start);
      }
      text += describeValue(resolved.value, 'raw');
      continue;
    }
    const quote = quoteStateAt(template, p.start, 'sql');
    if (quote) {
      throw new TemplateError(
        `{{ ${p.path} }} stands inside SQL quotes: remove the quotes, the value is passed as a bind parameter`,
        p.start,
      );
    }
    if (resolved.kind === 'value') {
      if (Array.isArray(resolved.value)) {
        throw new TemplateError(`{{ ${p.path} }} is a list: a SQL bind parameter takes one value`, p.start);
      }
      binds.push({ value: resolved.value });
    } else if (resolved.kind === 'secret') binds.push({ secret: resolved.name });
    else binds.push({ ref: resolved.ref });
    text += `$${binds.length}`;
  }
  text += template.slice(last);
  return { text, binds };
}

/** The text an operator reads: secrets as ***, deferred references as <steps.x.value>. */
export function displayParts(parts: readonly Part[]): string {
  return parts.map((p) => ('text' in p ? p.text : 'secret' in p ? '***' : `<${p.ref}>`)).join('');
}

export interface RuntimeValues {
  secret(name: string): string;
  ref(ref: string): Scalar;
}

/** The exact text that runs: secrets and step results resolved and encoded. */
export function materializeParts(parts: readonly Part[], values: RuntimeValues): string {
  return parts
    .map((p) => {
      if ('text' in p) return p.text;
      const raw = 'secret' in p ? values.secret(p.secret) : String(values.ref(p.ref));
      return describeValue(raw, p.encoding);
    })
    .join('');
}

/**
 * Action data with every step-result and run reference replaced by its value, for the record of
 * what ran (the report shows the real value, not `<steps.x.value>`). Secrets stay symbolic and a
 * reference without a value yet stays as it is.
 */
export function bindDeferred<T>(data: T, values: RuntimeValues): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    if (typeof o.ref === 'string' && Object.keys(o).every((k) => k === 'ref' || k === 'encoding')) {
      try {
        const value = values.ref(o.ref);
        return typeof o.encoding === 'string' ? { text: describeValue(value, o.encoding as Encoding) } : { value };
      } catch {
        return v;
      }
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
  };
  return walk(data) as T;
}

export function materializeBinds(binds: readonly BindValue[], values: RuntimeValues): Array<Scalar | null> {
  return binds.map((b) => ('value' in b ? b.value : 'secret' in b ? values.secret(b.secret) : values.ref(b.ref)));
}

export function isPlainText(parts: readonly Part[]): boolean {
  return parts.every((p) => 'text' in p);
}
