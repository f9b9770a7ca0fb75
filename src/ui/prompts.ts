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

export type UnknownOutcomeChoice = 'rerun' | 'done' | 'abort';

/**
 * Resume met a step without a recorded end and without a verification: the operator says what
 * happened to it. A closed prompt (Ctrl-C, end of input) aborts.
 */
export async function askUnknownOutcome(stepId: string, succeededSomewhere: boolean): Promise<UnknownOutcomeChoice> {
  const prompts = await import('@inquirer/prompts');
  try {
    return await prompts.select<UnknownOutcomeChoice>({
      message: `Step ${stepId} has no verification. What happened to it?`,
      choices: [
        {
          value: 'rerun',
          name: succeededSomewhere
            ? `it did not take effect: run it again on the targets without a recorded success`
            : 'it did not take effect: run it again',
        },
        { value: 'done', name: 'I checked: it is done, go on with the next step' },
        { value: 'abort', name: 'abort the run here' },
      ],
    });
  } catch {
    return 'abort';
  }
}

/** Asks the operator to type a confirmation; a closed prompt (Ctrl-C, end of input) gives ''. */
export async function askTyped(message: string): Promise<string> {
  const prompts = await import('@inquirer/prompts');
  try {
    return await prompts.input({ message });
  } catch {
    return '';
  }
}
