/**
 * SSH connections with ssh2: one per host, opened once, reused by every step, closed at the end.
 * Keys, ssh-agent or password; OpenSSH ~/.ssh/config as resolved by ssh-config.ts (jump chains
 * included); keepalive; host keys verified against known_hosts before anything is sent, on every hop.
 */
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { readOptionalConfigFile } from '../core/input-file.js';
import { RunbookError } from '../core/errors.js';
import { verifyHostKey } from './known-hosts.js';
import { describeEndpoint, type SshEndpoint } from './ssh-config.js';
import { PromptAnswerer } from './prompt-answerer.js';
import { secretLines, stageCommand, unstageCommand, type SecretVariable } from './secret-delivery.js';
import type { CommandOptions, CommandResult, CommandTarget } from './types.js';

export interface SshAuth {
  password?: string | undefined;
  passphrase?: string | undefined;
}

export class SshTarget implements CommandTarget {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private lost: Error | undefined;
  /** A command was started on this connection: from then on, losing it leaves an outcome unknown. */
  private used = false;
  /** Every client opened, ready or not, so close() also ends half-open handshakes. */
  private readonly clients = new Set<Client>();

  constructor(
    readonly name: string,
    private readonly endpoint: SshEndpoint,
    private readonly auth: SshAuth,
    private readonly acceptNewHostKeys: boolean,
    private readonly connectTimeoutMs: number,
    /** Credentials of a jump host, by its inventory name (none for a host only ssh_config knows). */
    private readonly jumpAuth: (name: string) => SshAuth = () => ({}),
  ) {}

