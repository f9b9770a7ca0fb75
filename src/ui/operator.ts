/**
 * Confirmations and operator questions. On a terminal they use @inquirer/prompts (default No;
 * typed confirmation for destructive steps; Ctrl-C aborts). Without one, nothing ever waits:
 * --yes confirms ordinary steps, destructive steps also need --allow-destructive, manual and
 * prompt steps need pre-set answers, and anything else aborts with a clear message.
 */
import { RunbookError } from '../core/errors.js';
import type { Confirmer } from '../engine/executor.js';
import type { PlannedStep } from '../planner/plan-types.js';
import type { OperatorIO } from '../steps/types.js';
import { describeScope } from './step-scope.js';

/**
 * Inquirer marks every answered prompt with a green check, a refusal too: a neutral mark instead,
 * and the run's renderer says "refused" in red.
 */
const neutralTheme = { prefix: { idle: '?', done: '›' } };

export interface OperatorPolicy {
  interactive: boolean;
  yes: boolean;
  allowDestructive: boolean;
  /** Manual steps the operator attested on the command line (`--attest <step>`). */
  attested?: readonly string[];
  /** Called before a prompt is shown (to pause live output). */
  beforePrompt?: () => void;
}

function noTerminal(what: string, hint: string): RunbookError {
  return new RunbookError('aborted', `${what}, but there is no terminal to ask`, { hint });
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')) {
      throw new RunbookError('aborted', 'aborted at the prompt', {
        hint: 'Nothing more was run. The journal records where the run stopped.',
      });
    }
    throw error;
  }
}

export function createConfirmer(policy: OperatorPolicy): Confirmer {
  return {
    async confirm(step: PlannedStep, expected: string | null) {
      const typed = step.confirm.mode === 'typed';
      if (!policy.interactive) {
        if (typed && step.destructive && !(policy.yes && policy.allowDestructive)) {
          throw noTerminal(
            `step ${step.id} is destructive and needs a typed confirmation`,
            'Run it on a terminal, or pass both --yes and --allow-destructive if this run is meant to destroy without asking.',
          );
        }
        if (policy.yes) return { confirmed: true, by: 'flag' };
        throw noTerminal(`step ${step.id} needs a confirmation`, 'Pass --yes to confirm ordinary steps in a non-interactive run.');
      }
      if (!typed && policy.yes) return { confirmed: true, by: 'flag' };
      if (typed && policy.yes && policy.allowDestructive) return { confirmed: true, by: 'flag' };
      policy.beforePrompt?.();
      const prompts = await import('@inquirer/prompts');
      if (typed) {
        const answer = await guarded(() =>
          prompts.input({
            message: `Step ${step.id} (${step.title}) is ${step.destructive ? 'DESTRUCTIVE' : 'guarded'} and acts on ${describeScope(step.action)}. Type "${expected}" to run it (anything else aborts):`,
            theme: neutralTheme,
          }),
        );
        return { confirmed: answer.trim() === expected, by: 'operator' };
      }
      const yes = await guarded(() =>
        prompts.confirm({
          message: `Run step ${step.id}: ${step.title}? (on ${describeScope(step.action)})`,
          default: false,
          theme: neutralTheme,
        }),
      );
      return { confirmed: yes, by: 'operator' };
    },
  };
}

export function createOperatorIO(policy: OperatorPolicy): OperatorIO {
  return {
    async confirmDone(title, instructions, options) {
      if (options?.attest && policy.attested?.includes(title)) return true;
      if (options?.attest && !policy.interactive)
        throw noTerminal(
          `manual step ${title} must be attested by the operator (a pre-set answer or --yes does not count)`,
          `Run on a terminal, or attest it explicitly with --attest ${title} once it is true.`,
        );
      if (!policy.interactive)
        throw noTerminal(
          `manual step ${title} needs the operator`,
          `Run on a terminal, or pre-answer it with --answer ${title}=done for a rehearsal.`,
        );
      policy.beforePrompt?.();
      const prompts = await import('@inquirer/prompts');
      process.stdout.write(`\n${instructions.trim()}\n\n`);
      return guarded(() => prompts.confirm({ message: 'Done? (No aborts the run)', default: false }));
    },
    async ask(question, choices, defaultValue) {
      if (!policy.interactive)
        throw noTerminal(`a question needs an answer ("${question}")`, 'Pre-answer it with --answer <step>=<value>.');
      policy.beforePrompt?.();
      const prompts = await import('@inquirer/prompts');
      if (choices)
        return guarded(() =>
          prompts.select({
            message: question,
            choices: choices.map((c) => ({ value: c, name: c })),
            ...(defaultValue ? { default: defaultValue } : {}),
          }),
        );
      return guarded(() => prompts.input({ message: question, ...(defaultValue ? { default: defaultValue } : {}) }));
    },
    async retryOrAbort(message) {
      if (!policy.interactive) return 'abort';
      policy.beforePrompt?.();
      const prompts = await import('@inquirer/prompts');
      return guarded(() =>
        prompts.select({
          message: `${message}. Retry the check after fixing it, or abort?`,
          choices: [
            { value: 'retry' as const, name: 'retry the check' },
            { value: 'abort' as const, name: 'abort the run' },
          ],
        }),
      );
    },
  };
}

export async function askSecret(description: string): Promise<string> {
  const prompts = await import('@inquirer/prompts');
  return guarded(() => prompts.password({ message: `${description}:`, mask: '*' }));
}
