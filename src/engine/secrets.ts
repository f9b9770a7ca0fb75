/**
 * Secrets: read from the environment or a masked prompt when a run starts, handed to steps only
 * when they run, and replaced by *** in everything shown or written, even when a program echoes
 * them in its output.
 */
import { RunbookError } from '../core/errors.js';
import type { Plan } from '../planner/plan-types.js';

export const MASK = '***';

export class SecretStore {
  private readonly values = new Map<string, string>();
  private pattern: RegExp | null = null;

  set(name: string, value: string): void {
    this.values.set(name, value);
    const all = [...new Set(this.values.values())].filter((v) => v.length >= 2).sort((a, b) => b.length - a.length);
    this.pattern = all.length ? new RegExp(all.map(escape).join('|'), 'g') : null;
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  require(name: string): string {
    const v = this.values.get(name);
    if (v === undefined)
      throw new RunbookError('invalid', `secret ${name} has no value`, {
        hint: 'Set its environment variable or run on a terminal to be asked.',
      });
    return v;
  }

  redact(text: string): string {
    return this.pattern ? text.replace(this.pattern, MASK) : text;
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Reads every secret the plan needs; asks on a terminal for the missing ones, fails without one. */
export async function collectSecrets(
  plan: Plan,
  env: NodeJS.ProcessEnv,
  ask: ((description: string) => Promise<string>) | null,
): Promise<SecretStore> {
  const store = new SecretStore();
  const missing: string[] = [];
  for (const secret of plan.secrets) {
    const fromEnv = 'env' in secret.from ? env[secret.from.env] : undefined;
    if (fromEnv !== undefined) {
      store.set(secret.name, fromEnv);
      continue;
    }
    if (ask && ('prompt' in secret.from || 'orPrompt' in secret.from)) {
      store.set(secret.name, await ask(secret.description));
      continue;
    }
    missing.push('env' in secret.from ? `${secret.name} (set ${secret.from.env})` : `${secret.name} (asked on a terminal)`);
  }
  if (missing.length) {
    throw new RunbookError('invalid', `missing secret${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`, {
      hint: 'Export the environment variables named, or run on a terminal to be asked with a masked prompt. Nothing was run.',
    });
  }
  return store;
}