  private config(endpoint: SshEndpoint, auth: SshAuth, onHostKeyError: (e: Error) => void): ConnectConfig {
    // The first identity file there is, else the agent, as OpenSSH does.
    let privateKey: string | undefined;
    for (const file of endpoint.identityFiles) {
      privateKey = readOptionalConfigFile(file, 'identity file');
      if (privateKey !== undefined) break;
    }
    return {
      host: endpoint.host,
      port: endpoint.port,
      username: endpoint.user,
      ...(privateKey ? { privateKey } : {}),
      ...(auth.passphrase ? { passphrase: auth.passphrase } : {}),
      ...(auth.password ? { password: auth.password } : {}),
      ...(process.env.SSH_AUTH_SOCK ? { agent: process.env.SSH_AUTH_SOCK } : {}),
      readyTimeout: this.connectTimeoutMs,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        try {
          const policy = {
            userFiles: endpoint.knownHosts.user,
            globalFiles: endpoint.knownHosts.global,
            acceptNew: this.acceptNewHostKeys,
          };
          verifyHostKey(policy, endpoint.name, endpoint.host, endpoint.port, key);
          return true;
        } catch (error) {
          onHostKeyError(error as Error);
          return false;
        }
      },
    };
  }

  private open(endpoint: SshEndpoint, auth: SshAuth, sock?: NodeJS.ReadableStream): Promise<Client> {
    return new Promise((resolve, reject) => {
      const client = new Client();
      this.clients.add(client);
      let hostKeyError: Error | undefined;
      // From the TCP connect on, not only once ready: the handshake is a dozen small writes, each
      // waiting on the server's reply, and Nagle's algorithm holds one back behind an unacknowledged
      // one until the server's delayed ACK (~40 ms per connection on loopback, more over a WAN).
      // Each write is in its own turn of the event loop, so corking would batch nothing.
      client.once('connect', () => client.setNoDelay(true));
      client.once('ready', () => resolve(client));
      // Permanent, not `once`: ssh2 may emit a second error after the first (a handshake that
      // timed out, then "Connection lost before handshake"), and an error without a listener
      // kills the process. The promise settles on the first; later ones have nothing to add.
      client.on('error', (error: Error & { level?: string }) => {
        if (hostKeyError) return reject(hostKeyError);
        const auth = error.level === 'client-authentication';
        reject(
          new RunbookError(
            'connection',
            `cannot connect to ${endpoint.name} (${describeEndpoint(endpoint)})${endpoint.name === this.name ? '' : ` on the way to ${this.name}`}: ${auth ? 'authentication failed' : error.message}`,
            {
              hint: auth
                ? 'Check the user, the key (identityFile or ssh-agent) and the authorized_keys on the host.'
                : 'Check that the host is up, the address and port, and the network path (VPN, ProxyJump).',
              cause: error,
            },
          ),
        );
      });
      client.connect({ ...this.config(endpoint, auth, (e) => (hostKeyError = e)), ...(sock ? { sock: sock as never } : {}) });
    });
  }

  connect(): Promise<Client> {
    if (this.lost) return Promise.reject(this.lost);
    this.connecting ??= (async () => {
      // A jump chain: each hop is reached through a channel forwarded by the one before it.
      let sock: NodeJS.ReadableStream | undefined;
      const hops = this.endpoint.jumps;
      for (const [i, hop] of hops.entries()) {
        const via = await this.open(hop, this.jumpAuth(hop.name), sock);
        const next = hops[i + 1] ?? this.endpoint;
        sock = await new Promise<ClientChannel>((resolve, reject) =>
          via.forwardOut('127.0.0.1', 0, next.host, next.port, (err, stream) =>
            err
              ? reject(
                  new RunbookError(
                    'connection',
                    `jump host ${hop.name} cannot reach ${next.name} (${next.host}:${next.port}) on the way to ${this.name}: ${err.message}`,
                    {
                      hint: 'Check that the jump host allows TCP forwarding (AllowTcpForwarding) and can reach the next hop.',
                      cause: err,
                    },
                  ),
                )
              : // The client opened over the channel reports its failures; before it is attached, or
                // when opening it fails first, an 'error' without a listener would kill the process.
                resolve(stream.on('error', () => undefined)),
          ),
        );
      }
      const client = await this.open(this.endpoint, this.auth, sock);
      client.on('close', () => {
        this.client = undefined;
        // Opened ahead (prepare) and closed before any command used it: the next use opens another.
        if (!this.used) return void (this.connecting = undefined);
        this.lost ??= new RunbookError('connection', `the SSH connection to ${this.name} was closed`, {
          hint: 'Check the host; the journal records which steps completed.',
        });
      });
      client.on('error', () => undefined);
      this.client = client;
      return client;
    })();
    return this.connecting;
  }

  /**
   * Opens the connection ahead of its first use, while the run is being set up (host key checked
   * as always, nothing sent but the handshake). A failure here is forgotten: the first command
   * opens the connection again and reports what goes wrong then, when the host may be up.
   */
  prepare(): void {
    this.connect().catch(() => {
      if (!this.used) this.connecting = undefined;
    });
  }

  async exec(command: string, options: CommandOptions): Promise<CommandResult> {
    this.used = true;
    const stagingDir = options.secrets?.stagingDir;
    if (options.secrets && stagingDir) return this.execWithStagedSecrets(command, options, options.secrets.variables, stagingDir);
    const client = await this.connect();
    return new Promise((resolve) => {
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      let cancelled = false;
      let connectionLost = false;
      let promptFailure: string | undefined;
      let settled = false;
      let channel: ClientChannel | undefined;
      let answerer: PromptAnswerer | undefined;
      let stopping: Promise<void> | undefined;
      // The remote shell says its process group first (its own line, taken out of the output).
      const group = new GroupReport();
      const finish = (exitCode: number | null, signal?: string) => {
        if (settled) return;
        if (stopping) {
          // Wait for the verdict on the remote process group before answering.
          void stopping.then(() => finishNow(exitCode, signal));
          return;
        }
        finishNow(exitCode, signal);
      };
      const finishNow = (exitCode: number | null, signal?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal.removeEventListener('abort', onAbort);
        client.removeListener('close', onConnectionClosed);
        answerer?.dispose();
        resolve({
          exitCode,
          signal,
          stdout,
          stderr,
          timedOut,
          cancelled,
          ...(connectionLost ? { connectionLost } : {}),
          promptFailure,
          ...(answerer ? { answered: answerer.answered } : {}),
        });
      };
      const stop = () => {
        if (stopping) return;
        const pgid = group.pgid;
        stopping = (pgid === null ? Promise.resolve() : this.stopGroup(client, pgid).then((verdict) => void (stderr += verdict))).then(
          () => {
            try {
              channel?.signal('KILL');
            } catch {
              // Not every server accepts signals; closing the channel ends the command's session.
            }
            channel?.close();
          },
        );
        void stopping.then(() => setTimeout(() => finishNow(null), 2000).unref());
      };
      const timer = setTimeout(() => {
        timedOut = true;
        stop();
      }, options.timeoutMs);
      const onAbort = () => {
        cancelled = true;
        stop();
      };
      const onConnectionClosed = () => {
        connectionLost = true;
        const where = group.pgid === null ? '' : ` (process group ${group.pgid} on ${this.name} may still be running)`;
        stderr += `\n[runbook] the SSH connection to ${this.name} was lost while the command ran; its outcome is unknown${where}\n`;
        stopping = undefined;
        finishNow(null);
      };
      options.signal.addEventListener('abort', onAbort, { once: true });
      client.once('close', onConnectionClosed);
      const pty = options.pty ? { term: 'dumb', rows: 40, cols: 200 } : undefined;
      client.exec(group.wrap(command), pty ? { pty } : {}, (error, stream) => {
        if (error) {
          stderr += `[runbook] cannot start the command: ${error.message}\n`;
          return finish(null);
        }
        channel = stream;
        if (options.pty) {
          answerer = new PromptAnswerer(
            options.pty.answers,
            options.pty.unexpectedPromptAfterMs,
            (text) => stream.write(text),
            (prompt) => {
              promptFailure = `unexpected prompt, no answer configured: "${prompt}"`;
              stop();
            },
          );
        }
        // On a pseudo-terminal both streams arrive as one: the group line comes on stdout then.
        const reportStream = options.pty ? 'stdout' : 'stderr';
        const onText = (name: 'stdout' | 'stderr', raw: string) => {
          const text = name === reportStream ? group.take(raw) : raw;
          if (!text) return;
          if (name === 'stdout') stdout += text;
          else stderr += text;
          options.onOutput?.(name, text);
          if (name === 'stdout') answerer?.feed(text);
        };
        stream.on('data', (chunk: Buffer) => onText('stdout', chunk.toString('utf8')));
        stream.stderr.on('data', (chunk: Buffer) => onText('stderr', chunk.toString('utf8')));
        stream.on('exit', (code: number | null, signal?: string) => {
          stream.once('close', () => finish(code ?? null, signal));
        });
        // A session that ends without an exit status nor a stop of ours: sshd or the host went
        // away under the command, so whether it took effect is unknown.
        stream.on('close', () =>
          setImmediate(() => {
            if (!settled && !timedOut && !cancelled && promptFailure === undefined) connectionLost = true;
            finish(null);
          }),
        );
        // The secret values first (the command's prelude reads them), then the step's own input.
        const input = (options.secrets && !options.pty ? secretLines(options.secrets.variables) : '') + (options.stdin ?? '');
        if (input || options.stdin !== undefined) stream.end(input);
        else if (!options.pty) stream.end();
      });
    });
  }

  /**
   * A pseudo-terminal session's input is the terminal, which echoes: its secret values are staged
   * in a 0600 file (0700 directory) by a session of their own, read and removed by the command's
   * prelude, and removed here in any case once the command ended.
   */
  private async execWithStagedSecrets(
    command: string,
    options: CommandOptions,
    variables: SecretVariable[],
    stagingDir: string,
  ): Promise<CommandResult> {
    const { timeoutMs, signal } = options;
    const staged = await this.exec(stageCommand(stagingDir), { stdin: secretLines(variables), timeoutMs, signal });
    if (staged.exitCode !== 0) {
      return { ...staged, stderr: `[runbook] cannot stage the secret values for the terminal session: ${staged.stderr}` };
    }
    const { secrets: _staged, ...rest } = options;
    try {
      return await this.exec(command, rest);
    } finally {
      await this.exec(unstageCommand(stagingDir), { timeoutMs: 10_000, signal: new AbortController().signal }).catch(() => undefined);
    }
  }

  /**
   * Stops a remote command for good: its whole process group (sshd signals only the shell), TERM
   * first, KILL after 5 s, through sudo where the group holds another user's processes. Says
   * whether it is gone or may still be running, and where.
   */
  private async stopGroup(client: Client, pgid: number): Promise<string> {
    const script = stopGroupScript(pgid);
    const out = await new Promise<string>((resolve) => {
      client.exec(script, (error, stream) => {
        if (error) return resolve('');
        let text = '';
        stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
        stream.stderr.on('data', () => undefined);
        stream.on('close', () => resolve(text));
        stream.end();
      });
    });
    if (out.includes('stopped')) return `\n[runbook] stopped the remote command on ${this.name} (process group ${pgid})\n`;
    return `\n[runbook] the remote command may still be running on ${this.name} (process group ${pgid}); check with: ps -o pid,args -g ${pgid}, stop it with: kill -KILL -- -${pgid}\n`;
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.end();
    this.clients.clear();
  }
}

