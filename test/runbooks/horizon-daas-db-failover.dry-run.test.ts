/**
 * Dry-run of horizon-daas-db-failover: the whole plan per branch (service provider / tenant,
 * primary reachable or not), secrets masked, SQL values bound, every numbered step of the seed
 * referenced by a step's `source`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { itValidatesAndPrintsItsPlan, running, shippedRunbook } from './dry-run.js';

const ID = 'horizon-daas-db-failover';
const SECRETS = { HORIZON_DB_PASSWORD: 'av-setup-pw-never-shown-1', HORIZON_DB_ADMIN_PASSWORD: 'pg-admin-pw-never-shown-2' };

const tmp = mkdtempSync(join(tmpdir(), 'runbook-horizon-dry-'));
const rb = shippedRunbook(ID, { env: SECRETS, hide: tmp });
const { cli, plan, inventory: INVENTORY } = rb;
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The tenant variant of the example inventory (same hosts file, tenant roles bound). */
const TENANT_INVENTORY = join(tmp, 'tenant.yaml');
writeFileSync(
  TENANT_INVENTORY,
  `name: Horizon DaaS tenant pair (example)
hosts:
  sp-b: { address: 192.0.2.22, user: desktone }
  tenant-a: { address: 198.51.100.31, user: desktone }
  tenant-b: { address: 198.51.100.32, user: desktone }
  tenant-c: { address: 198.51.100.33, user: desktone }
databases:
  sp-b-fdb: { host: 192.0.2.22, database: fdb, user: postgres, password: { env: HORIZON_DB_ADMIN_PASSWORD } }
  tenant-a-fdb: { host: 198.51.100.31, database: fdb, user: postgres, password: { env: HORIZON_DB_ADMIN_PASSWORD } }
  tenant-a-edb: { host: 198.51.100.31, database: edb, user: postgres, password: { env: HORIZON_DB_ADMIN_PASSWORD } }
  tenant-a-avdb: { host: 198.51.100.31, database: avdb, user: postgres, password: { env: HORIZON_DB_ADMIN_PASSWORD } }
  tenant-b-fdb: { host: 198.51.100.32, database: fdb, user: postgres, password: { env: HORIZON_DB_ADMIN_PASSWORD } }
  tenant-b-edb: { host: 198.51.100.32, database: edb, user: postgres, password: { env: HORIZON_DB_ADMIN_PASSWORD } }
  tenant-b-avdb: { host: 198.51.100.32, database: avdb, user: postgres, password: { env: HORIZON_DB_ADMIN_PASSWORD } }
  tenant-c-fdb: { host: 198.51.100.33, database: fdb, user: postgres, password: { env: HORIZON_DB_ADMIN_PASSWORD } }
  tenant-c-edb: { host: 198.51.100.33, database: edb, user: postgres, password: { env: HORIZON_DB_ADMIN_PASSWORD } }
  tenant-c-avdb: { host: 198.51.100.33, database: avdb, user: postgres, password: { env: HORIZON_DB_ADMIN_PASSWORD } }
roles:
  primary: tenant-a
  secondary: tenant-b
  other_appliances: [tenant-c]
  primary_fdb: tenant-a-fdb
  secondary_fdb: tenant-b-fdb
  primary_edb: tenant-a-edb
  primary_avdb: tenant-a-avdb
  secondary_edb: tenant-b-edb
  secondary_avdb: tenant-b-avdb
  other_fdb: [tenant-c-fdb]
  other_edb: [tenant-c-edb]
  other_avdb: [tenant-c-avdb]
  master_sp_fdb: sp-b-fdb
parameters:
  appliance_kind: tenant
  primary_reachable: true
  appliance_a: t1001-a
  appliance_b: t1001-b
  org_id: 1001
`,
);

