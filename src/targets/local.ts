/**
 * Commands on the operator's machine, through execa and sh -c (the same shell text as the dry-run).
 * Secret values reach the shell in its environment, never in its argv.
 */
import { execa } from 'execa';
import type { CommandOptions, CommandResult, CommandTarget } from './types.js';

export class LocalTarget implements CommandTarget {
  readonly name = 'local';
  readonly secretDelivery = 'environment';

  async exec(command: string, options: CommandOptions): Promise<CommandResult> {
    const child = execa('sh', ['-c', command], {
      reject: false,
      input: options.stdin ?? '',
      env: Object.fromEntries((options.secrets?.variables ?? []).map((v) => [v.name, v.value])),
      timeout: options.timeoutMs,
      cancelSignal: options.signal,
      // Give a cancelled command 5 s to end after SIGTERM before SIGKILL.
      forceKillAfterDelay: 5000,
      stripFinalNewline: false,
      buffer: true,
    });
    child.stdout?.on('data', (chunk: Buffer) => options.onOutput?.('stdout', chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => options.onOutput?.('stderr', chunk.toString('utf8')));
    const result = await child;
    return {
      exitCode: typeof result.exitCode === 'number' ? result.exitCode : null,
      signal: result.signal ?? undefined,
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      timedOut: Boolean(result.timedOut),
      cancelled: Boolean(result.isCanceled),
    };
  }
}
