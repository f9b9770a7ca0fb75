/** `runbook exec`, `runbook check`, `runbook resume` (engine in progress). */
import { RunbookError } from '../errors.js';
import type { CommandContext } from './context.js';

const pending = () => new RunbookError('usage', 'execution is not available in this build yet; use --dry-run');
export async function execCommand(_id: string, _opts: unknown, _ctx: CommandContext): Promise<void> {
  throw pending();
}
export async function checkCommand(_id: string, _opts: unknown, _ctx: CommandContext): Promise<void> {
  throw pending();
}
export async function resumeCommand(_id: string, _opts: unknown, _ctx: CommandContext): Promise<void> {
  throw pending();
}
