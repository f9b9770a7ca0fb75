import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fakeLab, type FakeLab } from './helpers.js';
import {
  provisionTimesTen,
  readTimesTenState,
  installTimesTenRelease,
  ttRows,
  isCompleteTtBackup,
  TT_TABLES_WITHOUT_PK_SQL,
  type TimesTenLabOptions,
} from '../../fixtures/lab/timesten/provision.js';

const O = 'originalhost';
const U = 'upgradehost';
const ports = (_dsn: string) =>
  `alter replication repl.scheme alter store Upgrade on upgradehost set port 22011; alter replication repl.scheme alter store Original on originalhost set port 22012;quit;`;

describe('TimesTen fakes', () => {
  let lab: FakeLab;
  const setup = (o: Partial<TimesTenLabOptions> = {}) =>
    provisionTimesTen({
      sharedDir: lab.shared,
      original: { stateDir: lab.hosts[O]!.state, backupDir: lab.hosts[O]!.backup },
      upgrade: { stateDir: lab.hosts[U]!.state, backupDir: lab.hosts[U]!.backup },
      ...o,
    });
  const ok = (host: string, cmd: string, args: string[] = [], input?: string) => {
    const r = lab.run(host, cmd, args, { input });
    if (r.code !== 0) throw new Error(`${host}: ${cmd} ${args.join(' ')} -> ${r.code}\n${r.out}`);
    return r.stdout;
  };
  const isql = (host: string, dsn: string, sql: string) => lab.run(host, 'ttIsql', ['-connStr', `dsn=${dsn}`, '-e', `${sql};quit;`]);
  const mark = (host: string, dsn: string, id: number, note: string) => {
    const r = isql(host, dsn, `insert into app.upgrade_check values (${id}, '${note}', sysdate)`);
    expect(r.stdout, r.out).toContain('1 row inserted.');
  };
  const has = (host: string, dsn: string, id: number) =>
    isql(host, dsn, `select * from app.upgrade_check where id = ${id}`).stdout.includes(`< ${id},`);
  const backupPath = (host: string, name: string) => path.join(lab.hosts[host]!.backup!, name);

  beforeEach(() => {
    lab = fakeLab([O, U], ['backup']);
  });
  afterEach(() => lab.cleanup());

  it('runs the 23 steps of the online upgrade in order', () => {
    setup();
    expect(ok(O, 'ttVersion')).toMatch(/^TimesTen Release 11\.2\.2\.8\.0 \(64 bit/);
    // Requirements.
    expect(isql(O, 'Original', 'select perm_in_use_size from v$monitor').stdout).toContain('< 262144 >');
    expect(isql(O, 'Original', TT_TABLES_WITHOUT_PK_SQL).stdout).toContain('0 rows found.');
    expect(ok(O, 'df', ['-k', '/backup'])).toMatch(/\/backup/);
    // Replication works both ways at the start.
    mark(U, 'Upgrade', 1, 'from upgrade');
    expect(has(O, 'Original', 1)).toBe(true);
    // 1. pause Original -> Upgrade.
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-name', 'Upgrade', '-state', 'pause']);
    mark(O, 'Original', 2, 'while paused');
    expect(has(U, 'Upgrade', 2)).toBe(false);
    // 2. recognisable update from Upgrade reaches Original.
    mark(U, 'Upgrade', 3, 'step 2');
    expect(has(O, 'Original', 3)).toBe(true);
    // 3. stop both agents.
    expect(ok(O, 'ttAdmin', ['-repStop', 'Original'])).toContain('Replication Manually Started    : False');
    ok(U, 'ttAdmin', ['-repStop', 'Upgrade']);
    // 4. static ports on Original | stop Upgrade -> Original.
    ok(O, 'ttIsql', ['-connStr', 'dsn=Original', '-e', ports('Original')]);
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-state', 'stop']);
    // 5. backup Upgrade.
    ok(U, 'ttMigrate', ['-c', 'DSN=Upgrade'.replace('DSN=', ''), backupPath(U, 'upgrade.dat')]);
    expect(isCompleteTtBackup(backupPath(U, 'upgrade.dat'))).toBe(true);
    // 6. restart agent on Original | destroy Upgrade.
    ok(O, 'ttAdmin', ['-repStart', 'Original']);
    ok(U, 'ttDestroy', ['Upgrade']);
    expect(isql(U, 'Upgrade', 'select count(*) from app.orders').stdout).toContain('833: Data store');
    // 7. resume Original -> Upgrade | install the new release.
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-name', 'Upgrade', '-state', 'start']);
    mark(O, 'Original', 4, 'during upgrade');
    installTimesTenRelease(lab.shared, U, '18.1.4.1.0');
    expect(ok(U, 'ttVersion')).toContain('TimesTen Release 18.1.4.1.0');
    // 8. restore with the new release.
    ok(U, 'ttMigrate', ['-r', '-dsn', 'Upgrade', backupPath(U, 'upgrade.dat')]);
    // 9. migrate the replication definitions.
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-self', '-upgrade']);
    // 10. static ports on Upgrade.
    ok(U, 'ttIsql', ['-connStr', 'dsn=Upgrade', '-e', ports('Upgrade')]);
    // 11. stop/start the receiver.
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-state', 'stop']);
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-state', 'start']);
    // 12. start the agent on Upgrade: the updates held on Original arrive.
    ok(U, 'ttAdmin', ['-repStart', 'Upgrade']);
    expect(has(U, 'Upgrade', 2)).toBe(true);
    expect(has(U, 'Upgrade', 4)).toBe(true);
    // 13. a recognisable update from Original reaches Upgrade, and back.
    mark(O, 'Original', 5, 'step 13');
    expect(has(U, 'Upgrade', 5)).toBe(true);
    mark(U, 'Upgrade', 6, 'upgrade to original');
    expect(has(O, 'Original', 6)).toBe(true);
    // 15. pause both ways; 16. stop both agents.
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-name', 'Upgrade', '-state', 'pause']);
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-state', 'pause']);
    ok(O, 'ttAdmin', ['-repStop', 'Original']);
    ok(U, 'ttAdmin', ['-repStop', 'Upgrade']);
    mark(U, 'Upgrade', 7, 'logged after step 15');
    // 17. backup Original; 18. destroy; 19. restore into the new release.
    ok(O, 'ttMigrate', ['-c', 'Original', backupPath(O, 'original.dat')]);
    ok(O, 'ttDestroy', ['Original']);
    installTimesTenRelease(lab.shared, O, '18.1.4.1.0');
    ok(O, 'ttMigrate', ['-r', 'Original', backupPath(O, 'original.dat')]);
    // 20. migrate definitions | reset the bookmark on Upgrade.
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-self', '-upgrade']);
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-reset']);
    // 21. start the agent on Original; 22. resume Upgrade -> Original (Upgrade's agent too).
    ok(O, 'ttAdmin', ['-repStart', 'Original']);
    ok(U, 'ttAdmin', ['-repStart', 'Upgrade']);
    expect(has(O, 'Original', 7)).toBe(false);
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-state', 'start']);
    // 23. updates logged since step 15 and new ones reach Original.
    expect(has(O, 'Original', 7)).toBe(true);
    mark(U, 'Upgrade', 8, 'final');
    expect(has(O, 'Original', 8)).toBe(true);
    const s = readTimesTenState(lab.shared);
    expect(s.stores.Original).toMatchObject({ release: '18.1.4.1.0', schemeRelease: '18.1.4.1.0', agent: 'running', exists: true });
    expect(s.stores.Upgrade).toMatchObject({ release: '18.1.4.1.0', schemeRelease: '18.1.4.1.0', agent: 'running' });
    expect(
      ttRows(lab.shared, 'Original')
        .map((r) => r.ID)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(lab.commands(U).some((c) => c.tool === 'ttMigrate' && c.argv[0] === '-r' && c.exit === 0)).toBe(true);
  });

  it('stop instead of pause at step 1 loses the updates made on Original meanwhile', () => {
    setup({ staticPorts: true });
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-name', 'Upgrade', '-state', 'stop']);
    mark(O, 'Original', 10, 'lost');
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-name', 'Upgrade', '-state', 'start']);
    expect(has(U, 'Upgrade', 10)).toBe(false);
    mark(O, 'Original', 11, 'after restart');
    expect(has(U, 'Upgrade', 11)).toBe(true);
  });

  it('steps out of order fail like the real tools', () => {
    setup();
    // ALTER REPLICATION while the agent runs.
    const r1 = isql(O, 'Original', 'alter replication repl.scheme alter store Upgrade on upgradehost set port 22011');
    expect(r1.code).toBe(1);
    expect(r1.stdout).toMatch(/8034: .*replication agent is running/);
    // Destroy while the agent runs.
    const r2 = lab.run(U, 'ttDestroy', ['Upgrade']);
    expect(r2.code).toBe(1);
    expect(r2.out).toMatch(/in use/);
    // DSN of the other host.
    expect(lab.run(U, 'ttIsql', ['-connStr', 'dsn=Original', '-e', 'quit']).stdout).toContain('Data source name not found');
    ok(U, 'ttAdmin', ['-repStop', 'Upgrade']);
    ok(U, 'ttMigrate', ['-c', 'Upgrade', backupPath(U, 'u.dat')]);
    // Restore with the old release's ttMigrate.
    ok(U, 'ttDestroy', ['Upgrade']);
    const r3 = lab.run(U, 'ttMigrate', ['-r', 'Upgrade', backupPath(U, 'u.dat')]);
    expect(r3.code).toBe(1);
    expect(r3.out).toMatch(/NEW release/);
    // -self -upgrade before the restore: the store does not exist.
    const r4 = lab.run(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-self', '-upgrade']);
    expect(r4.code).toBe(1);
    expect(r4.out).toMatch(/TT0833/);
    installTimesTenRelease(lab.shared, U);
    ok(U, 'ttMigrate', ['-r', 'Upgrade', backupPath(U, 'u.dat')]);
    // Agent start before -self -upgrade.
    const r5 = lab.run(U, 'ttAdmin', ['-repStart', 'Upgrade']);
    expect(r5.code).toBe(1);
    expect(r5.out).toMatch(/-self -upgrade/);
    // Without static ports and the stop/start of step 11, nothing flows between the releases.
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-self', '-upgrade']);
    ok(U, 'ttAdmin', ['-repStart', 'Upgrade']);
    mark(O, 'Original', 20, 'no static ports');
    expect(has(U, 'Upgrade', 20)).toBe(false);
    expect(ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-showstatus'])).toMatch(/no static ports/);
  });

  it('Temporary=1: restore needs ttAdmin -ramLoad first; ttAdmin -ramUnload drops the store', () => {
    setup({ temporary: 1 });
    ok(U, 'ttAdmin', ['-repStop', 'Upgrade']);
    ok(U, 'ttMigrate', ['-c', 'Upgrade', backupPath(U, 'u.dat')]);
    ok(U, 'ttAdmin', ['-ramUnload', 'Upgrade']);
    expect(readTimesTenState(lab.shared).stores.Upgrade.exists).toBe(false);
    installTimesTenRelease(lab.shared, U);
    const r = lab.run(U, 'ttMigrate', ['-r', 'Upgrade', backupPath(U, 'u.dat')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/TT0707/);
    ok(U, 'ttAdmin', ['-ramLoad', 'Upgrade']);
    ok(U, 'ttMigrate', ['-r', 'Upgrade', backupPath(U, 'u.dat')]);
    expect(readTimesTenState(lab.shared).stores.Upgrade).toMatchObject({
      exists: true,
      release: '18.1.4.1.0',
      schemeRelease: '11.2.2.8.0',
    });
  });

  it('a failed backup leaves a partial file and the store intact', () => {
    setup({ backupFails: true });
    ok(U, 'ttAdmin', ['-repStop', 'Upgrade']);
    const r = lab.run(U, 'ttMigrate', ['-c', 'Upgrade', backupPath(U, 'u.dat')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No space left on device/);
    expect(fs.existsSync(backupPath(U, 'u.dat'))).toBe(true);
    expect(isCompleteTtBackup(backupPath(U, 'u.dat'))).toBe(false);
    expect(readTimesTenState(lab.shared).stores.Upgrade.exists).toBe(true);
    installTimesTenRelease(lab.shared, U);
    expect(lab.run(U, 'ttMigrate', ['-r', 'Upgrade', backupPath(U, 'u.dat')]).out).toMatch(/not a valid migration file/);
  });

  it('too little room on /backup fails the backup; df shows it', () => {
    setup({ upgrade: { stateDir: lab.hosts[U]!.state, backupDir: lab.hosts[U]!.backup, backupFreeKB: 1000 } });
    expect(ok(U, 'df', ['-k', '/backup'])).toMatch(/\s1000\s+\d+% \/backup/);
    ok(U, 'ttAdmin', ['-repStop', 'Upgrade']);
    expect(lab.run(U, 'ttMigrate', ['-c', 'Upgrade', backupPath(U, 'u.dat')]).code).toBe(1);
  });

  it('lists a table without primary key; MONITOR; ttIsql errors and exit codes; not a TimesTen host', () => {
    setup({ tableWithoutPk: true });
    const r = isql(O, 'Original', TT_TABLES_WITHOUT_PK_SQL);
    expect(r.stdout).toContain('< APP, AUDIT_LOG >');
    expect(r.stdout).toContain('1 row found.');
    expect(isql(O, 'Original', 'MONITOR').stdout).toMatch(/PERM_IN_USE_SIZE:\s+262144/);
    const bad = isql(O, 'Original', 'selec 1');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('1001: Syntax error');
    const dup = isql(O, 'Original', "insert into app.orders values (100, 1, 'x', 1)");
    expect(dup.stdout).toContain('907: Unique constraint');
    // Interactive use through stdin.
    const inter = lab.run(O, 'ttIsql', ['Original'], { input: 'select count(*) from app.customers;\nquit;\n' });
    expect(inter.stdout).toContain('Command> ');
    expect(inter.stdout).toContain('< 3 >');
    expect(lab.run(O, 'ttIsql', ['-v', '1'], { env: { LAB_HOST: 'elsewhere' } }).code).toBe(127);
  });

  /** Steps 1 to 16 of the seed (no writes): both stores on the new release, both ways paused, agents stopped. */
  const upgradeUpgradeSideThenPause = () => {
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-name', 'Upgrade', '-state', 'pause']);
    ok(O, 'ttAdmin', ['-repStop', 'Original']);
    ok(U, 'ttAdmin', ['-repStop', 'Upgrade']);
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-state', 'stop']);
    ok(U, 'ttMigrate', ['-c', 'Upgrade', backupPath(U, 'u.dat')]);
    ok(O, 'ttAdmin', ['-repStart', 'Original']);
    ok(U, 'ttDestroy', ['Upgrade']);
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-name', 'Upgrade', '-state', 'start']);
    installTimesTenRelease(lab.shared, U);
    ok(U, 'ttMigrate', ['-r', 'Upgrade', backupPath(U, 'u.dat')]);
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-self', '-upgrade']);
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-state', 'stop']);
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-state', 'start']);
    ok(U, 'ttAdmin', ['-repStart', 'Upgrade']);
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-name', 'Upgrade', '-state', 'pause']);
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-state', 'pause']);
    ok(O, 'ttAdmin', ['-repStop', 'Original']);
    ok(U, 'ttAdmin', ['-repStop', 'Upgrade']);
  };

  it("-reset clears the MASTER's bookmark for the named subscriber: needed when the master was re-created by ttMigrate", () => {
    setup({ staticPorts: true });
    // A restored master's bookmarks point into its old log: it sends nothing until -reset (or stop).
    upgradeUpgradeSideThenPause();
    ok(O, 'ttMigrate', ['-c', 'Original', backupPath(O, 'o.dat')]);
    ok(O, 'ttDestroy', ['Original']);
    installTimesTenRelease(lab.shared, O);
    ok(O, 'ttMigrate', ['-r', 'Original', backupPath(O, 'o.dat')]);
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-self', '-upgrade']);
    ok(O, 'ttAdmin', ['-repStart', 'Original']);
    ok(U, 'ttAdmin', ['-repStart', 'Upgrade']);
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-name', 'Upgrade', '-state', 'start']);
    mark(O, 'Original', 30, 'from the re-created Original');
    expect(has(U, 'Upgrade', 30)).toBe(false);
    expect(ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-showstatus'])).toMatch(/previous incarnation of Original/);
    // The subscriber's side is not what -reset touches: resetting Upgrade's bookmark for Original does not help.
    ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-reset']);
    expect(has(U, 'Upgrade', 30)).toBe(false);
    ok(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-name', 'Upgrade', '-reset']);
    expect(has(U, 'Upgrade', 30)).toBe(true);
  });

  it('after -reset the updates logged while paused are sent, unless the scenario takes "reset to the newest transaction" literally', () => {
    for (const resetSkipsPending of [false, true]) {
      setup({ staticPorts: true, resetSkipsPending });
      upgradeUpgradeSideThenPause();
      mark(U, 'Upgrade', 40, 'logged after step 15');
      expect(ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-bookmark'])).toMatch(/hold LSN \.+ (\d+)\/0\n.*Last written LSN \.+ \1\/1\n/s);
      ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-reset']);
      const hold = ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-bookmark']).match(/hold LSN \.+ (\S+)/)![1];
      expect(hold?.endsWith('/1')).toBe(resetSkipsPending);
      ok(O, 'ttAdmin', ['-repStart', 'Original']);
      ok(U, 'ttAdmin', ['-repStart', 'Upgrade']);
      ok(U, 'ttRepAdmin', ['-dsn', 'Upgrade', '-receiver', '-name', 'Original', '-state', 'start']);
      mark(U, 'Upgrade', 41, 'final');
      expect(has(O, 'Original', 41)).toBe(true);
      expect(has(O, 'Original', 40)).toBe(!resetSkipsPending);
    }
  });

  it('ttIsql refuses SQL it does not model instead of answering any query on the catalog', () => {
    setup();
    for (const sql of [
      'select tblname from sys.tables',
      "select t.tblowner, t.tblname from sys.tables t where t.tblowner <> 'SYS'",
      'select * from sys.indexes',
      TT_TABLES_WITHOUT_PK_SQL.replace('0x01', '1 or 1=1'),
      'update app.orders set qty = 1',
    ]) {
      const r = isql(O, 'Original', sql);
      expect(r.code, sql).toBe(1);
      expect(r.stdout, sql).toMatch(/not modelled by the lab ttIsql/);
    }
    // The one modelled shape is evaluated, system tables included when not excluded.
    const all = isql(O, 'Original', TT_TABLES_WITHOUT_PK_SQL.replace("'SYS','TTREP','GRID'", "'SYS'"));
    expect(all.stdout).toContain('< TTREP, REPPEERS >');
    expect(all.stdout).toContain('2 rows found.');
    const primary = isql(O, 'Original', TT_TABLES_WITHOUT_PK_SQL.replace('isunique', 'isprimary'));
    expect(primary.stdout).toContain('< APP, RATES >');
  });

  it('a failed restore leaves a partial store: restoring again fails until it is destroyed', () => {
    setup({ restoreFailsOnce: ['Upgrade'] });
    ok(U, 'ttAdmin', ['-repStop', 'Upgrade']);
    ok(U, 'ttMigrate', ['-c', 'Upgrade', backupPath(U, 'u.dat')]);
    ok(U, 'ttDestroy', ['Upgrade']);
    installTimesTenRelease(lab.shared, U);
    const r1 = lab.run(U, 'ttMigrate', ['-r', 'Upgrade', backupPath(U, 'u.dat')]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/TT0802/);
    expect(readTimesTenState(lab.shared).stores.Upgrade).toMatchObject({ exists: true, partial: true });
    const r2 = lab.run(U, 'ttMigrate', ['-r', 'Upgrade', backupPath(U, 'u.dat')]);
    expect(r2.code).toBe(1);
    expect(r2.out).toMatch(/TT2207/);
    ok(U, 'ttDestroy', ['Upgrade']);
    ok(U, 'ttMigrate', ['-r', 'Upgrade', backupPath(U, 'u.dat')]);
    expect(Object.keys(readTimesTenState(lab.shared).stores.Upgrade.tables)).toHaveLength(4);
  });

  it('access control: the utilities ask for a user ID and password unless the DSN carries them', () => {
    setup({ accessControl: { uid: 'ttadm', pwd: 's3cret', credentialsInDsn: { [U]: true } } });
    const r = lab.run(O, 'ttRepAdmin', ['-dsn', 'Original', '-receiver', '-list']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Enter User ID: ');
    expect(r.stderr).toMatch(/TT7001/);
    expect(lab.run(O, 'ttIsql', ['-connStr', 'dsn=Original', '-e', 'quit;']).stdout).toContain('Enter User ID: ');
    expect(ok(O, 'ttAdmin', ['-query', 'Original'], 'ttadm\ns3cret\n')).toContain('Replication Manually Started');
    expect(ok(U, 'ttAdmin', ['-query', 'Upgrade'])).not.toContain('Enter User ID');
  });
});
