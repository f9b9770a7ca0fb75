import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initializeSlony, SLONY_VERIFY_SQL, startHorizonLab, type HorizonLab } from '../../fixtures/lab/horizon/index.js';
import { waitFor } from '../harness/util.js';

describe('Horizon DaaS lab (service provider)', () => {
  let lab: HorizonLab;

  beforeAll(async () => {
    const t0 = Date.now();
    lab = await startHorizonLab({ kind: 'service-provider' });
    console.log(
      `horizon SP lab started in ${Date.now() - t0} ms (pg A ${lab.primary.pg.host}:${lab.primary.pg.port}, ssh port ${lab.ssh.port})`,
    );
  }, 180_000);

  afterAll(async () => {
    const t0 = Date.now();
    await lab?.stop();
    console.log(`horizon SP lab stopped in ${Date.now() - t0} ms`);
  });

  it('replicates A -> B and B refuses writes', async () => {
    const rows = await lab.query('B', 'fdb', 'SELECT name, capabilities FROM appliance ORDER BY id');
    expect(rows).toEqual([
      { name: lab.primary.name, capabilities: 255 },
      { name: lab.secondary.name, capabilities: 63 },
    ]);
    const t0 = Date.now();
    await lab.query('A', 'fdb', "INSERT INTO task (org_id, kind, state) VALUES (1000, 'replication-probe', 'new')");
    await waitFor(
      'probe row on B',
      async () => (await lab.query('B', 'fdb', "SELECT 1 FROM task WHERE kind = 'replication-probe'")).length === 1,
      {
        timeoutMs: 60_000,
      },
    );
    console.log(`row replicated in ${Date.now() - t0} ms`);
    await expect(lab.query('B', 'fdb', 'UPDATE appliance SET capabilities = 0 WHERE name = $1', [lab.primary.name])).rejects.toThrow(
      /cannot be modified/,
    );
    await expect(lab.query('B', 'fdb', "INSERT INTO task (org_id, kind, state) VALUES (1000, 'on-b', 'new')")).rejects.toThrow(
      /replicated and cannot be modified on a subscriber/,
    );
    const verify = await lab.query('A', 'fdb', SLONY_VERIFY_SQL);
    expect(verify).toEqual([{ set_id: 1, set_comment: 'All tables and Sequences', local_id: '1', master_node: true }]);
  });

  it('has the appliance files and slons with pidfiles', async () => {
    const { stdout } = await lab.exec(
      'B',
      'cat /usr/local/desktone/release/active/conf/fdb.properties /usr/local/xmpms/diagnose/config/application.properties; readlink /usr/local/desktone/release/active',
    );
    expect(stdout).toContain(`fdb.host.1=${lab.primary.address}`);
    expect(stdout).toContain(`db.jdbc.url=jdbc:postgresql://${lab.primary.address}:${lab.primary.pg.port}/avdb?ssl=true`);
    expect(stdout.trim().endsWith('8.3.0')).toBe(true);
    expect(lab.slonPids('A').fdb).toBeGreaterThan(0);
    expect(lab.slonPids('B').fdb).toBeGreaterThan(0);
    expect(lab.services('B')).toEqual({ dtService: 'running', 'av-manager': 'running', diagnose: 'running' });
    expect(lab.commands('A')).toEqual([]);
  });

  it('a running dtService keeps writing to the first host of its fdb.properties that takes the write; nothing after it is stopped', async () => {
    const tasks = async () =>
      (await lab.query<{ n: number }>('A', 'fdb', "SELECT count(*)::int AS n FROM task WHERE kind = 'dtservice'"))[0]!.n;
    const n0 = await tasks();
    await waitFor('three more dtService writes on A', async () => (await tasks()) >= n0 + 3, { timeoutMs: 30_000 });
    // B's dtService writes to A too: B's own FDB is a Slony subscriber and refuses writes.
    await waitFor('a write of B', () => lab.writes('B').length > 0, { timeoutMs: 30_000 });
    expect(new Set(lab.writes('B').map((w) => w.host))).toEqual(new Set([lab.primary.address]));
    for (const id of ['A', 'B'] as const) await lab.exec(id, 'service dtService stop');
    // `service dtService stop` returns once the writer has exited: nothing can write after it.
    for (const id of ['A', 'B'] as const) expect(lab.ssh.processes(id).filter((p) => p.args.includes('service-writer.mjs'))).toEqual([]);
    const stoppedAt = await tasks();
    await lab.exec('A', 'service dtService start');
    await waitFor('writes again once started', async () => (await tasks()) > stoppedAt, { timeoutMs: 30_000 });
    await lab.exec('B', 'service dtService start');
  });

  it('av-setup needs DB_HOST and DB_PASSWORD and records DB_HOST only', async () => {
    await expect(lab.exec('B', '/usr/local/desktone/scripts/av-setup')).rejects.toThrow(/DB_HOST is not set/);
    const pw = lab.secondary.db.fdb.appPassword;
    await expect(
      lab.exec('B', `export DB_HOST=${lab.secondary.address} DB_PASSWORD=wrong; /usr/local/desktone/scripts/av-setup`),
    ).rejects.toThrow(/password authentication failed/);
    const { stdout } = await lab.exec(
      'B',
      `export DB_HOST=${lab.secondary.address} DB_PASSWORD='${pw}'; /usr/local/desktone/scripts/av-setup`,
    );
    expect(stdout).toContain(`set to ${lab.secondary.address}`);
    const log = lab.commands('B').filter((c) => c.tool === 'av-setup');
    expect(log).toHaveLength(3);
    expect(JSON.stringify(log)).not.toContain(pw);
    expect(log[2]).toMatchObject({ host: 'B', env: { DB_HOST: lab.secondary.address, DB_PASSWORD: '<set>' } });
  });

  it('killall slon + drop schema _slony on B makes B writable; Initialize Slony makes B the master', async () => {
    // What the runbook does, by hand: stop slons by pidfile (the fake killall's convention), drop the schema.
    const slonProcs = (id: 'A' | 'B') => lab.ssh.processes(id).filter((p) => /^slon /.test(p.args));
    expect(slonProcs('A').length).toBeGreaterThanOrEqual(1);
    expect(slonProcs('B').length).toBeGreaterThanOrEqual(1);
    for (const id of ['A', 'B'] as const) {
      await lab.exec(id, 'for f in "$LAB_STATE"/pids/slon/*.pid; do kill "$(cat "$f")"; rm -f "$f"; done');
    }
    await waitFor('slons gone', () => slonProcs('A').length + slonProcs('B').length === 0, { timeoutMs: 30_000 });
    expect(lab.slonPids('A')).toEqual({});
    await lab.query('B', 'fdb', 'DROP SCHEMA _slony CASCADE');
    await lab.query('B', 'fdb', "INSERT INTO task (org_id, kind, state) VALUES (1000, 'written-on-b', 'new')");
    await lab.query('A', 'fdb', 'DROP SCHEMA _slony CASCADE');
    await lab.query('B', 'fdb', `UPDATE appliance SET capabilities = (capabilities & 65343) WHERE name = $1`, [lab.primary.name]);
    await lab.query('B', 'fdb', `UPDATE appliance SET capabilities = (capabilities | 192) WHERE name = $1`, [lab.secondary.name]);
    await expect(lab.query('B', 'fdb', SLONY_VERIFY_SQL)).rejects.toThrow(/_slony/);
    // The button drops no schema: an appliance that still has its old catalog cannot join.
    await lab.query('A', 'fdb', 'CREATE SCHEMA _slony');
    await expect(initializeSlony(lab, { org: 1000, db: 'fdb', origin: 'B' })).rejects.toThrow(/still has a _slony schema/);
    await lab.query('A', 'fdb', 'DROP SCHEMA _slony');
    // The seed starts the slons before "Initialize Slony", i.e. while the schema is missing.
    for (const id of ['A', 'B'] as const) {
      const { stdout } = await lab.exec(id, '/usr/local/desktone/scripts/start_slon_fdb.sh');
      expect(stdout).toMatch(/started slon for fdb/);
      expect(lab.commands(id).map((c) => c.tool)).toContain('start_slon_fdb.sh');
    }

    const t0 = Date.now();
    await initializeSlony(lab, { org: 1000, db: 'fdb', origin: 'B' });
    console.log(`initializeSlony (2 nodes) took ${Date.now() - t0} ms`);
    expect(await lab.query('B', 'fdb', SLONY_VERIFY_SQL)).toEqual([
      { set_id: 1, set_comment: 'All tables and Sequences', local_id: '1', master_node: true },
    ]);
    expect(await lab.query('A', 'fdb', SLONY_VERIFY_SQL)).toMatchObject([{ local_id: '2', master_node: false }]);
    // A now follows B.
    expect(await lab.query('A', 'fdb', "SELECT count(*)::int AS n FROM task WHERE kind = 'written-on-b'")).toEqual([{ n: 1 }]);
    expect(await lab.query('A', 'fdb', 'SELECT capabilities FROM appliance ORDER BY id')).toEqual([
      { capabilities: 63 },
      { capabilities: 255 },
    ]);
    const log = fs.readFileSync(`${lab.ssh.hosts[0]!.sharedDir}/service-center.log`, 'utf8');
    expect(log).toContain('"initialize-slony"');
  });

  it('with the primary down, Initialize Slony builds a one-node cluster on B', async () => {
    await lab.stopPrimary();
    await expect(lab.exec('A', 'true')).rejects.toThrow();
    await expect(lab.query('A', 'fdb', 'SELECT 1')).rejects.toThrow();
    const t0 = Date.now();
    await initializeSlony(lab, { org: 1000, db: 'fdb', origin: 'B' });
    console.log(`initializeSlony (1 node) took ${Date.now() - t0} ms`);
    expect(await lab.query('B', 'fdb', SLONY_VERIFY_SQL)).toEqual([
      { set_id: 1, set_comment: 'All tables and Sequences', local_id: '1', master_node: true },
    ]);
    await lab.query('B', 'fdb', "INSERT INTO task (org_id, kind, state) VALUES (1000, 'after-failover', 'new')");
  });
});