const BRANCHES: Record<string, string[]> = {
  'service-provider, primary reachable': ['-i', INVENTORY],
  'service-provider, primary unreachable': ['-i', INVENTORY, '-p', 'primary_reachable=false'],
  'tenant, primary reachable': ['-i', TENANT_INVENTORY],
  'tenant, primary unreachable': ['-i', TENANT_INVENTORY, '-p', 'primary_reachable=false'],
};

describe(`${ID} dry-run`, () => {
  itValidatesAndPrintsItsPlan(rb, BRANCHES);

  it('runs task 2 for a service provider and task 3 (with EDB and AVDB) for a tenant', async () => {
    const sp = running((await plan(BRANCHES['service-provider, primary reachable']!)).steps);
    const tenant = running((await plan(BRANCHES['tenant, primary reachable']!)).steps);
    expect(sp.filter((id) => id.startsWith('t2-')).length).toBeGreaterThan(10);
    expect(sp.some((id) => id.startsWith('t3-') || id.startsWith('t4-'))).toBe(false);
    expect(sp).not.toContain('t1-drop-slony-secondary-edb');
    expect(tenant.some((id) => id.startsWith('t2-'))).toBe(false);
    expect(tenant).toEqual(
      expect.arrayContaining([
        't1-drop-slony-secondary-edb',
        't1-drop-slony-secondary-avdb',
        't1-edit-edb-properties',
        't1-edit-avdb-properties',
        't1-restore-edb',
        't1-restore-avdb',
        't3-update-capabilities',
        't4-reinit-slony-edb',
        't4-reinit-slony-avdb',
      ]),
    );
  });

  it('backs up and restores only when the primary is reachable, and never restores before a verified backup', async () => {
    const up = await plan(BRANCHES['tenant, primary reachable']!);
    const down = running((await plan(BRANCHES['tenant, primary unreachable']!)).steps);
    const ids = running(up.steps);
    // Nothing writes while the counts are taken and the dumps made: the other appliances' dtService is stopped first.
    expect(ids.indexOf('t1-stop-services-others')).toBeGreaterThan(ids.indexOf('t1-stop-services-secondary'));
    expect(ids.indexOf('t1-stop-services-others')).toBeLessThan(ids.indexOf('t1-count-rows-primary-fdb'));
    expect(down).not.toContain('t1-stop-services-others');
    for (const db of ['fdb', 'edb', 'avdb']) {
      expect(ids.indexOf(`t1-backup-${db}`)).toBeGreaterThan(ids.indexOf(`t1-count-rows-primary-${db}`));
      expect(ids.indexOf(`t1-restore-${db}`)).toBe(ids.indexOf(`t1-backup-${db}`) + 1);
      expect(down).not.toContain(`t1-restore-${db}`);
      const restore = up.steps.find((s) => s.id === `t1-restore-${db}`)!;
      expect(restore.destructive).toBe(true);
      expect(restore.confirm.mode).toBe('typed');
    }
    for (const id of ['t1-stop-services-primary', 't1-kill-slon-primary', 't3-drop-slony-primary-fdb']) {
      expect(ids).toContain(id);
      expect(down).not.toContain(id);
    }
    // The primary's release is checked before anything changes, only where it can be reached.
    const primaryCheck = 'The primary appliance (reachable) also runs a release older than 9.0.0';
    expect(up.preconditions.map((p) => p.title)).toContain(primaryCheck);
    const unreachable = await plan(BRANCHES['tenant, primary unreachable']!);
    expect(unreachable.preconditions.map((p) => p.title)).not.toContain(primaryCheck);
    expect(unreachable.skippedPreconditions.map((p) => p.title)).toContain(primaryCheck);
    expect(up.rollback.map((s) => s.id)).toEqual(['rollback-restore-fdb', 'rollback-restore-edb', 'rollback-restore-avdb']);
    // Putting back a database is destructive too: each rollback restore asks for its name.
    for (const r of up.rollback) expect(r.confirm, r.id).toMatchObject({ mode: 'typed' });
    // Dumps are written under umask 077 into a 0700 directory.
    for (const db of ['fdb', 'edb', 'avdb']) {
      const backup = JSON.stringify(up.steps.find((s) => s.id === `t1-backup-${db}`)!.action);
      expect(backup).toContain('"umask":"077"');
      expect(backup).toContain('mkdir -p -m 0700');
    }
  });

  it('cleans and dumps a restarted primary in task 4 (its FDB catalog only when it was unreachable) and starts its slons before any re-initialisation', async () => {
    const CLEANING = ['t4-stop-services-primary', 't4-kill-slon-primary', 't4-wait-primary-db', 't4-backup-primary-fdb'];
    const t4 = (ids: string[]) => ids.filter((id) => id.startsWith('t4-'));
    // Reachable primary: task 4 as before (tenant only, EDB and AVDB).
    expect(t4(running((await plan(BRANCHES['service-provider, primary reachable']!)).steps))).toEqual([]);
    // A reachable tenant primary is cleaned too (services, slons, its EDB/AVDB catalogs) and dumped.
    expect(t4(running((await plan(BRANCHES['tenant, primary reachable']!)).steps))).toEqual([
      't4-restart-primary-now',
      't4-restart-primary',
      ...CLEANING,
      't4-backup-primary-edb-avdb',
      't4-drop-slony-primary-edb',
      't4-drop-slony-primary-avdb',
      't4-start-slon-primary-fdb',
      't4-start-slon-primary-edb-avdb',
      't4-reinit-slony-edb',
      't4-verify-others-edb-subscribed',
      't4-reinit-slony-avdb',
      't4-verify-others-avdb-subscribed',
    ]);
    // Unreachable primary: after the restart, A is cleaned, then FDB is re-initialised and A checked.
    expect(t4(running((await plan(BRANCHES['service-provider, primary unreachable']!)).steps))).toEqual([
      't4-restart-primary-now',
      't4-restart-primary',
      ...CLEANING,
      't4-drop-slony-primary-fdb',
      't4-start-slon-primary-fdb',
      't4-reinit-slony-fdb-sp',
      't4-verify-primary-fdb-not-master',
      't4-verify-primary-capabilities-sp',
    ]);
    const down = await plan(BRANCHES['tenant, primary unreachable']!);
    expect(t4(running(down.steps))).toEqual([
      't4-restart-primary-now',
      't4-restart-primary',
      ...CLEANING,
      't4-backup-primary-edb-avdb',
      't4-drop-slony-primary-fdb',
      't4-drop-slony-primary-edb',
      't4-drop-slony-primary-avdb',
      't4-start-slon-primary-fdb',
      't4-start-slon-primary-edb-avdb',
      't4-reinit-slony-fdb-tenant',
      't4-verify-primary-fdb-not-master',
      't4-reinit-slony-edb',
      't4-verify-primary-edb-not-master',
      't4-verify-others-edb-subscribed',
      't4-reinit-slony-avdb',
      't4-verify-primary-avdb-not-master',
      't4-verify-others-avdb-subscribed',
    ]);
    for (const db of ['fdb', 'edb', 'avdb']) {
      const drop = down.steps.find((s) => s.id === `t4-drop-slony-primary-${db}`)!;
      expect(drop.destructive).toBe(true);
      expect(drop.confirm).toMatchObject({ mode: 'typed' });
    }
  });

  it('asks a typed confirmation naming the appliance and database for every schema drop and restore', async () => {
    const r = await cli(['exec', ID, '--dry-run', ...BRANCHES['tenant, primary reachable']!]);
    expect(r.stdout).toContain(
      't1-drop-slony-secondary-fdb: Task 1.3: drop the Slony schema in the secondary FDB [sql, type "t1001-b/fdb" to confirm, DESTRUCTIVE]',
    );
    expect(r.stdout).toContain('[sql, type "t1001-b/edb" to confirm, DESTRUCTIVE]');
    expect(r.stdout).toContain('[sql, type "t1001-b/avdb" to confirm, DESTRUCTIVE]');
    expect(r.stdout).toContain('[sql, type "t1001-a/fdb" to confirm, DESTRUCTIVE]');
    expect(r.stdout).toContain('[ssh, type "t1001-b/fdb" to confirm, DESTRUCTIVE]');
    // The other appliances' old catalogs, one typed confirmation per database for all of them.
    for (const db of ['fdb', 'edb', 'avdb'])
      expect(r.stdout).toContain(
        `t3-drop-slony-others-${db}: Task 3.6: drop the old Slony schema in the ${db.toUpperCase()} of the other tenant appliances`,
      );
    expect(r.stdout).toMatch(/t3-drop-slony-others-fdb: [^\n]*\[sql, type "others\/fdb" to confirm, DESTRUCTIVE\]/);
  });

  it('binds the appliance names as SQL parameters and masks the secrets', async () => {
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY]);
    expect(r.stdout).toMatch(
      /update appliance set capabilities = \(capabilities & 65343\) where name = \$1 returning 1\)[^;]*then 1 else \('expected exactly 1 appliance row[^;]*;\n\s*-- binds: \$1 = "dc1-sp-a"/,
    );
    expect(r.stdout).toMatch(
      /update appliance set capabilities = \(capabilities \| 192\) where name = \$1 returning 1\)[^;]*;\n\s*-- binds: \$1 = "dc1-sp-b"/,
    );
    expect(r.stdout).not.toMatch(/where name\s*=\s*'/);
    expect(r.stdout).toContain("export DB_HOST=192.0.2.22; export DB_PASSWORD='\\''***'\\''; /usr/local/desktone/scripts/av-setup");
    expect(r.stdout).toContain("export PGPASSWORD='***'");
    expect(r.stdout).toContain('set db.jdbc.url=jdbc:postgresql://192.0.2.22:5432/avdb?ssl=true');
    expect(r.stdout).toContain('set db.fdb.jdbc.url=jdbc:postgresql://192.0.2.22:5432/fdb?ssl=true');
    expect(r.stdout).toContain('expect firstRow {"master_node":true}');
  });

  it('refuses appliances at 9.0.0 or later (the version precondition pattern)', async () => {
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY]);
    const m = /basename "\$\(readlink -f \/usr\/local\/desktone\/release\/active\)"\n\s+expect stdout matches "(.*)"/.exec(r.stdout);
    expect(m).not.toBeNull();
    const pattern = new RegExp(JSON.parse(`"${m![1]}"`) as string, 'm');
    for (const ok of ['8.3.0', '7.1.2', '8.0.0-build.1234']) expect(pattern.test(ok), ok).toBe(true);
    for (const refused of ['9.0.0', '9.1.2', '10.0.1']) expect(pattern.test(refused), refused).toBe(false);
  });

  it('references every numbered step of the seed in some step source', async () => {
    const all = [...(await plan(BRANCHES['service-provider, primary reachable']!)).steps];
    const sources = all.map((s) => s.source ?? '');
    const covered = new Set<string>();
    for (const source of sources) {
      for (const m of source.matchAll(/task (\d) steps? ([\d, and-]+)/g)) {
        for (const part of m[2]!
          .split(/,| and /)
          .map((x) => x.trim())
          .filter(Boolean)) {
          const [from, to] = part.split('-').map(Number);
          for (let n = from!; n <= (to ?? from!); n++) covered.add(`${m[1]}.${n}`);
        }
      }
      if (/task 4/.test(source)) covered.add('4');
    }
    const seed = [
      ...Array.from({ length: 13 }, (_, i) => `1.${i + 1}`),
      ...Array.from({ length: 12 }, (_, i) => `2.${i + 1}`),
      ...Array.from({ length: 11 }, (_, i) => `3.${i + 1}`),
      '4',
    ];
    expect(seed.filter((s) => !covered.has(s))).toEqual([]);
    expect(all.every((s) => (s.source ?? '').startsWith('seed 002'))).toBe(true);
  });
});
