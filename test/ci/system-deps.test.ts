/**
 * `npm test` sets up what it needs (pretest: .ci/install-system-deps.sh): as root it installs the
 * missing Debian packages, otherwise it stops at once with one line naming what is missing and
 * the command that installs it. dpkg-query and apt-get are replaced on PATH by recording fakes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const SCRIPT = readFileSync('.ci/install-system-deps.sh', 'utf8');
const bin = mkdtempSync(join(tmpdir(), 'runbook-deps-'));
chmodSync(bin, 0o755);
afterAll(() => rmSync(bin, { recursive: true, force: true }));

/** A dpkg-query that reports `missing` packages as not installed and the others as installed. */
function fakeDpkg(missing: string[]): void {
  writeFileSync(
    join(bin, 'dpkg-query'),
    `#!/bin/sh\nfor p in ${missing.join(' ')}; do [ "$p" = "$3" ] && { echo "unknown ok not-installed"; exit 1; }; done\necho "install ok installed"\n`,
    { mode: 0o755 },
  );
  writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\necho "$*" >> ${bin}/apt-get.log\n`, { mode: 0o755 });
}

/** Runs the script (from standard input, so the user needs no access to the worktree). */
function runScript(asUser: string | null) {
  const env = { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: '/', CI: 'false' };
  const [cmd, args] = asUser ? ['/usr/sbin/runuser', ['-u', asUser, '--', 'bash', '-s']] : ['bash', ['-s']];
  return spawnSync(cmd, args, { input: SCRIPT, env, encoding: 'utf8', timeout: 30_000 });
}

it('npm test runs the system check first, and CI runs the README test command', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
  expect(pkg.scripts.pretest).toBe('bash .ci/install-system-deps.sh');
  expect(readFileSync('.ci/run', 'utf8')).toMatch(/^npm test\b/m);
  expect(readFileSync('README.md', 'utf8')).toMatch(/^npm test$/m);
});

it('not root, packages missing: one line naming them and the command that installs them, exit 1', () => {
  fakeDpkg(['postgresql-15', 'slony1-2-bin']);
  const r = runScript('nobody');
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toEqual([
    'npm test needs postgresql-15 slony1-2-bin (Debian packages): install them with: sudo bash .ci/install-system-deps.sh',
  ]);
});

it('not root, nothing missing: one line saying the tests need root, exit 1', () => {
  fakeDpkg([]);
  const r = runScript('nobody');
  expect(r.status).toBe(1);
  expect(r.stderr.trimEnd().split('\n')).toEqual([
    'npm test must run as root (the tests start sshd and PostgreSQL as other users): sudo npm test',
  ]);
});

it('root, a package missing: installs the packages with apt-get', () => {
  rmSync(join(bin, 'apt-get.log'), { force: true });
  fakeDpkg(['tmux']);
  const r = runScript(null);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const calls = readFileSync(join(bin, 'apt-get.log'), 'utf8').trim().split('\n');
  expect(calls[0]).toBe('update');
  expect(calls[1]).toMatch(/^install -y --no-install-recommends openssh-server .*postgresql-15 .*tmux/);
});

it('root, nothing missing: nothing is installed and it takes no time', () => {
  rmSync(join(bin, 'apt-get.log'), { force: true });
  fakeDpkg([]);
  const r = runScript(null);
  expect(r.status).toBe(0);
  expect(() => execFileSync('cat', [join(bin, 'apt-get.log')], { stdio: 'pipe' })).toThrow();
});
