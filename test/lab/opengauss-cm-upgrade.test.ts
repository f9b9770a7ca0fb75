/**
 * opengauss-cm-upgrade end to end in the lab: a three-node openGauss cluster (real sshd each, the
 * fakes gs_upgradectl, cm_ctl, gs_om, gs_checkos and df on PATH, /opt/huawei and /opt/software per
 * node, the cluster state shared in $LAB_SHARED/opengauss.json). The real engine runs the runbook
 * in-process; a scripted operator confirms the manual steps and uploads the CM package made by
 * `makeCmPackage` when the runbook asks for it.
 *
 * The lab's sshd admits only `runbook-lab`, so that account plays the cluster user omm:
 * cluster_user and cluster_group are `runbook-lab` (the runbook checks `id -un` and the package's
 * owner against them; only gs_checkos runs through the fake sudo, as root). The environment is a
 * separate env file (--sep-env-file) at /opt/huawei/omm_env, and the fakes' fallback env file is
 * not written, so a step that forgot to source it would fail with [GAUSS-51800]. The cluster's
 * own host names (db1..db3, what gs_upgradectl uses) differ from the inventory's: SSH trust between
 * the nodes is the lab client key in ~runbook-lab/.ssh, bound on every node, with an ssh config
 * that maps those names to the nodes' addresses.
 *
 * The fakes behave like the vendor's tools, not like the runbook expects: gs_checkos checks only
 * the local node without -h and only a subset of items as a non-root user; every node has its own
 * CM version; backups of earlier upgrades stay in $PGHOST; gs_upgradectl logs to $GAUSSLOG/om.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  provisionOpenGauss,
  makeCmPackage,
  readOpenGaussState,
  listCmBackups,
  readCommands,
  OPENGAUSS_PGHOST,
  CM_UPGRADE_DIR,
  type CmPackage,
  type OpenGaussLabOptions,
  type OpenGaussNodeOptions,
} from '../../fixtures/lab/opengauss/provision.js';
import { giveToLab } from '../../fixtures/fakes/lib/provision.js';
import { startSshLab, type SshLab } from '../harness/sshd.js';
import { LAB_HOME } from '../harness/lab-user.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { RunSummary } from '../../src/engine/executor.js';
import { outputOf, runInLab, statusOf, type LabRun, type Manual } from './run-in-lab.js';
import { OPENGAUSS_CM_UPGRADE_STEPS as STEPS } from '../runbooks/expected-steps.js';

const ID = 'opengauss-cm-upgrade';
const NODES = ['gauss-node1', 'gauss-node2', 'gauss-node3'] as const;
type Node = (typeof NODES)[number];
const UPGRADE_NODE: Node = 'gauss-node1';
const OLD_CM = '3.1.0';
const NEW_CM = '3.1.3';
const ENV_FILE = '/opt/huawei/omm_env';
const SSH_DIR = path.join(LAB_HOME, '.ssh');
/** The cluster configuration's host names (cm_ctl, gs_upgradectl), not the inventory's. */
const CLUSTER_NAME: Record<Node, string> = { 'gauss-node1': 'db1', 'gauss-node2': 'db2', 'gauss-node3': 'db3' };

