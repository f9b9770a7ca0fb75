/**
 * Secret values never reach a command line: while a step runs, no /proc/<pid>/cmdline of the
 * target (sshd, sudo, the shells) nor the fake sudo's auth.log holds them, with or without sudo,
 * in a pseudo-terminal, and for local steps; the command still gets the values.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageCommand, unstageCommand } from '../../src/targets/secret-delivery.js';
import { startSshLab, type SshLab } from '../harness/sshd.js';
import { runCli } from '../cli/run-cli.js';
import { runbookWriter } from '../runbook/builders.js';

const SECRET = 'Hunter2-s3cret value';
const OTHER = 'Other-p4ss';
let lab: SshLab;
let dir: string;
let hostTmp: string;
let inventory: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-secrets-'));
  chmodSync(dir, 0o755); // the lab user reads the lab's authorized_keys below it
  const labDir = join(dir, 'lab');
  // Pty sessions stage their values under $TMPDIR: the host's own, to see it emptied afterwards.
  hostTmp = join(labDir, 'hosts', 'app1', 'state');
  lab = await startSshLab({ labDir, hosts: [{ name: 'app1', address: '127.0.93.1', env: { TMPDIR: hostTmp } }] });
  const h = lab.host('app1');
  inventory = join(dir, 'inventory.yaml');
  writeFileSync(
    inventory,
    `name: secrets lab
ssh: { knownHostsFile: ${lab.knownHostsPath}, connectTimeout: 10s }
hosts:
  app1: { address: ${h.address}, port: ${h.port}, user: ${lab.user}, identityFile: ${lab.clientKeyPath}, vars: { workdir: ${h.stateDir} } }
roles:
  app: [app1]
`,
  );
});
afterAll(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const runbook = runbookWriter(() => dir, 'secrets-test', {
  parameters: { db_password: '{ type: secret, env: TEST_DB_PASSWORD }', api_password: '{ type: secret, env: TEST_API_PASSWORD }' },
  targets: { app: 'hosts' },
});

const exec = (rb: string, dbPassword = SECRET) =>
  runCli(['exec', rb, '-i', inventory, '--yes', '--state-dir', join(dir, 'state')], {
    env: { TEST_DB_PASSWORD: dbPassword, TEST_API_PASSWORD: OTHER },
  });

/** Waits until a file exists (the step says it is running), polling. */
async function waitForFile(path: string, pending: Promise<{ stdout: string; stderr: string }>): Promise<void> {
  let ended: { stdout: string; stderr: string } | undefined;
  void pending.then((r) => (ended = r));
  while (!existsSync(path)) {
    if (ended) throw new Error(`the step ended before ${path} appeared:\n${ended.stdout}${ended.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Shell text: says the step is running, then waits until the test releases it. */
const hold = (tag: string) =>
  `touch {{ host.vars.workdir }}/${tag}.running; while [ ! -e {{ host.vars.workdir }}/${tag}.release ]; do sleep 0.1; done`;

/** Runs a step that holds, and returns the command lines seen on the host while it held. */
async function commandLinesDuring(tag: string, rb: string): Promise<{ lines: string[]; result: Awaited<ReturnType<typeof exec>> }> {
  const work = lab.host('app1').stateDir;
  const pending = exec(rb);
  await waitForFile(join(work, `${tag}.running`), pending);
  const lines = lab.processes('app1').map((p) => p.args);
  writeFileSync(join(work, `${tag}.release`), '');
  return { lines, result: await pending };
}

function expectNoSecret(texts: string[]): void {
  for (const text of texts) {
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(OTHER);
  }
}

describe('secret values on SSH hosts', () => {
  it('reach the command (env: and {{ }} in the command) but no process command line, without sudo', async () => {
    const rb = runbook(`  - id: use
    title: uses secrets
    kind: ssh
    target: app
    env: { PGPASSWORD: '{{ params.db_password }}', DB_URL: 'postgres://u:{{ params.api_password }}@db/x' }
    stdin: "step input\\n"
    command: >-
      printf '%s|%s|%s|' "$PGPASSWORD" "$DB_URL" {{ params.db_password }} > {{ host.vars.workdir }}/seen-plain;
      cat >> {{ host.vars.workdir }}/seen-plain; ${hold('plain')}`);
    const { lines, result } = await commandLinesDuring('plain', rb);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(lines.some((l) => l.includes('RUNBOOK_SECRET_1'))).toBe(true);
    expectNoSecret(lines);
    const seen = readFileSync(join(lab.host('app1').stateDir, 'seen-plain'), 'utf8');
    expect(seen).toBe(`${SECRET}|postgres://u:${OTHER}@db/x|${SECRET}|step input\n`);
    expect(result.stdout).toContain("PGPASSWORD='***'");
  });

  it('are not in sudo command line nor in what sudo logs (auth.log)', async () => {
    const rb = runbook(`  - id: use
    title: uses secrets through sudo
    kind: ssh
    target: app
    sudo: true
    env: { PGPASSWORD: '{{ params.db_password }}' }
    command: >-
      printf '%s|%s|%s' "$PGPASSWORD" {{ params.api_password }} "$USER" > {{ host.vars.workdir }}/seen-sudo; ${hold('sudo')}`);
    const { lines, result } = await commandLinesDuring('sudo', rb);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(lines.some((l) => l.includes('sudo -n -E -- sh -c'))).toBe(true);
    expectNoSecret(lines);
    const authLog = readFileSync(join(lab.host('app1').stateDir, 'auth.log'), 'utf8');
    expect(authLog).toContain('COMMAND=sh -c');
    expectNoSecret([authLog]);
    expect(readFileSync(join(lab.host('app1').stateDir, 'seen-sudo'), 'utf8')).toBe(`${SECRET}|${OTHER}|root`);
  });

  it('in a pseudo-terminal session: staged 0600 in a 0700 directory, removed before the command runs', async () => {
    const rb = runbook(`  - id: use
    title: interactive tool with a secret
    kind: ssh
    target: app
    sudo: true
    env: { DB_PASSWORD: '{{ params.db_password }}' }
    command: >-
      printf 'Continue? [y/n] '; read a; printf '%s|%s' "$DB_PASSWORD" "$a" > {{ host.vars.workdir }}/seen-pty;
      ls -A "$TMPDIR" > {{ host.vars.workdir }}/tmp-during; ${hold('pty')}
    pty:
      answers:
        - { prompt: 'Continue\\? \\[y/n\\]', answer: 'y' }`);
    const { lines, result } = await commandLinesDuring('pty', rb);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expectNoSecret(lines);
    expectNoSecret([result.stdout, result.stderr]);
    const work = lab.host('app1').stateDir;
    expect(readFileSync(join(work, 'seen-pty'), 'utf8')).toBe(`${SECRET}|y`);
    expect(readFileSync(join(work, 'tmp-during'), 'utf8')).not.toMatch(/runbook-/);
    expect(readdirSync(hostTmp).filter((f) => f.startsWith('runbook-'))).toEqual([]);
  });
});

