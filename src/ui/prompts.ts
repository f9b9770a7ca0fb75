/**
 * Questions to the operator, through @inquirer/prompts. Loaded lazily: most commands never ask.
 * Callers only ask on a terminal; without one the engine fails instead of waiting.
 */
import type { ParameterSpec } from '../runbook/schema.js';

export async function askParameter(name: string, spec: ParameterSpec): Promise<string> {
  const prompts = await import('@inquirer/prompts');
  const message = `${name}${spec.description ? ` (${spec.description})` : ''}`;
  if (spec.type === 'enum') return prompts.select({ message, choices: (spec.values ?? []).map((v) => ({ value: v, name: v })) });
  if (spec.type === 'boolean') return String(await prompts.confirm({ message, default: false }));
  if (spec.type === 'secret') return prompts.password({ message, mask: '*' });
  return prompts.input({ message, required: true });
}