let lab: SshLab;
let dir: string;
let createdSshMountpoint = false;
let sshDir: string;
const trees = {} as Record<Node, { home: string; software: string }>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-og-lab-'));
  fs.chmodSync(dir, 0o755);
  for (const n of NODES) {
    trees[n] = { home: path.join(dir, n, 'huawei'), software: path.join(dir, n, 'software') };
    fs.mkdirSync(trees[n].home, { recursive: true });
    fs.mkdirSync(trees[n].software, { recursive: true });
  }
  sshDir = path.join(dir, 'cluster-user-ssh');
  fs.mkdirSync(sshDir);
  createdSshMountpoint = !fs.existsSync(SSH_DIR);
  lab = await startSshLab({
    hosts: NODES.map((name, i) => ({
      name,
      address: `127.0.64.${i + 1}`,
      mounts: { '/opt/huawei': trees[name].home, '/opt/software': trees[name].software, [SSH_DIR]: sshDir },
    })),
  });
  // SSH trust from every node to every node: the cluster user's key and known_hosts.
  fs.copyFileSync(lab.clientKeyPath, path.join(sshDir, 'id_ed25519'));
  fs.copyFileSync(lab.knownHostsPath, path.join(sshDir, 'known_hosts'));
  writeSshConfig([...NODES]);
  for (const f of ['', 'id_ed25519', 'known_hosts']) giveToLab(path.join(sshDir, f));
  fs.chmodSync(sshDir, 0o700);
  fs.chmodSync(path.join(sshDir, 'id_ed25519'), 0o600);
}, 180_000);

afterAll(async () => {
  await lab?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  // The empty mountpoint startSshLab made in the real ~runbook-lab (only if this file made it).
  if (createdSshMountpoint) {
    try {
      fs.rmdirSync(SSH_DIR);
    } catch {
      /* not empty or gone: leave it */
    }
  }
});

/**
 * The cluster user's ssh config: the cluster host names of these nodes resolve to their addresses
 * (and the node a scenario's expansion is adding, gauss-new, to node3's).
 */
function writeSshConfig(nodes: Node[]): void {
  const file = path.join(sshDir, 'config');
  fs.writeFileSync(
    file,
    [...nodes.map((n) => [CLUSTER_NAME[n], lab.host(n).address]), ['gauss-new', lab.host('gauss-node3').address]]
      .map(([name, address]) => `Host ${name}\n  HostName ${address}\n  IdentityFile ${SSH_DIR}/id_ed25519\n`)
      .join(''),
  );
  giveToLab(file);
  fs.chmodSync(file, 0o600);
}

const shared = () => lab.host(UPGRADE_NODE).sharedDir;
const pghostOf = (n: Node) => path.join(trees[n].home, 'tmp');
const emptyDir = (d: string) => {
  for (const f of fs.readdirSync(d)) fs.rmSync(path.join(d, f), { recursive: true, force: true });
};

/**
 * Fresh cluster (CM 3.1.0, OM 3.1.1, Normal, disks at 42 %) and the official CM 3.1.3 package in
 * a download directory; returns the package and the SHA-256 published next to it (its .sha256).
 */
function provision(
  extra: Partial<OpenGaussLabOptions> = {},
  pkgOpts: Parameters<typeof makeCmPackage>[1] = {},
  nodeExtra: Partial<Record<Node, Partial<OpenGaussNodeOptions>>> = {},
): { pkg: CmPackage; published: string } {
  for (const n of NODES) {
    emptyDir(trees[n].home);
    emptyDir(trees[n].software);
    fs.rmSync(path.join(lab.host(n).stateDir, 'commands.log'), { force: true });
  }
  provisionOpenGauss({
    sharedDir: shared(),
    envFile: false,
    diskUsePercent: 42,
    cmVersion: OLD_CM,
    nodes: NODES.map((host) => ({
      host,
      stateDir: lab.host(host).stateDir,
      homeDir: trees[host].home,
      softwareDir: trees[host].software,
      ip: lab.host(host).address,
      name: CLUSTER_NAME[host],
      ...nodeExtra[host],
    })),
    ...extra,
  });
  for (const n of NODES) {
    const envFile = path.join(trees[n].home, path.basename(ENV_FILE));
    fs.writeFileSync(
      envFile,
      [
        '# openGauss cluster user environment (gs_install --sep-env-file)',
        'export GAUSSHOME=/opt/huawei/install/app',
        'export GAUSSLOG=/opt/huawei/log/omm',
        `export PGHOST=${OPENGAUSS_PGHOST}`,
        'export GAUSS_ENV=2',
        'export PGPORT=15400',
        '',
      ].join('\n'),
    );
    giveToLab(envFile);
  }
  const downloads = path.join(dir, 'download');
  fs.rmSync(downloads, { recursive: true, force: true });
  const pkg = makeCmPackage(downloads, { version: NEW_CM, ...pkgOpts });
  return { pkg, published: fs.readFileSync(pkg.sha256Path, 'utf8').trim() };
}

