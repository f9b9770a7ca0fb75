/**
 * HTTP targets against a real HTTP server of the test's own: the OAuth token renewed before it
 * expires and once on a 401, the request path sent as the dry-run shows it (no `..` resolved
 * away), connect and response-header timeouts, and `auth: query` refused without printing it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';

const CLIENT_SECRET = 'cl1ent-S3cret';
let dir: string;
let server: Server;
let port: number;
let n = 0;

/** What the server saw and how it behaves; reset before each test. */
const api = {
  tokenLifetimeS: 3600,
  singleUseTokens: false,
  tokensIssued: 0,
  unauthorized: 0,
  seen: [] as string[],
  tokens: new Map<string, { expiresAt: number; used: boolean }>(),
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-http-'));
  server = createServer((req, res) => {
    const url = req.url ?? '';
    api.seen.push(`${req.method} ${url}`);
    if (url === '/oauth2/token') {
      const expected = 'Basic ' + Buffer.from(`runbook:${CLIENT_SECRET}`).toString('base64');
      if (req.headers.authorization !== expected) return void res.writeHead(401).end('{"error":"invalid_client"}');
      const token = `tok-${++api.tokensIssued}`;
      api.tokens.set(token, { expiresAt: Date.now() + api.tokenLifetimeS * 1000, used: false });
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: api.tokenLifetimeS }));
    }
    if (url.startsWith('/slow')) return; // never answers
    const token = api.tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    if (!token || token.expiresAt <= Date.now() || (api.singleUseTokens && token.used)) {
      api.unauthorized++;
      return void res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end('{"error":"invalid_token"}');
    }
    token.used = true;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
});
afterAll(() => {
  server?.closeAllConnections();
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  Object.assign(api, { tokenLifetimeS: 3600, singleUseTokens: false, tokensIssued: 0, unauthorized: 0, seen: [] });
  api.tokens.clear();
});

function files(
  steps: string,
  endpoint = `{ url: 'http://127.0.0.1:${port}/base/api', auth: { type: oauth2-client-credentials, tokenPath: /oauth2/token, clientId: runbook, clientSecret: { env: TEST_CLIENT_SECRET } } }`,
) {
  const id = ++n;
  const rb = join(dir, `rb-${id}.yaml`);
  writeFileSync(
    rb,
    `id: http-test-${id}
title: HTTP test ${id}
parameters:
  item: { type: string, default: '..' }
targets:
  api: { type: http }
steps:
${steps}`,
  );
  const inventory = join(dir, `inventory-${id}.yaml`);
  writeFileSync(inventory, `endpoints:\n  api: ${endpoint}\nroles:\n  api: api\n`);
  return { rb, inventory };
}

const exec = (f: { rb: string; inventory: string }, ...args: string[]) =>
  runCli(['exec', f.rb, '-i', f.inventory, '--yes', '--state-dir', join(dir, 'state'), ...args], {
    env: { TEST_CLIENT_SECRET: CLIENT_SECRET },
  });

describe('OAuth2 client credentials', () => {
  it('renews the token before expires_in runs out (a run that spans the token lifetime)', async () => {
    api.tokenLifetimeS = 2;
    const f = files(`  - { id: first, title: first, kind: http, target: api, path: /items/1 }
  - { id: pause, title: between windows, kind: wait, duration: 2500ms }
  - { id: second, title: second, kind: http, target: api, path: /items/2 }`);
    const r = await exec(f);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(api.tokensIssued).toBe(2);
    expect(api.unauthorized).toBe(0);
  });

  it('renews the token once on a 401 and sends the request again', async () => {
    api.singleUseTokens = true;
    const f = files(`  - { id: first, title: first, kind: http, target: api, path: /items/1 }
  - { id: second, title: second, kind: http, target: api, path: /items/2 }`);
    const r = await exec(f);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(api.tokensIssued).toBe(2);
    expect(api.unauthorized).toBe(1);
    expect(api.seen.filter((s) => s.startsWith('GET /base/api/items/2'))).toHaveLength(2);
  });

  it('does not loop on a 401 that a new token does not cure', async () => {
    api.tokenLifetimeS = 0;
    const f = files(`  - { id: first, title: first, kind: http, target: api, path: /items/1 }`);
    const r = await exec(f);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('HTTP 401, expected 200');
    expect(api.tokensIssued).toBe(2);
    expect(api.seen.filter((s) => s.startsWith('GET'))).toHaveLength(2);
  });
});

