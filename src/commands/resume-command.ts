/** `runbook resume <run-id>` (being built: see issue 5). */
import { RunbookError } from '../errors.js';
import type { CommandContext } from './context.js';

export async function resumeCommand(_runId: string, _options: unknown, _ctx: CommandContext): Promise<void> {
  throw new RunbookError('resume', 'resume is not available in this build yet', { hint: 'Use `runbook exec <id> --from <step>` after checking the journal.' });
}
