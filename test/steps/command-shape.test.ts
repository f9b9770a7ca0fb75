/** The command text that runs: secrets as shell variables, their prelude where it must stand. */
import { describe, expect, it } from 'vitest';
import { composeCommand, composeRunnable, type CommandData } from '../../src/steps/command-shape.js';
import { displayParts, type RuntimeValues } from '../../src/core/template.js';

const values: RuntimeValues = {
  secret: (name) => ({ 'params.pw': "it's s3cret", 'params.opts': '--a --b' })[name] ?? '',
  ref: () => 'x',
};

const data = (over: Partial<CommandData> = {}): CommandData => ({
  command: [
    { text: 'tool --user u ' },
    { secret: 'params.pw', encoding: 'shell' },
    { text: ' ' },
    { secret: 'params.opts', encoding: 'raw' },
  ],
  env: [{ name: 'PGPASSWORD', value: [{ text: 'pre-' }, { secret: 'params.pw', encoding: 'text' }] }],
  sudo: null,
  stdin: null,
  ...over,
});

describe('composeRunnable', () => {
  it('refers to each secret once as a variable (quoted, or unquoted under raw) and reads them on stdin first', () => {
    const r = composeRunnable(data(), values, 'stdin');
    expect(r.secrets).toEqual([
      { name: 'RUNBOOK_SECRET_1', value: "it's s3cret" },
      { name: 'RUNBOOK_SECRET_2', value: '--a --b' },
    ]);
    expect(r.command).toBe(
      `{ IFS= read -r RUNBOOK_SECRET_1 && IFS= read -r RUNBOOK_SECRET_2; } || { echo 'runbook: the secret values were not received on standard input' >&2; exit 125; }; ` +
        `export PGPASSWORD=pre-"$RUNBOOK_SECRET_1"; tool --user u "$RUNBOOK_SECRET_1" $RUNBOOK_SECRET_2`,
    );
    expect(r.command).not.toContain('s3cret');
  });

  it('with sudo, reads stdin inside the sudo shell; from a staged file, outside it and exported', () => {
    const viaStdin = composeRunnable(data({ sudo: 'postgres' }), values, 'stdin').command;
    expect(viaStdin).toMatch(/^sudo -n -E -u postgres -- sh -c '\{ IFS= read -r RUNBOOK_SECRET_1/);
    const viaFile = composeRunnable(data({ sudo: 'root' }), values, 'file', 'runbook-abc').command;
    expect(viaFile).toMatch(
      /^\{ IFS= read -r RUNBOOK_SECRET_1 && IFS= read -r RUNBOOK_SECRET_2; \} < "\$\{TMPDIR:-\/tmp\}"\/runbook-abc\/values; /,
    );
    expect(viaFile).toContain('export RUNBOOK_SECRET_1 RUNBOOK_SECRET_2; sudo -n -E -- sh -c');
    expect(viaFile).not.toContain('s3cret');
  });

  it('in the environment: no prelude; the dry-run text still shows *** where the values go', () => {
    expect(composeRunnable(data(), values, 'environment').command).toBe(
      `export PGPASSWORD=pre-"$RUNBOOK_SECRET_1"; tool --user u "$RUNBOOK_SECRET_1" $RUNBOOK_SECRET_2`,
    );
    expect(composeCommand(data(), displayParts)).toBe("export PGPASSWORD='pre-***'; tool --user u *** ***");
  });
});
