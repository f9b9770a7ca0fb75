/** `runbook show`: the procedure as a document an operator can read before the window. */
import type { ChalkInstance } from 'chalk';
import type { Plan } from '../planner/plan-types.js';
import type { RunbookSpec } from '../runbook/schema.js';
import { describeType } from '../runbook/params.js';
import { renderPlan } from './render-plan.js';

export function renderRunbookDocument(spec: RunbookSpec, plan: Plan, c: ChalkInstance): string {
  const out: string[] = [c.bold(`${spec.title}`), c.dim(`${spec.id} v${spec.version}`)];
  if (spec.description) out.push('', spec.description.trim());
  if (spec.source) out.push('', `Source: ${spec.source.document}${spec.source.file ? ` (${spec.source.file})` : ''}`);
  for (const a of spec.appliesTo ?? []) out.push(`Applies to: ${a.product} ${a.versions}`);
  const params = Object.entries(spec.parameters);
  if (params.length) {
    out.push('', c.bold('Parameters'));
    for (const [name, p] of params) {
      const extra = [
        describeType(p),
        p.default !== undefined ? `default ${JSON.stringify(p.default)}` : 'required',
        p.env ? `env ${p.env}` : '',
      ].filter(Boolean);
      out.push(`  ${name} (${extra.join(', ')})${p.description ? `: ${p.description}` : ''}`);
    }
  }
  const roles = Object.entries(spec.targets);
  if (roles.length) {
    out.push('', c.bold('Target roles'));
    for (const [name, t] of roles) out.push(`  ${name} (${t.type})${t.description ? `: ${t.description}` : ''}`);
  }
  out.push('', renderPlan(plan, c));
  return out.join('\n');
}
