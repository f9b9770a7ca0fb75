import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fakeLab, type FakeLab } from './helpers.js';
import {
  provisionOpenGauss,
  makeCmPackage,
  readOpenGaussState,
  listCmBackups,
  type OpenGaussLabOptions,
} from '../../fixtures/lab/opengauss/provision.js';

const NODES = ['gs1', 'gs2', 'gs3'];
const OMM = { LAB_EFFECTIVE_USER: 'omm' };
const ROOT = { LAB_EFFECTIVE_USER: 'root' };

describe('openGauss fakes', () => {
  let lab: FakeLab;
  beforeEach(() => {
    lab = fakeLab(NODES, ['software']);
  });
  afterEach(() => lab.cleanup());
  const setup = (o: Partial<OpenGaussLabOptions> = {}) =>
    provisionOpenGauss({
      sharedDir: lab.shared,
      // Local runs have no mount namespace: the tree is its own mountpoint.
      homeMount: lab.hosts.gs1!.tree,
      nodes: NODES.map((h) => ({
        host: h,
        stateDir: lab.hosts[h]!.state,
        homeDir: lab.hosts[h]!.tree,
        softwareDir: lab.hosts[h]!.software,
      })),
      ...o,
    });
  const run = (cmd: string, args: string[], env: Record<string, string> = OMM) => lab.run('gs1', cmd, args, { env });
  const pkg = () => makeCmPackage(path.join(lab.hosts.gs1!.software!, 'cm_upgrade'));
  const pghost = () => path.join(lab.hosts.gs1!.tree, 'tmp');

  it('pre-checks, upgrade-cm and post-checks', () => {
    setup();
    expect(run('gs_upgradectl', ['--help']).stdout).toMatch(/-t upgrade-cm --upgrade-package/);
    const p = pkg();
    expect(execFileSync('sha256sum', [p.path], { encoding: 'utf8' }).split(' ')[0]).toBe(fs.readFileSync(p.sha256Path, 'utf8').trim());
    const os = run('gs_checkos', ['-i', 'A'], ROOT).stdout;
    expect(os.match(/^ {4}A\d+\.\s*\[ .* \]\s+: Normal$/gm)).toHaveLength(14);
    expect(os).toContain('Total numbers:14. Abnormal numbers:0. Warning numbers:0.');
    expect(run('gs_om', ['-t', 'status', '--detail']).stdout).toMatch(/cluster_state\s+: Normal/);
    expect(run('cm_ctl', ['-V']).stdout).toMatch(/^cm_ctl \(openGauss CM 3\.1\.0 build \w+\) compiled at .* Release\n$/);
    const r = run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', p.path]);
    expect(r.code, r.out).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('Start to perform the upgrade of CM component in cluster.');
    expect(lines).toContain('Cluster origin state is : [Normal]');
    expect(lines.filter((l) => l === 'Cluster state is : [Normal]')).toHaveLength(3);
    expect(lines.at(-1)).toBe('Upgrade CM component successfully.');
    // Every node got the new CM; the tool logged its messages under $GAUSSLOG/om.
    for (const n of NODES) expect(lab.run(n, 'cm_ctl', ['-V'], { env: OMM }).stdout).toContain('openGauss CM 3.1.3 ');
    const logs = fs.readdirSync(path.join(lab.hosts.gs1!.tree, 'log', 'omm', 'om')).filter((f) => f.startsWith('gs_upgradectl-'));
    expect(logs).toHaveLength(1);
    expect(run('cm_ctl', ['query', '-Cvd']).stdout).toMatch(
      /\[ {3}Cluster State {3}\]\n\ncluster_state {3}: Normal\nredistributing {2}: No\nbalanced {8}: Yes\ncurrent_az {6}: AZ_ALL/,
    );
    const backups = listCmBackups(pghost());
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatch(/^upgrade_cm_backup\.tar\.gz-3\.1\.0-\d{14}\.tar\.gz$/);
    expect(run('cm_ctl', ['-V']).stdout).toContain('openGauss CM 3.1.3 build');
    expect(readOpenGaussState(lab.shared).upgrades[0]).toMatchObject({ from: '3.1.0', to: '3.1.3', result: 'success', host: 'gs1' });
  });

  it('degraded after the upgrade: the tool accepts it, cm_ctl shows Degraded', () => {
    setup({ degradeAfterUpgrade: true });
    const r = run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', pkg().path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Cluster state is : [Degraded]');
    expect(run('cm_ctl', ['query', '-Cvd']).stdout).toMatch(/cluster_state {3}: Degraded[\s\S]*Need repair/);
  });

  it('failed upgrade rolls back and exits 1', () => {
    setup({ upgradeFails: true });
    const r = run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', pkg().path]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /Cluster state check unavailable\.\nStart to rollback CM component\.\nRollback CM component files successfully\.\n$/,
    );
    expect(run('cm_ctl', ['-V']).stdout).toContain('CM 3.1.0');
    expect(listCmBackups(pghost())).toEqual([]);
  });

  it('refusals: root, no PGHOST, no package, bad packages, expansion, old OM', () => {
    setup({ envFile: false, expansionInProgress: true });
    const p = pkg();
    expect(run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', p.path], { LAB_EFFECTIVE_USER: 'root' }).stderr).toBe(
      '[GAUSS-50105] : Cannot run this script as a user with the root permission.\n',
    );
    const np = run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', p.path]);
    expect(np.code).toBe(1);
    expect(np.stderr).toMatch(/^\[GAUSS-51800\] : The environmental variable \$PGHOST is empty/);
    const env = { ...OMM, PGHOST: pghost() };
    expect(run('gs_upgradectl', ['-t', 'upgrade-cm'], env).stderr).toContain(
      "[GAUSS-50001] : Incorrect parameter. Parameter '--upgrade-package' is required",
    );
    expect(run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', '/nope.tar.gz'], env).stderr).toContain(
      '[GAUSS-50201] : The /nope.tar.gz does not exist.',
    );
    expect(run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', p.path], env).stderr).toMatch(/GAUSS-53026.*expansion/);
    setup({ envFile: false });
    const bad = makeCmPackage(path.join(lab.dir, 'bad'), { layout: 'invalid' });
    expect(run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', bad.path], env).stderr).toMatch(/upgrade_binary_list/);
    const libs = makeCmPackage(path.join(lab.dir, 'libs'), { layout: 'libs', version: '3.1.4' });
    expect(run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', libs.path], env).code).toBe(0);
    const txt = makeCmPackage(path.join(lab.dir, 'txt'), { layout: 'not-gzip' });
    expect(run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', txt.path], env).stderr).toMatch(/GAUSS-50217/);
    for (const v of ['3.0.0', '3.0.2', '3.1.0']) {
      setup({ omVersion: v });
      expect(run('gs_upgradectl', ['--help']).stdout).not.toContain('upgrade-cm');
      expect(run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', p.path]).stderr).toMatch(/GAUSS-50004/);
    }
    for (const v of ['3.0.3', '3.1.1', '5.0.0']) {
      setup({ omVersion: v });
      expect(run('gs_upgradectl', ['--help']).stdout).toContain('upgrade-cm');
    }
  });

  it('gs_checkos Abnormal item, fake df usage, not an openGauss host', () => {
    setup({
      diskUsePercent: 93,
      nodes: NODES.map((h, i) => ({
        host: h,
        stateDir: lab.hosts[h]!.state,
        homeDir: lab.hosts[h]!.tree,
        ...(i === 2 ? { checkos: { A6: 'Abnormal' as const } } : {}),
      })),
    });
    // Without -h only the local node is checked; as the cluster user the root-only items are skipped.
    expect(run('gs_checkos', ['-i', 'A'], ROOT).stdout).toContain('Abnormal numbers:0.');
    expect(lab.run('gs3', 'gs_checkos', ['-i', 'A'], { env: ROOT }).stdout).toMatch(
      /A6\. \[ System control parameters status \]\s+: Abnormal/,
    );
    const asOmm = lab.run('gs3', 'gs_checkos', ['-i', 'A'], { env: OMM }).stdout;
    expect(asOmm).not.toContain('A6.');
    expect(asOmm).toContain('Total numbers:7. Abnormal numbers:0.');
    const os = run('gs_checkos', ['-i', 'A', '-h', 'gs1,gs2,gs3'], ROOT).stdout;
    expect(os).toMatch(/A6\. \[ System control parameters status \]\s+: Abnormal/);
    expect(os).toContain('Abnormal numbers:1.');
    expect(run('gs_checkos', ['-i', 'A', '-h', 'nosuchhost'], ROOT).stderr).toContain('[GAUSS-51619]');
    expect(run('df', ['-h', '/opt/huawei']).stdout).toMatch(/93% \/opt\/huawei/);
    expect(lab.run('gs2', 'df', ['-P', '/opt/software']).stdout).toMatch(/93% \/opt\/software/);
    fs.rmSync(path.join(lab.shared, 'opengauss.json'));
    expect(run('cm_ctl', ['-V']).code).toBe(127);
  });

  it('per-node CM versions: a stale node keeps the old CM; a backup may not be kept', () => {
    setup({ staleNodes: ['gs3'], backupNotKept: true });
    const r = run('gs_upgradectl', ['-t', 'upgrade-cm', '--upgrade-package', pkg().path]);
    expect(r.code, r.out).toBe(0);
    expect(lab.run('gs2', 'cm_ctl', ['-V'], { env: OMM }).stdout).toContain('openGauss CM 3.1.3 ');
    expect(lab.run('gs3', 'cm_ctl', ['-V'], { env: OMM }).stdout).toContain('openGauss CM 3.1.0 ');
    expect(listCmBackups(pghost())).toEqual([]);
  });
});
