/**
 * `when` conditions. Conditions on parameters are decided when planning; conditions on the
 * values of earlier steps (prompt answers, captured values) are left for run time and shown in
 * the dry-run as words.
 */
import type { Condition } from '../core/schema-parts.js';
import type { Scalar } from '../core/template.js';

export type Partial = boolean | Condition;

type Leaf = Exclude<Condition, { all: unknown } | { any: unknown } | { not: unknown }>;

function isLeaf(c: Condition): c is Leaf {
  return !('all' in c) && !('any' in c) && !('not' in c);
}

export function compareLeaf(leaf: Leaf, actual: Scalar | undefined): boolean {
  const same = (a: Scalar | undefined, b: Scalar) => a !== undefined && String(a) === String(b);
  if (leaf.equals !== undefined && !same(actual, leaf.equals)) return false;
  if (leaf.notEquals !== undefined && same(actual, leaf.notEquals)) return false;
  if (leaf.in !== undefined && !leaf.in.some((v) => same(actual, v))) return false;
  if (leaf.matches !== undefined && (actual === undefined || !new RegExp(leaf.matches).test(String(actual)))) return false;
  return true;
}

/** Decides what parameters decide; returns true, false or the condition left for run time. */
export function decideWithParameters(c: Condition, param: (name: string) => Scalar | undefined): Partial {
  if (isLeaf(c)) return c.param !== undefined ? compareLeaf(c, param(c.param)) : c;
  if ('not' in c) {
    const inner = decideWithParameters(c.not, param);
    return typeof inner === 'boolean' ? !inner : { not: inner };
  }
  const all = 'all' in c;
  const parts = (all ? c.all : c.any).map((x) => decideWithParameters(x, param));
  if (parts.includes(!all)) return !all;
  const left = parts.filter((p): p is Condition => typeof p !== 'boolean');
  if (left.length === 0) return all;
  if (left.length === 1 && left[0]) return left[0];
  return all ? { all: left } : { any: left };
}

export interface StepOutcome {
  status: 'succeeded' | 'failed' | 'skipped';
  value?: Scalar | undefined;
}

export function evaluateAtRunTime(c: Condition, step: (id: string) => StepOutcome | undefined): boolean {
  if (isLeaf(c)) {
    if (c.step === undefined) return true;
    const outcome = step(c.step);
    if (c.status !== undefined && outcome?.status !== c.status) return false;
    const hasComparison = c.equals !== undefined || c.notEquals !== undefined || c.in !== undefined || c.matches !== undefined;
    return hasComparison ? compareLeaf(c, outcome?.value) : c.status !== undefined || outcome !== undefined;
  }
  if ('not' in c) return !evaluateAtRunTime(c.not, step);
  if ('all' in c) return c.all.every((x) => evaluateAtRunTime(x, step));
  return c.any.some((x) => evaluateAtRunTime(x, step));
}

/** The condition in words, for the dry-run and the journal. */
export function describeCondition(c: Condition): string {
  if (isLeaf(c)) {
    const subject = c.param !== undefined ? `params.${c.param}` : `steps.${c.step}`;
    const tests: string[] = [];
    if (c.status !== undefined) tests.push(`${subject} ${c.status}`);
    if (c.equals !== undefined) tests.push(`${subject} == ${JSON.stringify(c.equals)}`);
    if (c.notEquals !== undefined) tests.push(`${subject} != ${JSON.stringify(c.notEquals)}`);
    if (c.in !== undefined) tests.push(`${subject} in [${c.in.map((v) => JSON.stringify(v)).join(', ')}]`);
    if (c.matches !== undefined) tests.push(`${subject} matches /${c.matches}/`);
    return tests.join(' and ') || `${subject} ran`;
  }
  if ('not' in c) return `not (${describeCondition(c.not)})`;
  const joined = ('all' in c ? c.all : c.any).map(describeCondition);
  return joined.length === 1 ? (joined[0] ?? '') : joined.map((j) => `(${j})`).join('all' in c ? ' and ' : ' or ');
}

/** Every condition leaf, for validation. */
export function conditionLeaves(c: Condition): Leaf[] {
  if (isLeaf(c)) return [c];
  if ('not' in c) return conditionLeaves(c.not);
  return ('all' in c ? c.all : c.any).flatMap(conditionLeaves);
}