/**
 * The remote shell's process group. sshd makes the shell of every session a session (and group)
 * leader, so `$$` names the group of everything the command starts; the shell prints it on a line
 * of its own before the command, and the line is taken out of what the operator sees.
 */
export class GroupReport {
  pgid: number | null = null;
  private head = '';
  private done = false;

  wrap(command: string): string {
    return `printf 'RUNBOOK_PGID=%s\\n' "$$" >&2; ${command}`;
  }

  /** Takes the report out of the stream's first text; returns what remains to show. */
  take(text: string): string {
    if (this.done) return text;
    this.head += text;
    const match = /^(?:\r?\n)*RUNBOOK_PGID=(\d+)\r?\n/.exec(this.head);
    if (match) {
      this.done = true;
      this.pgid = Number(match[1]);
      return this.head.slice(match[0].length);
    }
    if (this.head.includes('\n') || this.head.length > 64) {
      // Not there (a shell that does not print it): show everything as it came.
      this.done = true;
      return this.head;
    }
    return '';
  }
}

/** POSIX sh: TERM the group, KILL it after 5 s, try through sudo -n; prints stopped or running. */
export function stopGroupScript(pgid: number): string {
  const g = String(Math.trunc(pgid));
  return [
    `alive() { ps -e -o pgid= 2>/dev/null | awk -v g=${g} '$1 == g { f = 1 } END { exit !f }'; }`,
    `kill -TERM -- -${g} 2>/dev/null`,
    `i=0; while alive && [ $i -lt 5 ]; do sleep 1; i=$((i+1)); done`,
    `if alive; then kill -KILL -- -${g} 2>/dev/null; sleep 1; fi`,
    `if alive; then sudo -n kill -KILL -- -${g} 2>/dev/null; sleep 1; fi`,
    `if alive; then echo running; else echo stopped; fi`,
  ].join('\n');
}
