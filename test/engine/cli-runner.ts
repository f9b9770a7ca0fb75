/** Runs the built CLI as a child process, the way an operator or CI would. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

export const CLI = join(process.cwd(), 'bin', 'runbook.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'node',
      [CLI, ...args],
      { env: { ...process.env, NO_COLOR: '1', CI: 'true', ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    child.stdin?.end();
  });
}
