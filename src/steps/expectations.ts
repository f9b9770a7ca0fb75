/** Checks shared by the step kinds: expected exit codes, text matches, captured values. */
import type { TextMatch } from '../core/schema-parts.js';
import { displayParts, isPlainText, type Part, type Scalar } from '../core/template.js';
import type { Renderer } from './types.js';

/** Returns why `text` fails `match`, or undefined when it passes. */
export function checkText(label: string, match: TextMatch | undefined, text: string): string | undefined {
  if (!match) return undefined;
  const trimmed = text.trim();
  if (match.equals !== undefined && trimmed !== match.equals) {
    return `${label} is ${JSON.stringify(clip(trimmed))}, expected ${JSON.stringify(match.equals)}`;
  }
  if (match.contains !== undefined && !text.includes(match.contains)) {
    return `${label} does not contain ${JSON.stringify(match.contains)}`;
  }
  if (match.notContains !== undefined && text.includes(match.notContains)) {
    return `${label} contains ${JSON.stringify(match.notContains)}`;
  }
  if (match.matches !== undefined && !new RegExp(match.matches, 'm').test(text)) {
    return `${label} does not match /${match.matches}/`;
  }
  if (match.notMatches !== undefined && new RegExp(match.notMatches, 'm').test(text)) {
    return `${label} matches /${match.notMatches}/`;
  }
  return undefined;
}

export function checkExitCode(expected: number | number[] | undefined, actual: number | null): string | undefined {
  const accepted = expected === undefined ? [0] : Array.isArray(expected) ? expected : [expected];
  if (actual !== null && accepted.includes(actual)) return undefined;
  return `exit code ${actual ?? 'none'}, expected ${accepted.join(' or ')}`;
}

/** The value a capture rule takes from text: first group of the regex, or the trimmed text. */
export function captureText(regex: string | undefined, text: string): Scalar | undefined {
  if (regex === undefined) return text.trim();
  const match = new RegExp(regex, 'm').exec(text);
  if (!match) return undefined;
  return match[1] ?? match[0];
}

export function clip(text: string, max = 200): string {
  return text.length > max ? text.slice(0, max) + '…' : text;
}

/** Describes a text match for the dry-run. */
export function describeTextMatch(label: string, match: TextMatch | undefined): string[] {
  if (!match) return [];
  return Object.entries(match).map(([how, value]) => `expect ${label} ${how} ${JSON.stringify(value)}`);
}

/** Keys whose value is a regular expression: a {{ }} value in them matches itself only. */
const patternKeys = new Set(['matches', 'notMatches']);

/**
 * Expected values may use {{ }} references (e.g. the release being installed). They are
 * rendered when planning into parts, shown as text in the dry-run and resolved when checked.
 * In a pattern (`matches`, `notMatches`) a value is regex-escaped: an IP 10.0.0.1 does not
 * match 10x0y0z1, and a value with "(" or "[" cannot break the pattern.
 */
export function renderExpectations<T>(value: T, render: Renderer, encoding: 'text' | 'regex' = 'text'): T {
  if (typeof value === 'string') {
    const parts = render.parts(value, encoding);
    return (isPlainText(parts) ? displayParts(parts) : { parts }) as T;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => renderExpectations(v, render, encoding)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, renderExpectations(v, render, patternKeys.has(k) ? 'regex' : 'text')]),
    ) as T;
  }
  return value;
}

function isParts(value: unknown): value is { parts: Part[] } {
  return Boolean(value && typeof value === 'object' && 'parts' in value && Array.isArray(value.parts));
}

/** Resolves the deferred parts of rendered expectations (or shows them, with `displayParts`). */
export function resolveExpectations<T>(value: T, text: (parts: Part[]) => string): T {
  if (isParts(value)) return text(value.parts) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => resolveExpectations(v, text)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveExpectations(v, text)])) as T;
  }
  return value;
}
