/** `runbook new` writes a runbook that validates and plans; `runbook explain` describes the format from its schema. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { tempDir } from '../runbook/builders.js';
import { runCli } from './run-cli.js';

const tmp = tempDir('runbook-new-');
afterAll(() => tmp.cleanup());

it('new: a runbook that validates, previews with an inventory, and is never overwritten by accident', async () => {
  const file = join(tmp.dir, 'app-upgrade.yaml');
  const r = await runCli(['new', 'app-upgrade', '-o', file]);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain(`wrote ${file}`);
  const v = await runCli(['validate', file]);
  expect(v.stdout).toBe(`valid   ${file} (app-upgrade)\n`);
  expect(v.code).toBe(0);
  const inventory = tmp.write('inv.yaml', 'hosts:\n  app1: { address: 192.0.2.10 }\nroles:\n  app: app1\n');
  const dry = await runCli(['exec', file, '-i', inventory, '-p', 'release=2.0.1', '--dry-run']);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toContain('echo install 2.0.1');
  const again = await runCli(['new', 'app-upgrade', '-o', file]);
  expect(again.code).toBe(2);
  expect(again.stderr).toContain('exists already');
  const bad = await runCli(['new', 'Bad Id']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toBe(
    'error: "Bad Id" is not a runbook id\nhint: Use lower-case letters, digits, - and _, starting with a letter or digit.\n',
  );
  expect(readFileSync(file, 'utf8')).toContain('id: app-upgrade');
  expect(existsSync('Bad Id.yaml')).toBe(false);
});

it('explain: kinds of steps, the fields of one kind with their descriptions, and inventory fields', async () => {
  const steps = await runCli(['explain', 'steps']);
  expect(steps.code).toBe(0);
  expect(steps.stdout).toMatch(/^ {4}ssh +Run a shell command on every host/m);
  expect(steps.stdout).toMatch(/^ {4}file-edit +/m);
  const ssh = await runCli(['explain', 'steps.ssh']);
  expect(ssh.stdout).toMatch(/^ {4}command \* +string - Shell command/m);
  expect(ssh.stdout).toMatch(/^ {4}pty +mapping - Run in a pseudo-terminal/m);
  const pty = await runCli(['explain', 'steps[].ssh.pty.answers']);
  expect(pty.stdout).toContain('Prompts of the remote program and what to answer.');
  const host = await runCli(['explain', 'inventory.hosts.address']);
  expect(host.stdout).toContain('IP address or DNS name');
  const type = await runCli(['explain', 'parameters.release.type']);
  expect(type.stdout).toContain('"string" | "integer" | "boolean" | "enum" | "secret"');
});

it('explain: an unknown field is a usage error with a suggestion and the fields that exist there', async () => {
  const r = await runCli(['explain', 'steps.ssh.comand']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('no field "comand" under steps.ssh; did you mean "command"?');
  expect(r.stderr).toMatch(/hint: Fields there: .*\bcommand\b/);
});