/** The operator's upload (upgrade step 3): the package into cm_upgrade/, owned by the cluster user, mode 600. */
const upload = (pkg: CmPackage) => () => {
  const dest = path.join(trees[UPGRADE_NODE].software, path.basename(CM_UPGRADE_DIR), path.basename(pkg.path));
  fs.copyFileSync(pkg.path, dest);
  giveToLab(dest);
  fs.chmodSync(dest, 0o600);
};

function writeInventory(pkg: CmPackage, sha256: string, params: Record<string, string | number> = {}): string {
  const hosts = lab.hosts
    .map((h) => `  ${h.name}: { address: ${h.address}, port: ${h.port}, user: ${lab.user}, identityFile: ${lab.clientKeyPath} }`)
    .join('\n');
  const all: Record<string, string | number> = {
    package_name: path.basename(pkg.path),
    package_sha256: sha256,
    new_cm_version: NEW_CM,
    cluster_user: lab.user,
    cluster_group: lab.user,
    cluster_env_file: ENV_FILE,
    node_ssh_port: lab.port,
    ...params,
  };
  const file = path.join(dir, `inventory-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(
    file,
    `name: opengauss lab
ssh:
  knownHostsFile: ${lab.knownHostsPath}
hosts:
${hosts}
roles:
  upgrade_node: ${UPGRADE_NODE}
  nodes: [${NODES.join(', ')}]
parameters:
${Object.entries(all)
  .map(([k, v]) => `  ${k}: ${typeof v === 'string' ? `'${v}'` : v}`)
  .join('\n')}
`,
  );
  return file;
}

type RunResult = LabRun;

async function run(inventory: string, manual: Manual = {}): Promise<RunResult> {
  return runInLab(ID, { inventory, manual });
}

const ids = (summary: RunSummary | null) => (summary?.steps ?? []).map((s) => s.id);
const status = statusOf;
const output = (events: RunEvent[], stepId: string, target?: Node) => outputOf(events, stepId, target, 'stdout');
const checks = (events: RunEvent[], phase: 'precondition' | 'check') =>
  events.filter((e): e is Extract<RunEvent, { type: 'check-finished' }> => e.type === 'check-finished' && e.phase === phase);
const tools = (n: Node) => readCommands(lab.host(n).stateDir).map((c) => c.tool);

/** Nothing changed: no upgrade recorded, CM and cluster as provisioned, no backup, gs_upgradectl never ran. */
function expectUnchanged(): void {
  const og = readOpenGaussState(shared());
  expect(og.upgrades).toEqual([]);
  expect(og.cmVersion).toBe(OLD_CM);
  expect(og.clusterState).toBe('Normal');
  for (const n of NODES) {
    expect(listCmBackups(pghostOf(n))).toEqual([]);
    expect(fs.readFileSync(path.join(trees[n].home, 'install', 'cm', 'version.cfg'), 'utf8')).toContain(`openGauss-${OLD_CM}`);
    expect(readCommands(lab.host(n).stateDir).filter((c) => c.tool === 'gs_upgradectl' && c.argv.includes('upgrade-cm'))).toEqual([]);
  }
}

describe(`${ID} in the lab`, () => {
  it('upgrades CM 3.1.0 -> 3.1.3 as the cluster user: pre-checks pass, the state is kept, post-checks pass', async () => {
    const { pkg, published } = provision();
    const r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    expect(r.error).toBeNull();
    expect(r.summary!.status, r.summary!.message).toBe('succeeded');
    expect(r.summary!.steps.map((s) => [s.id, s.status])).toEqual(STEPS.map((id) => [id, 'succeeded']));
    expect(r.manual.map((m) => m.stepId)).toEqual(['obtain-package', 'upload-package']);
    expect(r.manual[0]!.instructions).toContain(`package_sha256 parameter of this run: ${pkg.sha256}`);
    expect(r.retries).toEqual([]);

    // Every precondition on every node, SSH trust from node to node included.
    const pre = checks(r.events, 'precondition');
    expect(pre).toHaveLength(5 * NODES.length);
    expect(output(r.events, 'check-os', 'gauss-node3')).toMatch(/A14\./);
    expect(pre.filter((c) => c.status !== 'succeeded')).toEqual([]);
    // The upload check: owner, group, mode and the published SHA-256.
    expect(checks(r.events, 'check')).toEqual([expect.objectContaining({ stepId: 'upload-package', status: 'succeeded' })]);

    // The cluster state recorded before the upgrade and compared after it.
    const recorded = r.events.find((e) => e.type === 'step-finished' && e.stepId === 'record-cluster-state');
    expect(recorded).toMatchObject({ value: 'Normal' });
    expect(output(r.events, 'check-cluster-state-not-worse')).toContain('cluster_state before the upgrade: Normal, now: Normal');
    expect(output(r.events, 'check-cluster-user')).toBe(`${lab.user}\n`);

    // gs_upgradectl ran once, on the upgrade node, as the cluster user; gs_checkos as root on every node.
    const upgradeOutput = output(r.events, 'run-upgrade-cm');
    expect(upgradeOutput).toContain('Cluster origin state is : [Normal]');
    expect(upgradeOutput.trim().split('\n').at(-1)).toBe('Upgrade CM component successfully.');
    const pkgOnNode = `${CM_UPGRADE_DIR}/${path.basename(pkg.path)}`;
    expect(readCommands(lab.host(UPGRADE_NODE).stateDir).filter((c) => c.tool === 'gs_upgradectl')).toEqual([
      expect.objectContaining({ argv: ['--help'], exit: 0 }),
      expect.objectContaining({ argv: ['-t', 'upgrade-cm', '--upgrade-package', pkgOnNode], exit: 0 }),
    ]);
    for (const n of NODES) {
      const sudo = readCommands(lab.host(n).stateDir).filter((c) => c.tool === 'sudo');
      expect(sudo.length).toBeGreaterThan(0);
      expect(
        sudo.every((c) => /^(true|\. \S+ && gs_checkos -i A)$/.test(c.argv.at(-1)!)),
        JSON.stringify(sudo),
      ).toBe(true);
      expect(readCommands(lab.host(n).stateDir).filter((c) => c.tool === 'gs_checkos')).toHaveLength(1);
    }
    // The other nodes were only read (df, cm_ctl, gs_checkos through sudo).
    for (const n of ['gauss-node2', 'gauss-node3'] as const)
      expect(new Set(tools(n))).toEqual(new Set(['df', 'cm_ctl', 'sudo', 'gs_checkos']));

    // The fake cluster: new CM version, one upgrade, the old CM kept in $PGHOST, still Normal.
    const og = readOpenGaussState(shared());
    expect(og.cmVersion).toBe(NEW_CM);
    expect(og.clusterState).toBe('Normal');
    expect(og.upgrades).toHaveLength(1);
    const backups = listCmBackups(pghostOf(UPGRADE_NODE));
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatch(new RegExp(`^upgrade_cm_backup\\.tar\\.gz-${OLD_CM.replace(/\./g, '\\.')}-\\d{14}\\.tar\\.gz$`));
    expect(og.upgrades[0]).toMatchObject({
      host: UPGRADE_NODE,
      from: OLD_CM,
      to: NEW_CM,
      package: pkgOnNode,
      backup: `${OPENGAUSS_PGHOST}/${backups[0]}`,
      result: 'success',
    });
    expect(output(r.events, 'check-cm-backup')).toContain(`backup of the previous CM made by this run: ${OPENGAUSS_PGHOST}/${backups[0]}`);
    // The backup is a real tar.gz of the previous CM.
    const tar = spawnSync('tar', ['-xzOf', path.join(pghostOf(UPGRADE_NODE), backups[0]!), './version.cfg'], { encoding: 'utf8' });
    expect(tar.stdout).toMatch(new RegExp(`^openGauss-${OLD_CM.replace(/\./g, '\\.')}\\n`));
    // cm_ctl -V shows the new version on every node.
    for (const n of NODES) expect(output(r.events, 'check-cm-version', n)).toContain(`(openGauss CM ${NEW_CM} build `);
    const versionChecks = r.events.filter((e) => e.type === 'instance-finished' && e.stepId === 'check-cm-version');
    expect(versionChecks.map((e) => (e as { target: string }).target).sort()).toEqual([...NODES]);
  }, 120_000);

  it('cluster Degraded after the upgrade (the tool reports success): stops at the state comparison with the rollback guidance', async () => {
    const { pkg, published } = provision({ degradeAfterUpgrade: true });
    const r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    expect(r.error).toBeNull();
    expect(r.summary!.status).toBe('failed');
    expect(r.summary!.message).toBe('step check-cluster-state-not-worse failed');
    expect(status(r.summary, 'run-upgrade-cm')).toBe('succeeded');
    expect(output(r.events, 'run-upgrade-cm')).toContain('Cluster state is : [Degraded]');
    expect(status(r.summary, 'check-cluster-state-not-worse')).toBe('failed');
    expect(output(r.events, 'check-cluster-state-not-worse')).toContain('cluster_state before the upgrade: Normal, now: Degraded');

    // The rollback of that step: the state and the backups, then the guidance; nothing after it.
    expect(r.events.find((e) => e.type === 'rollback-started')).toMatchObject({
      stepId: 'check-cluster-state-not-worse',
      rollback: ['show-cm-state-after-failure', 'cm-rollback-guidance'],
    });
    expect(ids(r.summary)).toEqual([
      ...STEPS.slice(0, STEPS.indexOf('check-cluster-state-not-worse') + 1),
      'show-cm-state-after-failure',
      'cm-rollback-guidance',
    ]);
    expect(status(r.summary, 'show-cm-state-after-failure')).toBe('succeeded');
    expect(status(r.summary, 'cm-rollback-guidance')).toBe('succeeded');
    for (const id of ['check-cm-backup', 'check-cm-version'])
      expect(r.events.some((e) => e.type === 'step-started' && e.stepId === id)).toBe(false);

    const state = output(r.events, 'show-cm-state-after-failure');
    expect(state).toContain('cluster_state recorded before the upgrade: Normal');
    expect(state).toMatch(/cluster_state\s+: Degraded/);
    expect(state).toContain('Need repair(Disconnected)');
    expect(state).toMatch(new RegExp(`upgrade_cm_backup\\.tar\\.gz-${OLD_CM.replace(/\./g, '\\.')}-\\d{14}\\.tar\\.gz`));

    const guidanceTitle = r.events.find((e) => e.type === 'step-started' && e.stepId === 'cm-rollback-guidance');
    expect(guidanceTitle).toMatchObject({
      phase: 'rollback',
      title: 'The cluster is worse than before the CM upgrade: restore the previous CM component',
    });
    expect(r.manual.map((m) => m.stepId)).toEqual(['obtain-package', 'upload-package', 'cm-rollback-guidance']);
    const guidance = r.manual.at(-1)!.instructions;
    expect(guidance).toContain('worse than the state recorded before it\n(Normal). The run stops here.');
    expect(guidance).toContain(`The previous CM component is kept in $PGHOST on ${UPGRADE_NODE} as`);
    expect(guidance).toContain('upgrade_cm_backup.tar.gz-<previous version>-<timestamp>.tar.gz');
    expect(guidance).toMatch(/restore\s+the previous CM component from it on every node/);
    expect(guidance).toContain('cluster_state Normal and cm_ctl -V the previous version');

    // The fake cluster: upgraded but Degraded, the backup for the restore is there.
    const og = readOpenGaussState(shared());
    expect(og.clusterState).toBe('Degraded');
    expect(og.cmVersion).toBe(NEW_CM);
    expect(og.upgrades.map((u) => u.result)).toEqual(['success']);
    expect(listCmBackups(pghostOf(UPGRADE_NODE))).toHaveLength(1);
  }, 120_000);

  it('node expansion running on a node: the precondition fails and nothing is run', async () => {
    const { pkg, published } = provision({ expansionInProgress: true });
    // gs_expansion running on gauss-node2 (its own process group, ended by its id below).
    const started = await lab.exec(
      'gauss-node2',
      "setsid sh -c 'sleep 600; exit 0' gs_expansion -U omm -G dbgrp -X /opt/software/cluster_config.xml -h 192.168.0.14 </dev/null >/dev/null 2>&1 & echo $!",
    );
    const pid = Number(started.stdout.trim());
    expect(pid).toBeGreaterThan(1);
    let r: RunResult;
    try {
      r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    } finally {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    expect(r.summary).toBeNull();
    expect(r.error?.message).toMatch(/precondition\(s\) failed; nothing was changed/);
    const pre = checks(r.events, 'precondition');
    const failed = pre.filter((c) => c.status === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    for (const c of failed) expect(c.title).toBe('No node expansion or removal (gs_expansion, gs_dropnode) is running on any node');
    // Every node sees the process here (one PID namespace); on a real cluster it is the node running it.
    expect(failed.map((c) => c.target)).toContain('gauss-node2');
    expect(r.events.some((e) => e.type === 'step-started')).toBe(false);
    expect(r.manual).toEqual([]);
    expect(fs.existsSync(path.join(trees[UPGRADE_NODE].software, 'cm_upgrade'))).toBe(false);
    // Only the preconditions' reads ran (sudo id -un, cm_ctl query for the cluster host names).
    for (const n of NODES) expect(tools(n).filter((t) => t !== 'sudo' && t !== 'cm_ctl')).toEqual([]);
    expectUnchanged();
    expect(readOpenGaussState(shared()).expansionInProgress).toBe(true);
  }, 120_000);

  it('expansion recorded by the cluster but no gs_expansion process seen: gs_upgradectl refuses, nothing changed', async () => {
    const { pkg, published } = provision({ expansionInProgress: true });
    const r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    expect(r.summary!.status).toBe('failed');
    expect(r.summary!.message).toBe('step run-upgrade-cm failed');
    // The pre-checks pass: gs_om shows cluster_state Normal (the new node is Building).
    expect(output(r.events, 'check-database-status')).toMatch(/gauss-new .* Building/);
    expect(ids(r.summary)).toEqual([
      ...STEPS.slice(0, STEPS.indexOf('run-upgrade-cm') + 1),
      'show-cm-state-after-failure',
      'upgrade-cm-failure-guidance',
    ]);
    expect(r.summary!.steps.find((s) => s.id === 'run-upgrade-cm')!.message).toMatch(/GAUSS-53026/);
    const og = readOpenGaussState(shared());
    expect(og.upgrades).toEqual([]);
    expect(og.cmVersion).toBe(OLD_CM);
    expect(listCmBackups(pghostOf(UPGRADE_NODE))).toEqual([]);
  }, 120_000);

  it('disk use over the threshold: check-disk-usage stops the run before the package directory is created', async () => {
    const { pkg, published } = provision({ diskUsePercent: 93 });
    const r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    expect(r.summary!.status).toBe('failed');
    expect(r.summary!.message).toBe('step check-disk-usage failed');
    expect(ids(r.summary)).toEqual(STEPS.slice(0, STEPS.indexOf('check-disk-usage') + 1));
    for (const n of NODES) {
      expect(output(r.events, 'check-disk-usage', n)).toContain('ABOVE THRESHOLD: /opt/huawei');
      expect(output(r.events, 'check-disk-usage', n)).toContain('ABOVE THRESHOLD: /opt/software');
      expect(output(r.events, 'check-disk-usage', n)).not.toContain('ABOVE THRESHOLD: /\n');
    }
    expect(r.manual.map((m) => m.stepId)).toEqual(['obtain-package']);
    expect(fs.existsSync(path.join(trees[UPGRADE_NODE].software, 'cm_upgrade'))).toBe(false);
    expectUnchanged();
  }, 120_000);

  it('gs_checkos root-only item Abnormal on another node: check-os (as root, on every node) stops the run', async () => {
    const { pkg, published } = provision({}, {}, { 'gauss-node3': { checkos: { A6: 'Abnormal', A13: 'Warning' } } });
    const r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    expect(r.summary!.status).toBe('failed');
    expect(r.summary!.message).toBe('step check-os failed');
    expect(ids(r.summary)).toEqual(STEPS.slice(0, STEPS.indexOf('check-os') + 1));
    expect(output(r.events, 'check-os', 'gauss-node3')).toMatch(/A6\. \[ System control parameters status \]\s+: Abnormal/);
    expect(r.summary!.steps.find((s) => s.id === 'check-os')!.message).toMatch(/^gauss-node3: /);
    expectUnchanged();
  }, 120_000);

  it('published SHA-256 does not match the package: the upload check fails and gs_upgradectl never runs', async () => {
    const { pkg, published } = provision({}, { corruptSha256: true });
    expect(published).not.toBe(pkg.sha256);
    const r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    expect(r.summary!.status).toBe('failed');
    expect(r.summary!.message).toBe('step upload-package failed');
    expect(ids(r.summary)).toEqual(STEPS.slice(0, STEPS.indexOf('upload-package') + 1));
    expect(r.retries).toHaveLength(1);
    expect(r.retries[0]).toMatch(/^check failed: /);
    const check = checks(r.events, 'check');
    expect(check).toHaveLength(1);
    expect(check[0]).toMatchObject({ stepId: 'upload-package', target: UPGRADE_NODE, status: 'failed' });
    expect(r.summary!.steps.at(-1)!.message).toMatch(/^check after the manual step failed: /);
    expectUnchanged();
  }, 120_000);

  it('upgrade-cm fails its final check: the tool rolls back, the run stops at run-upgrade-cm and shows the state', async () => {
    const { pkg, published } = provision({ upgradeFails: true });
    const r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    expect(r.summary!.status).toBe('failed');
    expect(r.summary!.message).toBe('step run-upgrade-cm failed');
    expect(r.summary!.steps.find((s) => s.id === 'run-upgrade-cm')!.message).toMatch(/exit code 1/);
    expect(output(r.events, 'run-upgrade-cm')).toMatch(
      /Cluster state check unavailable\.\nStart to rollback CM component\.\nRollback CM component files successfully\.\n$/,
    );
    expect(ids(r.summary)).toEqual([
      ...STEPS.slice(0, STEPS.indexOf('run-upgrade-cm') + 1),
      'show-cm-state-after-failure',
      'upgrade-cm-failure-guidance',
    ]);
    const state = output(r.events, 'show-cm-state-after-failure');
    // The tool's own log, found where the OM tools write it.
    expect(state).toMatch(/gs_upgradectl log: \/opt\/huawei\/log\/omm\/om\/gs_upgradectl-\S+\.log/);
    expect(state).toContain('Start to rollback CM component.');
    const guidance = output(r.events, 'upgrade-cm-failure-guidance');
    expect(guidance).toContain('$GAUSSLOG/om/gs_upgradectl');
    expect(guidance).toMatch(/cm_ctl -V[\s\S]*gauss-node1\ngauss-node2\ngauss-node3\n/);
    expect(guidance).toContain(`gs_upgradectl -t upgrade-cm --upgrade-package /opt/software/cm_upgrade/${path.basename(pkg.path)}`);
    expect(state).toContain('cluster_state recorded before the upgrade: Normal');
    expect(state).toMatch(/cluster_state\s+: Normal/);
    expect(state).toContain(`(openGauss CM ${OLD_CM} build `);
    expect(state).toContain('no upgrade_cm_backup package in PGHOST');
    expect(r.manual.map((m) => m.stepId)).toEqual(['obtain-package', 'upload-package']);

    const og = readOpenGaussState(shared());
    expect(og.cmVersion).toBe(OLD_CM);
    expect(og.clusterState).toBe('Normal');
    expect(og.upgrades).toEqual([expect.objectContaining({ from: OLD_CM, to: NEW_CM, result: 'rolled-back', backup: null })]);
    expect(listCmBackups(pghostOf(UPGRADE_NODE))).toEqual([]);
  }, 120_000);

  it('a backup left by an earlier upgrade does not count: this upgrade kept none, check-cm-backup fails', async () => {
    const { pkg, published } = provision({ backupNotKept: true });
    // The backup of an upgrade done last month, still in $PGHOST.
    const old = path.join(pghostOf(UPGRADE_NODE), 'upgrade_cm_backup.tar.gz-3.0.9-20260101120000.tar.gz');
    spawnSync('tar', ['-czf', old, '-C', trees[UPGRADE_NODE].home, 'install/cm/version.cfg']);
    const lastMonth = new Date(Date.now() - 30 * 86_400_000);
    fs.utimesSync(old, lastMonth, lastMonth);
    giveToLab(old);
    const r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    expect(r.summary!.status).toBe('failed');
    expect(r.summary!.message).toBe('step check-cm-backup failed');
    expect(output(r.events, 'check-cm-backup')).toContain("no backup of the previous CM made by this run (newer than the upgrade's start)");
    expect(status(r.summary, 'upgrade-cm-failure-guidance')).toBe('succeeded');
  }, 120_000);

  it('one node keeps the old CM although upgrade-cm reports success: cm_ctl -V per node fails there, with the guidance', async () => {
    const { pkg, published } = provision({ staleNodes: ['gauss-node3'] });
    const r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    expect(r.summary!.status).toBe('failed');
    expect(r.summary!.message).toBe('step check-cm-version failed');
    expect(status(r.summary, 'run-upgrade-cm')).toBe('succeeded');
    expect(r.summary!.steps.find((s) => s.id === 'check-cm-version')!.message).toMatch(/^gauss-node3: /);
    expect(output(r.events, 'check-cm-version', 'gauss-node3')).toContain(`(openGauss CM ${OLD_CM} build `);
    expect(output(r.events, 'check-cm-version', 'gauss-node2')).toContain(`(openGauss CM ${NEW_CM} build `);
    expect(output(r.events, 'upgrade-cm-failure-guidance')).toMatch(/run upgrade-cm\s+again/);
  }, 120_000);

  it('SSH trust by address but not by the cluster host name gs_upgradectl uses: the precondition stops the run', async () => {
    const { pkg, published } = provision();
    writeSshConfig(['gauss-node1', 'gauss-node2']); // db3 does not resolve for the cluster user
    let r: RunResult;
    try {
      r = await run(writeInventory(pkg, published), { 'upload-package': upload(pkg) });
    } finally {
      writeSshConfig([...NODES]);
    }
    expect(r.summary).toBeNull();
    expect(r.error?.message).toMatch(/precondition\(s\) failed; nothing was changed/);
    const failed = checks(r.events, 'precondition').filter((c) => c.status === 'failed');
    expect(failed.length).toBe(NODES.length);
    for (const c of failed) expect(c.title).toMatch(/SSH trust works from every node to every cluster host name/);
    expect(r.events.some((e) => e.type === 'step-started')).toBe(false);
    expectUnchanged();
  }, 120_000);
});
