/**
 * SSH connections with ssh2: one per host, opened once, reused by every step, closed at the end.
 * Keys, ssh-agent or password; OpenSSH ~/.ssh/config as resolved by ssh-config.ts (jump chains
 * included); keepalive; host keys verified against known_hosts before anything is sent, on every hop.
 */
import { readFileSync } from 'node:fs';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { RunbookError } from '../errors.js';
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
    let privateKey: Buffer | undefined;
    for (const file of endpoint.identityFiles) {
      try {
        privateKey = readFileSync(file);
        break;
      } catch {
        // Try the next identity file, then the agent, as OpenSSH does.
      }
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
      client.once('ready', () => {
        // Without this, Nagle's algorithm holds each short request back ~40 ms per round trip.
        client.setNoDelay(true);
        resolve(client);
      });
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
              : resolve(stream),
          ),
        );
      }
      const client = await this.open(this.endpoint, this.auth, sock);
      client.on('close', () => {
        this.lost ??= new RunbookError('connection', `the SSH connection to ${this.name} was closed`, {
          hint: 'Check the host; the journal records which steps completed.',
        });
        this.client = undefined;
      });
      client.on('error', () => undefined);
      this.client = client;
      return client;
    })();
    return this.connecting;
  }

  async exec(command: string, options: CommandOptions): Promise<CommandResult> {
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
      const finish = (exitCode: number | null, signal?: string) => {
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
        try {
          channel?.signal('KILL');
        } catch {
          // Not every server accepts signals; closing the channel ends the command's session.
        }
        channel?.close();
        setTimeout(() => finish(null), 2000).unref();
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
        stderr += `\n[runbook] the SSH connection to ${this.name} was lost while the command ran; its outcome is unknown\n`;
        finish(null);
      };
      options.signal.addEventListener('abort', onAbort, { once: true });
      client.once('close', onConnectionClosed);
      const pty = options.pty ? { term: 'dumb', rows: 40, cols: 200 } : undefined;
      client.exec(command, pty ? { pty } : {}, (error, stream) => {
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
            (message) => {
              promptFailure = message;
              stop();
            },
          );
        }
        stream.on('data', (chunk: Buffer) => {
          const text = chunk.toString('utf8');
          stdout += text;
          options.onOutput?.('stdout', text);
          answerer?.feed(text);
        });
        stream.stderr.on('data', (chunk: Buffer) => {
          const text = chunk.toString('utf8');
          stderr += text;
          options.onOutput?.('stderr', text);
        });
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

  async close(): Promise<void> {
    for (const client of this.clients) client.end();
    this.clients.clear();
  }
}