describe('Horizon DaaS lab (tenant)', () => {
  let lab: HorizonLab;

  beforeAll(async () => {
    const t0 = Date.now();
    lab = await startHorizonLab({ kind: 'tenant', orgId: 1001 });
    console.log(`horizon tenant lab started in ${Date.now() - t0} ms`);
  }, 180_000);

  afterAll(async () => {
    const t0 = Date.now();
    await lab?.stop();
    console.log(`horizon tenant lab stopped in ${Date.now() - t0} ms`);
  });

  it('replicates fdb, edb and avdb; each has its properties file and slon', async () => {
    expect(lab.databases).toEqual(['fdb', 'edb', 'avdb']);
    for (const db of lab.databases) {
      expect(lab.slonPids('A')[db]).toBeGreaterThan(0);
      expect(lab.slonPids('B')[db]).toBeGreaterThan(0);
      const props = fs.readFileSync(lab.secondary.hostPath(`/usr/local/desktone/release/active/conf/${db}.properties`), 'utf8');
      expect(props).toContain(`${db}.host.1=${lab.primary.address}`);
      expect(await lab.query('B', db, SLONY_VERIFY_SQL)).toMatchObject([{ local_id: '2', master_node: false }]);
    }
    await lab.query('A', 'edb', "INSERT INTO desktop (pool_id, hostname, state) VALUES (2, 'dev-new', 'available')");
    await lab.query('A', 'avdb', "INSERT INTO app_volume (name, size_mb) VALUES ('new-vol', 100)");
    await lab.waitForReplication('edb');
    await lab.waitForReplication('avdb');
    expect(await lab.query('B', 'edb', "SELECT state FROM desktop WHERE hostname = 'dev-new'")).toEqual([{ state: 'available' }]);
  });

  it('after the primary fails: drop _slony on B in all three dbs, then Initialize Slony for each', async () => {
    await lab.stopPrimary();
    expect(lab.ssh.processes('A')).toEqual([]);
    for (const db of lab.databases) {
      await lab.exec('B', `kill $(cat "$LAB_STATE/pids/slon/${db}.pid")`);
      await lab.query('B', db, 'DROP SCHEMA _slony CASCADE');
    }
    await lab.query('B', 'avdb', "INSERT INTO app_volume (name, size_mb) VALUES ('written-on-b', 1)");
    // The Service Center's button starts no slon: without one it does not complete.
    await expect(initializeSlony(lab, { org: lab.orgId, db: 'edb', origin: 'B' })).rejects.toThrow(/no slon daemon for edb/);
    for (const db of lab.databases) {
      await lab.exec('B', `/usr/local/desktone/scripts/start_slon_${db}.sh`);
      await initializeSlony(lab, { org: lab.orgId, db, origin: 'B' });
      expect(await lab.query('B', db, SLONY_VERIFY_SQL)).toEqual([
        { set_id: 1, set_comment: 'All tables and Sequences', local_id: '1', master_node: true },
      ]);
    }
  });
});
