/**
 * Every command shown in the README's shell blocks and in `runbook --help`'s examples runs here,
 * as written, from a directory that holds the clone's fixtures/ and src/, with the outcome the
 * documentation implies. A command added to the documentation without an entry below fails the
 * test: document only what works.
 *
 * Commands that would reach an appliance run in a new network namespace (`unshare -n`: no route
 * anywhere), so the example inventories' documentation addresses fail at once and the same way
 * on every machine. The smoke example runs against the harness's PostgreSQL; its run is the
 * `<run-id>` of the journal commands.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { runCli, type CliResult } from './run-cli.js';

interface Expected {
  code: number;
  /** Matched against stdout + stderr. */
  output: RegExp;
  /** Needs the harness's PostgreSQL on loopback (not run in a network namespace). */
  network?: true;
}

// A connection failure, in a precondition too, is exit 6 (the README's table).
const CONNECT_FAILED: Expected = { code: 6, output: /cannot connect to/ };
// Without a terminal nor --yes, the pre-flight lists what the run lacks before anything runs.
const NEEDS_ANSWERS: Expected = { code: 5, output: /the run needs \d+ answers it does not have; nothing was run/ };
// The documented run is the smoke run, which succeeded: resume and attach have nothing to do.
const ALREADY_SUCCEEDED: Expected = {
  code: 9,
  output: /^error: run \S+-vcd-db-upgrade-\S+ already succeeded; there is nothing to resume$/m,
};
const MISSING_SECRET: Expected = { code: 3, output: /missing secrets?: .*Nothing was run/s };

/** The documented commands (arguments after `runbook`) and what they do here. */
const EXPECTED: Record<string, Expected> = {
  list: { code: 0, output: /^vcd-db-upgrade +VMware Cloud Director database upgrade/m },
  'show horizon-daas-db-failover': { code: 0, output: /Slony/ },
  'show vcd-db-upgrade': { code: 0, output: /cell-management-tool/ },
  'validate src/runbooks/ fixtures/example/ fixtures/inventories/': {
    code: 0,
    output: /valid +fixtures\/inventories\/vcd-db-upgrade\.yaml \(inventory\)/,
  },
  'validate src/runbooks/ fixtures/example/': { code: 0, output: /valid +fixtures\/example\/example-maintenance\.yaml/ },
  'exec vcd-db-upgrade --dry-run -i fixtures/inventories/vcd-db-upgrade.yaml': {
    code: 0,
    output: /\/opt\/vmware\/vcloud-director\/bin\/upgrade/,
  },
  'exec vcd-db-upgrade -i fixtures/inventories/vcd-db-upgrade.yaml --dry-run': {
    code: 0,
    output: /\/opt\/vmware\/vcloud-director\/bin\/upgrade/,
  },
  'plan opengauss-cm-upgrade -i fixtures/inventories/opengauss-cm-upgrade.yaml -o plan.json': {
    code: 0,
    output: /plan written to plan\.json/,
  },
  'exec opengauss-cm-upgrade --plan plan.json -i fixtures/inventories/opengauss-cm-upgrade.yaml': NEEDS_ANSWERS,
  'plan horizon-daas-db-failover -i fixtures/inventories/horizon-daas-db-failover.yaml -p primary_reachable=false -o plan.json': {
    code: 0,
    output: /plan written to plan\.json/,
  },
  'exec horizon-daas-db-failover --plan plan.json -i fixtures/inventories/horizon-daas-db-failover.yaml': MISSING_SECRET,
  'check vcd-db-upgrade -i fixtures/inventories/vcd-db-upgrade.yaml': MISSING_SECRET,
  'check opengauss-cm-upgrade -i fixtures/inventories/opengauss-cm-upgrade.yaml': CONNECT_FAILED,
  'exec vcd-db-upgrade -i fixtures/inventories/vcd-db-upgrade.yaml': MISSING_SECRET,
  'exec bomgar-failover-upgrade -i fixtures/inventories/bomgar-failover-upgrade.yaml --answer choose-method=asynchronous': MISSING_SECRET,
  runs: { code: 0, output: /vcd-db-upgrade +.*succeeded/ },
  'resume <run-id>': ALREADY_SUCCEEDED,
  'attach <run-id>': ALREADY_SUCCEEDED,
  'report <run-id> --format md': { code: 0, output: /check-no-running-tasks/ },
  'schema > runbook.schema.json': { code: 0, output: /^$/ },
  'completion bash > runbook.bash': { code: 0, output: /^$/ },
  'new my-upgrade': { code: 0, output: /wrote my-upgrade\.yaml/ },
  'explain steps.ssh': { code: 0, output: /command \* +string/ },
  'smoke vcd-db-upgrade --database-url postgres://postgres:pw@localhost/smoke -i fixtures/inventories/vcd-db-upgrade.yaml --seed fixtures/smoke/vcd-db-upgrade.sql':
    { code: 0, output: /run succeeded/, network: true },
};

