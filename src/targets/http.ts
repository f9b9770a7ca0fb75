/**
 * HTTP(S) endpoints (appliance APIs). TLS is verified by default, with an optional CA file;
 * credentials come from secrets: basic, bearer, or OAuth2 client credentials (the token renewed
 * before it expires and once on a 401). The request path is sent exactly as planned and shown:
 * never normalised (a `..` is not resolved away). Connecting and waiting for the response
 * headers each have their own timeout, inside the step's.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { readConfigFile } from '../core/input-file.js';
import { RunbookError } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import type { EndpointEntry } from '../inventory/inventory.js';
import type { HttpRequest, HttpResult, HttpTarget } from './types.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_RESPONSE_TIMEOUT_MS = 60_000;

interface Token {
  value: string;
  /** When to fetch a new one: ahead of its expiry, so a request never carries a stale token. */
  renewAt: number;
}

const seconds = (ms: number) => `${+(ms / 1000).toFixed(1)}s`;

export class HttpEndpoint implements HttpTarget {
  private token: Promise<Token> | undefined;
  private readonly ca: string | undefined;
  private readonly connectTimeoutMs: number;
  private readonly responseTimeoutMs: number;

  constructor(
    readonly name: string,
    private readonly entry: EndpointEntry,
    private readonly secret: (field: string) => string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.ca = entry.ca ? readConfigFile(entry.ca, 'CA file') : undefined;
    this.connectTimeoutMs = parseDuration(entry.connectTimeout ?? '') ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.responseTimeoutMs = parseDuration(entry.responseTimeout ?? '') ?? DEFAULT_RESPONSE_TIMEOUT_MS;
  }

  /** Sends `target` (path and query, as given: no URL normalisation) to the endpoint's origin. */
  private send(
    method: string,
    target: string,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<HttpResult> {
    const base = new URL(this.entry.url);
    const https = base.protocol === 'https:';
    const options: RequestOptions = {
      method,
      protocol: base.protocol,
      hostname: base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port || (https ? 443 : 80),
      path: target,
      headers: {
        'user-agent': 'runbook',
        ...headers,
        ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
      },
      timeout: timeoutMs,
      signal,
      ...(https ? { ca: this.ca, rejectUnauthorized: !this.entry.insecure } : {}),
    };
    const send = https ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let phase: NodeJS.Timeout | undefined;
      const giveUp = (ms: number, what: string) => {
        clearTimeout(phase);
        phase = setTimeout(() => req.destroy(new Error(`${what} within ${seconds(ms)}`)), ms);
      };
      const req = send(options, (res) => {
        clearTimeout(phase);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')])),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      });
      giveUp(this.connectTimeoutMs, 'no connection');
      req.on('socket', (socket) => {
        const connected = () => giveUp(this.responseTimeoutMs, 'no response headers');
        // A kept-alive socket is connected already.
        if (socket.connecting) socket.once('connect', connected);
        else connected();
      });
      req.on('close', () => clearTimeout(phase));
      req.on('timeout', () => req.destroy(new Error(`no answer within ${seconds(timeoutMs)}`)));
      req.on('error', (error) =>
        reject(
          new RunbookError('connection', `request to ${this.name} (${base.origin}) failed: ${error.message}`, {
            hint: /certificate|self.signed|CERT/i.test(error.message)
              ? 'TLS verification failed: give the CA file with "ca:" in the inventory.'
              : 'Check the URL and that the appliance is reachable.',
            cause: error,
          }),
        ),
      );
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  private need(field: string): string {
    const v = this.secret(field);
    if (v === undefined) throw new RunbookError('invalid', `no ${field} for endpoint ${this.name}`);
    return v;
  }

  /** The path of the endpoint's URL joined with a request path, as text (dot segments kept). */
  private target(path: string, query: Record<string, string>): string {
    const basePath = new URL(this.entry.url).pathname.replace(/\/$/, '');
    const search = new URLSearchParams(Object.entries(query)).toString();
    return `${basePath}/${path.replace(/^\//, '')}${search ? (path.includes('?') ? '&' : '?') + search : ''}`;
  }

  private async fetchToken(timeoutMs: number, signal: AbortSignal): Promise<Token> {
    const auth = this.entry.auth;
    if (auth?.type !== 'oauth2-client-credentials') throw new Error('no OAuth2 client credentials');
    const basic = Buffer.from(`${auth.clientId}:${this.need('clientSecret')}`).toString('base64');
    const asked = this.now();
    const res = await this.send(
      'POST',
      // An absolute token path is from the origin (as before); a relative one below the base URL.
      auth.tokenPath.startsWith('/') ? auth.tokenPath : this.target(auth.tokenPath, {}),
      { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      'grant_type=client_credentials',
      timeoutMs,
      signal,
    );
    let answer: { access_token?: unknown; expires_in?: unknown } = {};
    try {
      answer = res.status === 200 ? (JSON.parse(res.body) as typeof answer) : {};
    } catch {
      answer = {};
    }
    if (typeof answer.access_token !== 'string' || !answer.access_token)
      throw new RunbookError('connection', `OAuth token request to ${this.name} failed: HTTP ${res.status}`, {
        hint: 'Check the API client id and secret.',
      });
    // Renew a tenth of its lifetime (at most a minute) before it expires; without expires_in, on a 401 only.
    const lifetimeMs = Number(answer.expires_in) * 1000;
    const renewAt = lifetimeMs > 0 ? asked + lifetimeMs - Math.min(60_000, lifetimeMs / 10) : Infinity;
    return { value: answer.access_token, renewAt };
  }

  /** The current token, fetched once for concurrent requests, renewed ahead of its expiry. */
  private async bearer(timeoutMs: number, signal: AbortSignal, renew: boolean): Promise<string> {
    const current = this.token && (await this.token.catch(() => undefined));
    if (renew || !current || this.now() >= current.renewAt) {
      const fetching = this.fetchToken(timeoutMs, signal);
      this.token = fetching;
      fetching.catch(() => (this.token === fetching ? (this.token = undefined) : undefined));
      return (await fetching).value;
    }
    return current.value;
  }

  private async authHeaders(timeoutMs: number, signal: AbortSignal, renew = false): Promise<Record<string, string>> {
    const auth = this.entry.auth;
    if (!auth) return {};
    if (auth.type === 'basic') return { authorization: 'Basic ' + Buffer.from(`${auth.user}:${this.need('password')}`).toString('base64') };
    if (auth.type === 'bearer') return { authorization: `Bearer ${this.need('token')}` };
    // Refused when the inventory is validated; never sent.
    if (auth.type === 'query')
      throw new RunbookError('invalid', `endpoint ${this.name}: auth type "query" is refused (a password in a URL)`);
    return { authorization: `Bearer ${await this.bearer(timeoutMs, signal, renew)}` };
  }

  async request(req: HttpRequest): Promise<HttpResult> {
    const target = this.target(req.path, req.query);
    const attempt = async (renew: boolean) =>
      this.send(
        req.method,
        target,
        { ...req.headers, ...(await this.authHeaders(req.timeoutMs, req.signal, renew)) },
        req.body,
        req.timeoutMs,
        req.signal,
      );
    const first = await attempt(false);
    // A token the appliance no longer honours (revoked, restarted, expired early): renew it once.
    if (first.status === 401 && this.entry.auth?.type === 'oauth2-client-credentials') return attempt(true);
    return first;
  }
}
