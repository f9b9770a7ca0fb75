/**
 * Dry-run of opengauss-cm-upgrade: the whole plan (snapshot), the pre-checks, the upgrade as the
 * cluster user, the post-checks against the recorded cluster state with the rollback guidance,
 * and every numbered item of seed 003 referenced by a step's `source`.
 */
import { describe, expect, it } from 'vitest';
import { commandOf, itValidatesAndPrintsItsPlan, shippedRunbook, step, text } from './dry-run.js';
import { OPENGAUSS_CM_UPGRADE_STEPS as STEPS } from './expected-steps.js';

const ID = 'opengauss-cm-upgrade';
const rb = shippedRunbook(ID);
const { cli, plan, inventory: INVENTORY } = rb;

describe(`${ID} dry-run`, () => {
  itValidatesAndPrintsItsPlan(rb, { '': ['-i', INVENTORY] });

  it('prints the plan with another disk threshold and SSH port (snapshot)', async () => {
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY, '-p', 'disk_use_max_percent=70', '-p', 'node_ssh_port=2222']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("awk -v max=70 'NR > 1");
    expect(r.stdout).toContain('ssh -p 2222 -o BatchMode=yes');
    expect(r.stdout).toMatchSnapshot();
  });

  it('keeps pre-checks, upgrade and post-checks in the order of the source', async () => {
    const p = await plan(['-i', INVENTORY]);
    expect(p.steps.map((s) => s.id)).toEqual(STEPS);
    expect(p.rollback.map((s) => s.id)).toEqual(['show-cm-state-after-failure', 'cm-rollback-guidance', 'upgrade-cm-failure-guidance']);
  });

  it('checks the rules before anything changes: cluster user, sudo for gs_checkos, no expansion, SSH trust to the cluster host names', async () => {
    const p = await plan(['-i', INVENTORY]);
    const titles = p.preconditions.map((c) => c.title).join('\n');
    expect(titles).toMatch(/cluster user/);
    expect(titles).toMatch(/gs_expansion, gs_dropnode/);
    expect(titles).toMatch(/SSH trust/);
    const trust = p.preconditions.find((c) => /SSH trust/.test(c.title));
    expect(trust?.role).toBe('nodes');
    expect(trust?.instances).toHaveLength(3);
    expect(titles).toMatch(/sudo -n runs commands as root/);
    // The host names gs_upgradectl uses come from the cluster (cm_ctl query), not the inventory.
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY]);
    expect(r.stdout).toContain('names=$(cm_ctl query -Cvd | grep -oE');
    expect(r.stdout).toContain('ssh -p 22 -o BatchMode=yes -o ConnectTimeout=10 "$h" true');
    expect(r.stdout).not.toContain('198.51.100.21 198.51.100.22');
  });

  it('runs gs_upgradectl as the cluster user (no sudo), gs_checkos alone as root on every node', async () => {
    const p = await plan(['-i', INVENTORY]);
    const upgrade = step(p, 'run-upgrade-cm');
    expect(commandOf(upgrade).sudo).toBeNull();
    expect(text(commandOf(upgrade).command)).toContain(
      'gs_upgradectl -t upgrade-cm --upgrade-package /opt/software/cm_upgrade/openGauss-3.1.3-CentOS-64bit-cm.tar.gz',
    );
    for (const s of p.steps)
      expect(
        s.action.instances.every((_, i) => !commandOf(s, i).sudo),
        s.id,
      ).toBe(s.id !== 'check-os');
    const checkos = step(p, 'check-os');
    expect(checkos.action.instances.map((_, i) => commandOf(checkos, i).sudo)).toEqual(['root', 'root', 'root']);
  });

  it('checks the package SHA-256 and its owner, group and permissions after the upload', async () => {
    const r = await cli(['exec', ID, '--dry-run', '-i', INVENTORY]);
    expect(r.stdout).toContain(
      "printf '%s  %s\\n' 4f3c2a9d1e0b7c6a5f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a openGauss-3.1.3-CentOS-64bit-cm.tar.gz | sha256sum -c -",
    );
    expect(r.stdout).toContain('expect stdout matches "^omm:dbgrp -r[w-]');
  });

  it('records cluster_state before the upgrade and compares after it, with the rollback guidance when worse', async () => {
    const p = await plan(['-i', INVENTORY]);
    expect(commandOf(step(p, 'record-cluster-state')).capture?.regex).toBe('cluster_state\\s*:\\s*([A-Za-z]+)');
    const compare = step(p, 'check-cluster-state-not-worse');
    expect(text(commandOf(compare).command)).toContain('before=<steps.record-cluster-state.value>');
    expect(text(commandOf(compare).command)).toMatch(/Normal\) echo 3 ;; Degraded\) echo 2 ;; Unavailable\) echo 1/);
    expect(compare.onFailure).toEqual({ mode: 'rollback', rollback: ['show-cm-state-after-failure', 'cm-rollback-guidance'] });
    expect(step(p, 'check-cm-version').action.instances.map((i) => i.target)).toEqual(['gauss-node1', 'gauss-node2', 'gauss-node3']);
  });

  it('refuses a malformed SHA-256 or package name (nothing run)', async () => {
    const sha = await cli(['exec', ID, '--dry-run', '-i', INVENTORY, '-p', 'package_sha256=abc']);
    expect(sha.code).toBe(3);
    expect(sha.stdout).toBe('');
    expect(sha.stderr).toContain(
      '(command line): error: --param package_sha256: parameter "package_sha256": "abc" does not match /[0-9a-f]{64}/\n',
    );
    const name = await cli(['exec', ID, '--dry-run', '-i', INVENTORY, '-p', 'package_name=x.tar.gz;reboot']);
    expect(name.code).toBe(3);
    expect(name.stdout).toBe('');
    expect(name.stderr).toContain(
      '(command line): error: --param package_name: parameter "package_name": "x.tar.gz;reboot" does not match /[A-Za-z0-9][A-Za-z0-9._-]*\\.tar\\.gz/\n',
    );
  });

  it('references every numbered item of seed 003 in some step source', async () => {
    const p = await plan(['-i', INVENTORY]);
    const sources = [...p.steps, ...p.rollback].map((s) => s.source ?? '');
    for (const s of p.steps) expect(s.source, s.id).toMatch(/^seed 003, /);
    const items = [
      ...[1, 2, 3, 4, 5].map((n) => new RegExp(`pre-check table item ${n}\\b`)),
      ...[1, 2, 3, 4].map((n) => new RegExp(`upgrade step ${n}\\b`)),
      ...[1, 2, 3].map((n) => new RegExp(`post-check step ${n}\\b`)),
    ];
    for (const re of items)
      expect(
        sources.some((s) => re.test(s)),
        String(re),
      ).toBe(true);
  });
});
