/**
 * `runbook completion bash|zsh`: the bash script is exercised as bash runs it (COMP_WORDS set,
 * the function called, COMPREPLY read) with `runbook` on the PATH being this build; the zsh
 * script is loaded by a real zsh with compinit.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import { tempDir } from '../runbook/builders.js';
import { CLI, runCli } from './run-cli.js';

const tmp = tempDir('runbook-completion-');
afterAll(() => tmp.cleanup());
const bin = tmp.dir;
execFileSync('chmod', ['+x', tmp.write('runbook', `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`)]);
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, NO_COLOR: '1' };

/** The words bash offers for a command line typed up to the cursor (the last word is being completed). */
function bashComplete(script: string, words: string[]): string[] {
  const program = `source ${script}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_runbook; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', program], { cwd: process.cwd(), env, encoding: 'utf8' }).split('\n').filter(Boolean);
}

it('bash: commands, options, runbook ids, option choices and files', async () => {
  const r = await runCli(['completion', 'bash']);
  expect(r.code).toBe(0);
  const script = tmp.write('runbook.bash', r.stdout);
  expect(bashComplete(script, ['runbook', 'ex'])).toEqual(['exec', 'explain']);
  expect(bashComplete(script, ['runbook', 'co'])).toEqual(['completion']);
  expect(bashComplete(script, ['runbook', 'exec', 'vcd'])).toEqual(['vcd-db-upgrade']);
  expect(bashComplete(script, ['runbook', '--json', 'show', 'horizon'])).toEqual(['horizon-daas-db-failover']);
  expect(bashComplete(script, ['runbook', 'exec', 'vcd-db-upgrade', '--dry'])).toEqual(['--dry-run']);
  expect(bashComplete(script, ['runbook', 'smoke', 'vcd-db-upgrade', '--allow-no'])).toEqual(['--allow-no-sql']);
  expect(bashComplete(script, ['runbook', 'report', 'x', '--format', ''])).toEqual(['md', 'json']);
  expect(bashComplete(script, ['runbook', 'exec', 'vcd-db-upgrade', '-i', 'fixtures/inventories/vcd'])).toEqual([
    'fixtures/inventories/vcd-db-upgrade.yaml',
  ]);
  expect(bashComplete(script, ['runbook', 'completion', ''])).toEqual(['bash', 'zsh']);
});

it('zsh: the script loads in zsh and registers the completion function', async () => {
  const r = await runCli(['completion', 'zsh']);
  expect(r.code).toBe(0);
  const script = tmp.write('_runbook', r.stdout);
  const out = execFileSync(
    'zsh',
    [
      '-f',
      '-c',
      `autoload -U compinit && compinit -u -D && source ${script} && print -r -- "$_comps[runbook]" && _runbook_ids() { runbook list --ids }; _runbook_ids`,
    ],
    { env, encoding: 'utf8' },
  );
  expect(out.split('\n')[0]).toBe('_runbook');
  expect(out).toContain('timesten-online-upgrade');
  expect(r.stdout).toContain("'exec:execute a runbook (or preview it with --dry-run)'");
  expect(r.stdout).toMatch(/'--allow-no-sql\[/);
});

it('an unknown shell is a usage error', async () => {
  const r = await runCli(['completion', 'fish']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('no completion for the shell "fish"');
});
