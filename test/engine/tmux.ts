/** Drives the CLI in a real terminal (tmux), the way an operator types at it. */
import { execFileSync } from 'node:child_process';
import { CLI } from './cli-runner.js';

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export class TerminalSession {
  private constructor(readonly name: string) {}

  static start(args: string[], env: Record<string, string>): TerminalSession {
    const name = `rb-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const envs = Object.entries({ NO_COLOR: '1', ...env })
      .map(([k, v]) => `${k}=${quote(v)}`)
      .join(' ');
    const command = `env -u CI ${envs} node ${quote(CLI)} ${args.map(quote).join(' ')}; echo "EXIT=$?"; sleep 120`;
    execFileSync('tmux', ['new-session', '-d', '-s', name, '-x', '220', '-y', '60', command]);
    return new TerminalSession(name);
  }

  screen(): string {
    return execFileSync('tmux', ['capture-pane', '-p', '-J', '-S', '-500', '-t', this.name], { encoding: 'utf8' });
  }

  send(...keys: string[]): void {
    execFileSync('tmux', ['send-keys', '-t', this.name, ...keys]);
  }

  type(text: string): void {
    execFileSync('tmux', ['send-keys', '-t', this.name, '-l', text]);
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
      execFileSync('tmux', ['kill-session', '-t', this.name]);
    } catch {
      // Already gone.
    }
  }
}
