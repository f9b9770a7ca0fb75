/**
 * HTTP(S) endpoints (appliance APIs). TLS is verified by default, with an optional CA file;
 * credentials come from secrets: basic, bearer, OAuth2 client credentials, or query parameters.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { RunbookError } from '../errors.js';
import type { EndpointEntry } from '../runbook/inventory.js';
import type { HttpRequest, HttpResult, HttpTarget } from './types.js';

export class HttpEndpoint implements HttpTarget {
  private token: string | undefined;
  private readonly ca: string | undefined;

  constructor(
    readonly name: string,
    private readonly entry: EndpointEntry,
    private readonly secret: (field: string) => string | undefined,
  ) {
    this.ca = entry.ca ? readFileSync(entry.ca, 'utf8') : undefined;
  }

  private send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<HttpResult> {
    const options: RequestOptions = {
      method,
      headers: {
        'user-agent': 'runbook',
        ...headers,
        ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
      },
      timeout: timeoutMs,
      signal,
      ...(url.protocol === 'https:' ? { ca: this.ca, rejectUnauthorized: !this.entry.insecure } : {}),
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, options, (res) => {
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
      req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)}s`)));
      req.on('error', (error) =>
        reject(
          new RunbookError('connection', `request to ${this.name} (${url.origin}) failed: ${error.message}`, {
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

  private async authHeaders(
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<{ headers: Record<string, string>; query: Record<string, string> }> {
    const auth = this.entry.auth;
    const need = (field: string) => {
      const v = this.secret(field);
      if (v === undefined) throw new RunbookError('invalid', `no ${field} for endpoint ${this.name}`);
      return v;
    };
    if (!auth) return { headers: {}, query: {} };
    if (auth.type === 'basic')
      return { headers: { authorization: 'Basic ' + Buffer.from(`${auth.user}:${need('password')}`).toString('base64') }, query: {} };
    if (auth.type === 'bearer') return { headers: { authorization: `Bearer ${need('token')}` }, query: {} };
    if (auth.type === 'query') return { headers: {}, query: { [auth.userParam]: auth.user, [auth.passwordParam]: need('password') } };
    if (!this.token) {
      const url = new URL(auth.tokenPath, this.entry.url);
      const basic = Buffer.from(`${auth.clientId}:${need('clientSecret')}`).toString('base64');
      const res = await this.send(
        'POST',
        url,
        { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        'grant_type=client_credentials',
        timeoutMs,
        signal,
      );
      const token = res.status === 200 ? (JSON.parse(res.body) as { access_token?: string }).access_token : undefined;
      if (!token)
        throw new RunbookError('connection', `OAuth token request to ${this.name} failed: HTTP ${res.status}`, {
          hint: 'Check the API client id and secret.',
        });
      this.token = token;
    }
    return { headers: { authorization: `Bearer ${this.token}` }, query: {} };
  }

  async request(req: HttpRequest): Promise<HttpResult> {
    const auth = await this.authHeaders(req.timeoutMs, req.signal);
    const url = new URL(req.path.replace(/^\//, ''), this.entry.url.endsWith('/') ? this.entry.url : this.entry.url + '/');
    for (const [k, v] of Object.entries({ ...req.query, ...auth.query })) url.searchParams.append(k, v);
    return this.send(req.method, url, { ...req.headers, ...auth.headers }, req.body, req.timeoutMs, req.signal);
  }
}