describe('request paths', () => {
  it('sends dot segments as the dry-run shows them: a value ".." encoded, a literal ".." kept', async () => {
    const f = files(`  - { id: value, title: value, kind: http, target: api, path: '/items/{{ params.item }}' }
  - { id: literal, title: literal, kind: http, target: api, path: '/items/..' }`);
    const dry = await exec(f, '--dry-run');
    expect(dry.stdout).toContain('GET /items/%2E%2E');
    expect(dry.stdout).toContain('GET /items/..');
    const r = await exec(f);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const gets = api.seen.filter((s) => s.startsWith('GET'));
    expect(gets).toEqual(['GET /base/api/items/%2E%2E', 'GET /base/api/items/..']);
  });
});

describe('timeouts', () => {
  it('gives up on response headers after responseTimeout, well inside the step timeout', async () => {
    const f = files(
      `  - { id: slow, title: slow, kind: http, target: api, timeout: 60s, path: /slow }`,
      `{ url: 'http://127.0.0.1:${port}', responseTimeout: 1s }`,
    );
    const started = Date.now();
    const r = await exec(f);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('no response headers within 1s');
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('gives up on a connection that is never accepted after connectTimeout', async () => {
    // A listening socket whose accept queue is full: the kernel drops new SYNs, connect() hangs.
    const blackhole: ChildProcess = spawn('python3', [
      '-c',
      `import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
fill = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(s.getsockname())
    except BlockingIOError: pass
    fill.append(c)
print(s.getsockname()[1], flush=True)
time.sleep(120)`,
    ]);
    try {
      const holePort = await new Promise<string>((resolve) => blackhole.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim())));
      const f = files(
        `  - { id: hang, title: hang, kind: http, target: api, timeout: 60s, path: /x }`,
        `{ url: 'http://127.0.0.1:${holePort}', connectTimeout: 1s }`,
      );
      const started = Date.now();
      const r = await exec(f);
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toContain('no connection within 1s');
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      blackhole.kill();
    }
  });
});

describe('auth: query', () => {
  it('is refused when the inventory is read (exit 3), and the password is never printed', async () => {
    const f = files(
      `  - { id: one, title: one, kind: http, target: api, path: /items/1 }`,
      `{ url: 'http://127.0.0.1:${port}', auth: { type: query, user: admin, password: { env: TEST_CLIENT_SECRET } } }`,
    );
    for (const args of [['--dry-run'], []]) {
      const r = await exec(f, ...args);
      expect(r.code, r.stdout + r.stderr).toBe(3);
      expect(r.stdout + r.stderr).toContain('auth type "query" puts the password in the URL');
      expect(r.stdout + r.stderr).not.toContain(CLIENT_SECRET);
    }
    expect(api.seen).toEqual([]);
  });
});

describe('ca file', () => {
  it('a FIFO as the CA file fails at once with its name, nothing hangs', async () => {
    const fifo = join(dir, 'ca-fifo');
    execFileSync('mkfifo', [fifo]);
    const f = files(
      `  - { id: one, title: one, kind: http, target: api, readOnly: true, path: /items/1 }`,
      `{ url: 'https://127.0.0.1:${port}', ca: ${fifo} }`,
    );
    const r = await runCli(['exec', f.rb, '-i', f.inventory, '--yes', '--state-dir', join(dir, 'state')], { timeoutMs: 30_000 });
    expect(r.timedOut).toBe(false);
    expect(r.stdout + r.stderr).toContain(`cannot read the CA file ${fifo}: a named pipe (FIFO), not a regular file`);
    expect(r.code).toBe(1);
    expect(api.seen).toEqual([]);
  });
});