/** `runbook ...` lines of the README's sh blocks (continuations joined, comments dropped). */
function readmeCommands(): string[] {
  const blocks = [...readFileSync('README.md', 'utf8').matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks
    .flatMap((b) => b.replace(/\\\n\s*/g, '').split('\n'))
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .flatMap((line) => {
      const m = /^(?:npm ci && npx --no-install )?runbook (.+)$/.exec(line);
      return m ? [m[1]!.replace(/\s+/g, ' ')] : [];
    });
}

async function helpCommands(): Promise<string[]> {
  const help = (await runCli(['--help'])).stdout;
  return [...help.matchAll(/^ {2}\$ runbook (.+)$/gm)].map((m) => m[1]!.trim());
}

const documented = [...new Set([...readmeCommands(), ...(await helpCommands())])];

let pg: PgServer;
let cwd: string;
let runId = '';
beforeAll(async () => {
  pg = await startPostgres();
  await pg.createDatabase('smoke');
  cwd = mkdtempSync(join(tmpdir(), 'runbook-docs-'));
  for (const dir of ['fixtures', 'src']) symlinkSync(join(process.cwd(), dir), join(cwd, dir));
});
afterAll(async () => {
  await pg?.stop();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

/** Runs a documented command line in a scratch directory, without the network unless it needs one. */
function run(args: string[], network: boolean): Promise<CliResult> {
  const unset = ['VCD_SYSADMIN_PASSWORD', 'VCD_DB_PASSWORD', 'HORIZON_DB_PASSWORD', 'HORIZON_DB_ADMIN_PASSWORD', 'BOMGAR_CLIENT_SECRET'];
  return runCli(args, {
    cwd,
    env: {
      RUNBOOK_STATE_DIR: join(cwd, 'state'),
      HOME: cwd,
      RUNBOOK_NO_CACHE: '1',
      ...Object.fromEntries(unset.map((name) => [name, undefined])),
    },
    ...(network ? {} : { via: ['/usr/bin/unshare', '-n'] }),
  });
}

it('the README and --help show commands, all of them known here', () => {
  expect(documented.length).toBeGreaterThan(15);
  expect(documented.filter((c) => !(c in EXPECTED))).toEqual([]);
});

// The smoke run first: it records the run that the journal commands then show.
const ordered = [...documented].sort(
  (a, b) =>
    Number(b.startsWith('smoke')) - Number(a.startsWith('smoke')) ||
    Number(a.startsWith('exec') && a.includes('--plan')) - Number(b.startsWith('exec') && b.includes('--plan')),
);

it.each(ordered)('runbook %s', async (command) => {
  const expected = EXPECTED[command];
  if (!expected) return; // reported by the test above
  let text = command.replace('postgres://postgres:pw@localhost/smoke', pg.url('smoke'));
  if (text.includes('<run-id>')) {
    expect(runId, 'the smoke run recorded a run id').not.toBe('');
    text = text.replace('<run-id>', runId);
  }
  const redirect = /\s*>\s*(\S+)$/.exec(text);
  if (redirect) text = text.slice(0, redirect.index);
  if (text.includes('--plan plan.json')) {
    // The plan of the same runbook, as the plan example before it writes it.
    const id = text.split(' ')[1]!;
    const plan = documented.find((c) => c.startsWith(`plan ${id} `));
    expect(plan, `a documented "plan ${id} ... -o plan.json"`).toBeDefined();
    expect((await run(plan!.split(' '), false)).code).toBe(0);
  }
  const r = await run(text.split(' '), expected.network === true);
  if (redirect) writeFileSync(join(cwd, redirect[1]!), r.stdout);
  const output = r.stdout + r.stderr;
  expect(output).not.toMatch(/internal error|\n\s+at .+:\d+:\d+/);
  expect(r.code, output).toBe(expected.code);
  expect(redirect ? r.stderr : output).toMatch(expected.output);
  if (redirect?.[1]?.endsWith('.json')) expect(() => JSON.parse(readFileSync(join(cwd, redirect[1]!), 'utf8'))).not.toThrow();
  if (redirect?.[1]?.endsWith('.bash')) execFileSync('bash', ['-n', join(cwd, redirect[1])]);
  if (command.startsWith('smoke')) runId = /run (\S+-vcd-db-upgrade-\S+)/.exec(r.stdout)?.[1] ?? '';
  if (command.includes('-o plan.json')) expect(existsSync(join(cwd, 'plan.json'))).toBe(true);
});