it('a pty session stages its values in a 0600 file inside a new 0700 directory, and refuses an existing one', async () => {
  await lab.exec('app1', stageCommand('runbook-modes'), { input: 'value\n' });
  const staged = join(hostTmp, 'runbook-modes');
  expect(statSync(staged).mode & 0o777).toBe(0o700);
  expect(statSync(join(staged, 'values')).mode & 0o777).toBe(0o600);
  await expect(lab.exec('app1', stageCommand('runbook-modes'), { input: 'other\n' })).rejects.toThrow();
  expect(readFileSync(join(staged, 'values'), 'utf8')).toBe('value\n');
  await lab.exec('app1', unstageCommand('runbook-modes'));
  expect(existsSync(staged)).toBe(false);
});

it('a value with a line break, which cannot travel as one line, fails the step before anything runs', async () => {
  const rb = runbook(`  - id: use
    title: uses a secret
    kind: ssh
    target: app
    env: { PGPASSWORD: '{{ params.db_password }}' }
    command: touch {{ host.vars.workdir }}/multiline-ran`);
  const r = await exec(rb, 'line one\nline two');
  expect(r.code).toBe(1);
  expect(r.stdout).toContain('holds a line break');
  expect(existsSync(join(lab.host('app1').stateDir, 'multiline-ran'))).toBe(false);
  expect(r.stdout + r.stderr).not.toContain('line two');
});

