/**
 * Transitional: the old signature of test/cli/run-cli.ts's `runCli`, kept only until the files
 * another engineer is editing this session are moved to it. Use test/cli/run-cli.ts.
 */
import { runCli as run, type CliResult } from '../cli/run-cli.js';

export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs?: number): Promise<CliResult> {
  return run(args, { env, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
}
