/** `runbook runs`, `runbook report` (journal in progress). */
import { RunbookError } from '../errors.js';
import type { CommandContext } from './context.js';

const pending = () => new RunbookError('usage', 'the journal is not available in this build yet');
export async function runsCommand(_opts: unknown, _ctx: CommandContext): Promise<void> {
  throw pending();
}
export async function reportCommand(_id: string, _opts: unknown, _ctx: CommandContext): Promise<void> {
  throw pending();
}
