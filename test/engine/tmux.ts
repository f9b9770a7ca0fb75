/** Drives the CLI in a real terminal (tmux), the way an operator types at it. */
import { execFileSync } from 'node:child_process';
import { CLI } from '../cli/run-cli.js';

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A tmux server of this test process's own: test files run in parallel, and a server shared
 * with another file exits under this one when that file kills its last session.
 */
const SOCKET = ['-L', `runbook-test-${process.pid}`];
const tmux = (args: string[]) => execFileSync('tmux', [...SOCKET, ...args], { encoding: 'utf8' });

export class TerminalSession {
  private constructor(readonly name: string) {}

  static start(args: string[], env: Record<string, string>): TerminalSession {
    const name = `rb-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const envs = Object.entries({ NO_COLOR: '1', ...env })
      .map(([k, v]) => `${k}=${quote(v)}`)
      .join(' ');
    const command = `env -u CI ${envs} node ${quote(CLI)} ${args.map(quote).join(' ')}; echo "EXIT=$?"; sleep 120`;
    // Our own last session may just have ended, taking the server with it: start again then.
    for (let attempt = 1; ; attempt++) {
      try {
        tmux(['new-session', '-d', '-s', name, '-x', '220', '-y', '60', command]);
        break;
      } catch (error) {
        if (attempt === 3 || !/server exited unexpectedly/.test(String((error as { stderr?: unknown }).stderr))) throw error;
      }
    }
    return new TerminalSession(name);
  }

  screen(): string {
    return tmux(['capture-pane', '-p', '-J', '-S', '-500', '-t', this.name]);
  }

  send(...keys: string[]): void {
    tmux(['send-keys', '-t', this.name, ...keys]);
  }

  type(text: string): void {
    tmux(['send-keys', '-t', this.name, '-l', text]);
  }

  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = this.screen();
      if (pattern.test(screen)) return screen;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} on the terminal:\n${screen}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async exitCode(timeoutMs = 30_000): Promise<number> {
    const screen = await this.waitFor(/EXIT=\d+/, timeoutMs);
    return Number(/EXIT=(\d+)/.exec(screen)?.[1]);
  }

  kill(): void {
    try {
      tmux(['kill-session', '-t', this.name]);
    } catch {
      // Already gone.
    }
  }
}