describe('secret values of local steps', () => {
  it('reach the shell in its environment, not its argv', async () => {
    const out = join(dir, 'local-seen');
    const rb = runbook(`  - id: use
    title: local use
    kind: local
    env: { PGPASSWORD: '{{ params.db_password }}' }
    command: >-
      printf '%s|%s' "$PGPASSWORD" {{ params.api_password }} > ${out}; echo $$ > ${out}.pid;
      while [ ! -e ${out}.release ]; do sleep 0.1; done`);
    const pending = exec(rb);
    await waitForFile(`${out}.pid`, pending);
    let pid = '';
    while (!(pid = readFileSync(`${out}.pid`, 'utf8').trim())) await new Promise((r) => setTimeout(r, 20));
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    writeFileSync(`${out}.release`, '');
    const result = await pending;
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(cmdline).toContain('RUNBOOK_SECRET_1');
    expectNoSecret([cmdline]);
    expect(readFileSync(out, 'utf8')).toBe(`${SECRET}|${OTHER}`);
  });
});

describe('files with sensitive content', () => {
  it('are created under the umask a step declares, with and without sudo, and shown in the dry-run', async () => {
    const work = lab.host('app1').stateDir;
    const rb =
      runbook(`  - { id: dump, title: dump, kind: ssh, target: app, umask: '077', command: 'echo data > {{ host.vars.workdir }}/dump-plain' }
  - { id: sudo-dump, title: dump as root, kind: ssh, target: app, sudo: true, umask: '077', command: 'echo data > {{ host.vars.workdir }}/dump-sudo' }
  - { id: other, title: other file, kind: ssh, target: app, command: 'echo data > {{ host.vars.workdir }}/not-sensitive' }`);
    const result = await exec(rb);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`$ umask 077; echo data > ${work}/dump-plain`);
    expect(statSync(join(work, 'dump-plain')).mode & 0o777).toBe(0o600);
    expect(statSync(join(work, 'dump-sudo')).mode & 0o777).toBe(0o600);
    expect(statSync(join(work, 'not-sensitive')).mode & 0o777).toBe(0o644);
  });
});

describe('values that start with "-"', () => {
  it('an inventory naming a user or database with a leading "-" is refused before anything runs: exit 3, located', async () => {
    for (const [file, where] of [
      ['leading-dash-user.yaml', ':4:38: error: hosts.app2.user: must not start with "-"'],
      ['leading-dash-database.yaml', ':8:15: error: databases.appdb.database: must not start with "-"'],
    ] as const) {
      const inv = join('fixtures', 'malformed-inventories', file);
      const r = await runCli(['exec', join('fixtures', 'example', 'example-maintenance.yaml'), '-i', inv, '--dry-run']);
      expect(r.code, r.stdout + r.stderr).toBe(3);
      expect(r.stdout + r.stderr).toContain(`${inv}${where}`);
    }
    const viaUrl = join(dir, 'leading-dash-url.yaml');
    const text = readFileSync(join('fixtures', 'malformed-inventories', 'leading-dash-database.yaml'), 'utf8');
    writeFileSync(viaUrl, text.replace(/host: .*\n\s+database: .*\n/, "url: 'postgresql://10.20.0.20/-oddname'\n"));
    const r = await runCli(['exec', join('fixtures', 'example', 'example-maintenance.yaml'), '-i', viaUrl, '--dry-run']);
    expect(r.code, r.stdout + r.stderr).toBe(3);
    expect(r.stdout + r.stderr).toContain('database appdb: its database (from url, service or PG*) must not start with "-"');
  });
});
