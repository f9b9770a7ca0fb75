/**
 * Tests of the fake Bomgar appliance pair (fixtures/fakes/bomgar), through node's https client
 * verifying TLS with the lab CA.
 */
import * as https from 'node:https';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBomgarPair, type ApplianceName, type BomgarPair } from '../../fixtures/fakes/bomgar/index.js';

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface ReqOpts {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  ca?: string | null;
  servername?: string;
  timeoutMs?: number;
}

function request(pair: BomgarPair, name: ApplianceName, path: string, o: ReqOpts = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(o.body));
    const req = https.request(
      {
        host: pair.address(name),
        port: pair.port(name),
        path,
        method: o.method ?? 'GET',
        headers,
        ca: o.ca === null ? undefined : (o.ca ?? pair.caCert),
        servername: o.servername,
        agent: false,
        timeout: o.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

const qs = (p: Record<string, string>): string => new URLSearchParams(p).toString();

function command(pair: BomgarPair, name: ApplianceName, params: Record<string, string>, token?: string): Promise<Res> {
  const auth: Record<string, string> = token ? {} : { username: pair.credentials.user.username, password: pair.credentials.user.password };
  return request(pair, name, `/api/command?${qs({ ...params, ...auth })}`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
}

const tag = (xml: string, t: string): string | undefined => new RegExp(`<${t}(?:\\s[^>]*)?>([^<]*)</${t}>`).exec(xml)?.[1];

async function token(pair: BomgarPair, name: ApplianceName, id: string, secret: string): Promise<Res> {
  return request(pair, name, '/oauth2/token', {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
}

async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('fake Bomgar appliance pair', () => {
  let pair: BomgarPair;

  beforeAll(async () => {
    pair = await startBomgarPair({ dataSyncMs: 300, installMs: 600, sharedIps: ['127.0.30.100'] });
  });
  afterAll(async () => {
    const dir = pair.tmpDir;
    await pair.stop();
    expect(fs.existsSync(dir)).toBe(false);
  });

  /** Puts the pair back into its initial shape between tests. */
  async function reset(): Promise<void> {
    await pair.waitForIdle();
    pair.setUnreachable('A', false);
    pair.setUnreachable('B', false);
    const va = pair.appliance('A').version;
    const vb = pair.appliance('B').version;
    if (va !== vb) {
      const newer = va.localeCompare(vb, undefined, { numeric: true }) > 0 ? va : vb;
      await pair.installUpdate(newer === va ? 'B' : 'A', newer, { durationMs: 10 });
    }
    pair.establishFailover('A');
  }

  it('serves both appliances on loopback with the same port and certificates for IP and names', () => {
    expect(pair.address('A')).toBe('127.0.30.1');
    expect(pair.address('B')).toBe('127.0.30.2');
    expect(pair.port('A')).toBe(pair.port('B'));
    expect(fs.readFileSync(pair.caCertPath, 'utf8')).toContain('BEGIN CERTIFICATE');
  });

  it('check_health XML for both appliances', async () => {
    await reset();
    const a = await command(pair, 'A', { action: 'check_health' });
    const b = await command(pair, 'B', { action: 'check_health' });
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toMatch(/^text\/xml/);
    expect(a.body).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<health_check xmlns="https:\/\/www.beyondtrust.com\/namespaces\/API\/command">/,
    );
    expect(tag(a.body, 'appliance')).toBe('support-a.example.test');
    expect(a.body).toMatch(/<appliance id="[0-9a-f]{32}">/);
    expect(tag(a.body, 'version')).toBe('23.1.2');
    expect(tag(a.body, 'success')).toBe('1');
    expect(tag(a.body, 'failover_role')).toBe('primary');
    expect(tag(a.body, 'ip')).toBe('127.0.30.100');
    expect(tag(a.body, 'last_data_sync_status')).toBe('Success');
    expect(a.body).toMatch(/<last_data_sync_time ts="\d+">\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00<\/last_data_sync_time>/);
    expect(a.body).not.toContain('error_message');

    expect(tag(b.body, 'appliance')).toBe('support-b.example.test');
    expect(tag(b.body, 'failover_role')).toBe('backup');
    expect(b.body).not.toContain('enabled_shared_ips');
    expect(tag(b.body, 'success')).toBe('1');

    const h = await request(pair, 'B', '/check_health');
    expect(h.status).toBe(200);
  });

  it('set_failover_role primary on B with data_sync_first swaps roles after the sync', async () => {
    await reset();
    const before = pair.appliance('B').lastDataSync!.time;
    await new Promise((r) => setTimeout(r, 5));
    const r = await command(pair, 'B', { action: 'set_failover_role', role: 'primary', data_sync_first: '1' });
    expect(r.status).toBe(200);
    expect(tag(r.body, 'success')).toBe('Successfully started data sync. Role change will occur upon successful completion.');
    // Not yet swapped, and no second operation while the sync runs.
    expect(pair.state().roleChangeInProgress).toMatchObject({ requestedOn: 'B', newPrimary: 'B' });
    expect(tag((await command(pair, 'A', { action: 'check_health' })).body, 'failover_role')).toBe('primary');
    const busy = await command(pair, 'A', { action: 'set_failover_role', role: 'backup' });
    expect(tag(busy.body, 'error')).toBe('A failover operation is already in progress.');

    await waitFor('role swap', async () => tag((await command(pair, 'B', { action: 'check_health' })).body, 'failover_role') === 'primary');
    const a = await command(pair, 'A', { action: 'check_health' });
    const b = await command(pair, 'B', { action: 'check_health' });
    expect(tag(a.body, 'failover_role')).toBe('backup');
    expect(tag(b.body, 'failover_role')).toBe('primary');
    expect(tag(b.body, 'ip')).toBe('127.0.30.100'); // shared IP follows the primary
    expect(a.body).not.toContain('<ip>');
    expect(pair.appliance('B').lastDataSync!.time > before).toBe(true);
    expect(pair.state().failoverEstablished).toBe(true);
  });

  it('without data_sync_first the role changes at once; role is validated', async () => {
    await reset();
    const r = await command(pair, 'A', { action: 'set_failover_role', role: 'backup' });
    expect(tag(r.body, 'success')).toBe('Successfully changed role.');
    expect(pair.appliance('A').role).toBe('backup');
    expect(pair.appliance('B').role).toBe('primary');
    const bad = await command(pair, 'A', { action: 'set_failover_role', role: 'leader' });
    expect(bad.status).toBe(400);
    expect(tag(bad.body, 'error')).toMatch(/Invalid role/);
  });

  it('an unknown flag such as data_sync=1 is ignored (changes role immediately) and logged', async () => {
    await reset();
    pair.clearRequests();
    const r = await command(pair, 'B', { action: 'set_failover_role', role: 'primary', data_sync: '1' });
    expect(tag(r.body, 'success')).toBe('Successfully changed role.');
    const log = pair.requests();
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({
      appliance: 'B',
      method: 'GET',
      path: '/api/command',
      action: 'set_failover_role',
      unknownParams: ['data_sync'],
      auth: 'password',
      status: 200,
    });
    expect(log[0]!.params.password).toBe('********');
    expect(JSON.stringify(log)).not.toContain(pair.credentials.user.password);
  });

  it('demoting the primary while the peer is unreachable needs force', async () => {
    await reset();
    pair.setUnreachable('B', true);
    await expect(request(pair, 'B', '/check_health')).rejects.toThrow();
    const r = await command(pair, 'A', { action: 'set_failover_role', role: 'backup' });
    expect(r.status).toBe(200);
    expect(tag(r.body, 'error')).toMatch(/Unable to contact the peer appliance/);
    expect(pair.appliance('A').role).toBe('primary');

    const sync = await command(pair, 'A', { action: 'set_failover_role', role: 'backup', force: '1', data_sync_first: '1' });
    expect(tag(sync.body, 'error')).toMatch(/data sync/);

    const forced = await command(pair, 'A', { action: 'set_failover_role', role: 'backup', force: '1' });
    expect(tag(forced.body, 'success')).toBe('Successfully changed role.');
    expect(pair.state()).toMatchObject({ peerLink: false, failoverEstablished: false, A: { role: 'backup' }, B: { role: 'backup' } });
  });

  it('promoting the backup while the primary is unreachable succeeds and leaves a split brain', async () => {
    await reset();
    pair.setUnreachable('A', true);
    const r = await command(pair, 'B', { action: 'set_failover_role', role: 'primary' });
    expect(tag(r.body, 'success')).toBe('Successfully changed role.');
    pair.setUnreachable('A', false);
    expect(tag((await command(pair, 'A', { action: 'check_health' })).body, 'failover_role')).toBe('primary');
    expect(tag((await command(pair, 'B', { action: 'check_health' })).body, 'failover_role')).toBe('primary');
    expect(pair.syncNow().ok).toBe(false);
    pair.establishFailover('B');
    expect(pair.state()).toMatchObject({ failoverEstablished: true, A: { role: 'backup' }, B: { role: 'primary' } });
  });

  it('rejects wrong credentials with 401 and accounts without command permission', async () => {
    const wrong = await request(
      pair,
      'A',
      `/api/command?${qs({ action: 'check_health', username: pair.credentials.user.username, password: 'nope' })}`,
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('<error xmlns=');
    expect(tag(wrong.body, 'error')).toBe('Invalid username or password.');

    const none = await request(pair, 'A', '/api/command?action=check_health');
    expect(none.status).toBe(401);

    const badBearer = await command(pair, 'A', { action: 'check_health' }, 'not-a-token');
    expect(badBearer.status).toBe(401);

    const rep = await request(pair, 'A', `/api/command?${qs({ action: 'check_health', ...pair.credentials.noPermissionUser })}`);
    expect(rep.status).toBe(403);
    expect(tag(rep.body, 'error')).toMatch(/permission/);
  });

  it('OAuth client credentials: token, bearer use, per-appliance tokens, permissions', async () => {
    await reset();
    const { clientId, clientSecret } = pair.credentials.oauth;
    const bad = await token(pair, 'A', clientId, 'wrong');
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.body)).toEqual({ error: 'invalid_client' });

    const t = await token(pair, 'A', clientId, clientSecret);
    expect(t.status).toBe(200);
    const body = JSON.parse(t.body) as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(3600);
    const h = await command(pair, 'A', { action: 'check_health' }, body.access_token);
    expect(h.status).toBe(200);
    expect(tag(h.body, 'success')).toBe('1');
    // A token issued by A is not valid on B.
    expect((await command(pair, 'B', { action: 'check_health' }, body.access_token)).status).toBe(401);

    // POST form parameters work as well.
    const post = await request(pair, 'A', '/api/command', {
      method: 'POST',
      headers: { Authorization: `Bearer ${body.access_token}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'action=set_failover_role&role=primary',
    });
    expect(tag(post.body, 'success')).toBe('Successfully changed role.');

    // Read-only accounts may check health but not change roles.
    const ro = JSON.parse(
      (await token(pair, 'A', pair.credentials.readOnlyOauth.clientId, pair.credentials.readOnlyOauth.clientSecret)).body,
    ) as {
      access_token: string;
    };
    expect((await command(pair, 'A', { action: 'check_health' }, ro.access_token)).status).toBe(200);
    const denied = await command(pair, 'A', { action: 'set_failover_role', role: 'backup' }, ro.access_token);
    expect(denied.status).toBe(403);
    expect(tag(denied.body, 'error')).toMatch(/full access/);

    const grant = await request(pair, 'A', '/oauth2/token', {
      method: 'POST',
      headers: {
        Authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=password',
    });
    expect(grant.status).toBe(400);

    const log = pair.requests().filter((r) => r.path === '/oauth2/token');
    expect(log.every((r) => r.auth === 'basic')).toBe(true);
    expect(JSON.stringify(pair.requests())).not.toContain(clientSecret);
    expect(JSON.stringify(pair.requests())).not.toContain(body.access_token);
  });

  it('installUpdate: unhealthy during the install, new version after, failover broken until re-established', async () => {
    await reset();
    const install = pair.installUpdate('B', '23.2.1');
    const during = await command(pair, 'B', { action: 'check_health' });
    expect(tag(during.body, 'success')).toBe('0');
    expect(tag(during.body, 'error_message')).toMatch(/update to 23.2.1 in progress/);
    expect((await request(pair, 'B', '/check_health')).status).toBe(500);
    expect((await request(pair, 'A', '/check_health')).status).toBe(200);
    expect(pair.appliance('B').update.installing).toBe('23.2.1');
    expect(pair.state().peerLink).toBe(false);
    await install;

    const after = await command(pair, 'B', { action: 'check_health' });
    expect(tag(after.body, 'version')).toBe('23.2.1');
    expect(tag(after.body, 'success')).toBe('1');
    expect((await request(pair, 'B', '/check_health')).status).toBe(200);
    expect(pair.appliance('B').update.installed.map((u) => u.version)).toEqual(['23.2.1']);
    // Sync fails while versions differ and the link is down; data sync before a role change too.
    expect(pair.syncNow()).toEqual({ ok: false, status: 'Failed: the failover relationship is not established.' });
    const r = await command(pair, 'B', { action: 'set_failover_role', role: 'primary', data_sync_first: '1' });
    expect(tag(r.body, 'error')).toMatch(/cannot be contacted/);
    expect(() => pair.establishFailover('A')).toThrow(/versions differ/);

    // Asynchronous method: B becomes primary, A is updated, failover re-established with B primary.
    expect(tag((await command(pair, 'B', { action: 'set_failover_role', role: 'primary' })).body, 'success')).toBe(
      'Successfully changed role.',
    );
    await pair.installUpdate('A', '23.2.1', { durationMs: 50 });
    pair.establishFailover('B');
    expect(pair.state()).toMatchObject({
      peerLink: true,
      failoverEstablished: true,
      A: { role: 'backup', version: '23.2.1', lastDataSync: { status: 'Success' } },
      B: { role: 'primary', version: '23.2.1' },
    });
  });

  it('TLS fails without the lab CA, and the certificate carries the site hostname too', async () => {
    await expect(request(pair, 'A', '/check_health', { ca: null })).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      message: 'unable to verify the first certificate',
    });
    const bySite = await request(pair, 'A', '/check_health', { servername: 'support.example.test' });
    expect(bySite.status).toBe(200);
  });

  it('unknown paths and actions', async () => {
    expect((await request(pair, 'A', '/nope')).status).toBe(404);
    const r = await command(pair, 'A', { action: 'frobnicate' });
    expect(r.status).toBe(400);
    expect(tag(r.body, 'error')).toBe('Invalid action: frobnicate.');
  });
});

describe('fake Bomgar pair options', () => {
  it('blackhole unreachable mode makes clients time out; breakFailover reports role none', async () => {
    const pair = await startBomgarPair({ unreachableMode: 'blackhole' });
    try {
      pair.setUnreachable('A', true);
      await expect(request(pair, 'A', '/check_health', { timeoutMs: 300 })).rejects.toThrow(/timeout/);
      pair.setUnreachable('A', false);
      expect((await request(pair, 'A', '/check_health')).status).toBe(200);
      pair.breakFailover();
      const h = await command(pair, 'A', { action: 'check_health' });
      expect(tag(h.body, 'failover_role')).toBe('none');
      expect(h.body).not.toContain('last_data_sync');
      const r = await command(pair, 'A', { action: 'set_failover_role', role: 'backup' });
      expect(tag(r.body, 'error')).toBe('Failover is not configured on this appliance.');
    } finally {
      await pair.stop();
    }
  });

  it('build number in <version>, automatic failover while the primary installs, backdated last sync', async () => {
    const pair = await startBomgarPair({ build: '4815', installMs: 400, autoFailoverMs: 100 });
    try {
      const before = await command(pair, 'B', { action: 'check_health' });
      expect(tag(before.body, 'version')).toBe('23.1.2.4815');
      const syncedAt = Date.parse(tag(before.body, 'last_data_sync_time')!);
      pair.backdateLastSync(86_400_000);
      const aged = await command(pair, 'B', { action: 'check_health' });
      expect(syncedAt - Date.parse(tag(aged.body, 'last_data_sync_time')!)).toBeGreaterThanOrEqual(86_399_000);
      await pair.installUpdate('A', '23.2.1');
      // B took the primary role by itself while A was down; A reports primary again once back.
      expect([pair.appliance('A').role, pair.appliance('B').role]).toEqual(['primary', 'primary']);
      expect(tag((await command(pair, 'A', { action: 'check_health' })).body, 'version')).toBe('23.2.1.4815');
    } finally {
      await pair.stop();
    }
  });
});
