/**
 * How secret values reach a command without ever being part of a command line. A planned command
 * refers to each secret as a shell variable ("$RUNBOOK_SECRET_1"); the values travel out of band:
 *
 * - local commands: in the child's environment (never its argv);
 * - SSH commands: as lines on the channel's standard input, read by a short prelude of the shell
 *   that runs the command (inside the sudo'd shell when the step uses sudo), before the step's own
 *   standard input;
 * - SSH commands in a pseudo-terminal (whose input is the terminal, which would echo them): in a
 *   file created 0600 in a new 0700 directory by a separate session, read by the login shell's
 *   prelude and removed before the command starts (and again after it, should it not start).
 *
 * So sshd, sudo (and its log) and `ps` see "$RUNBOOK_SECRET_1", never the value.
 */
import { randomBytes } from 'node:crypto';

export interface SecretVariable {
  name: string;
  value: string;
}

/** Values a command reads as shell variables, and where a pty session finds them. */
export interface SecretHandoff {
  variables: SecretVariable[];
  /** Pseudo-terminal sessions: the directory (under $TMPDIR or /tmp) the values are staged in. */
  stagingDir?: string | undefined;
}

/** Where the target's shell gets the values from. */
export type SecretDelivery = 'environment' | 'stdin' | 'file';

export function secretVariableName(index: number): string {
  return `RUNBOOK_SECRET_${index + 1}`;
}

/** A fresh, unguessable directory name for a pty session's values. */
export function newStagingDir(): string {
  return `runbook-${randomBytes(16).toString('hex')}`;
}

function stagingPath(dir: string): string {
  return `"\${TMPDIR:-/tmp}"/${dir}`;
}

/** The lines the prelude reads: one value per line (a value holding a line break cannot be sent). */
export function secretLines(variables: SecretVariable[]): string {
  return variables.map((v) => `${v.value}\n`).join('');
}

/** The secret that cannot travel as one line, if any. */
export function undeliverableSecret(variables: SecretVariable[]): SecretVariable | undefined {
  return variables.find((v) => /[\n\0]/.test(v.value));
}

const reads = (variables: SecretVariable[]): string => variables.map((v) => `IFS= read -r ${v.name}`).join(' && ');

const missing = (what: string): string => `{ echo 'runbook: the secret values were not received ${what}' >&2; exit 125; }`;

/**
 * The shell text that sets the variables before the command runs: '' for the environment, a read
 * of standard input, or a read of the staged file which it then removes. `exported` makes the
 * variables reach a sudo'd shell (sudo -E) when the prelude runs outside it.
 */
export function secretPrelude(variables: SecretVariable[], delivery: SecretDelivery, stagingDir?: string, exported = false): string {
  if (variables.length === 0 || delivery === 'environment') return '';
  if (delivery === 'stdin') return `{ ${reads(variables)}; } || ${missing('on standard input')}; `;
  const dir = stagingPath(stagingDir ?? '');
  const exports = exported ? `export ${variables.map((v) => v.name).join(' ')}; ` : '';
  return `{ ${reads(variables)}; } < ${dir}/values; runbook_rc=$?; rm -rf -- ${dir}; [ "$runbook_rc" = 0 ] || ${missing('in the staged file')}; ${exports}`;
}

/** Run in its own session before a pty command: stores the values (standard input) 0600 in a new 0700 dir. */
export function stageCommand(stagingDir: string): string {
  const dir = stagingPath(stagingDir);
  return `umask 077 && mkdir -- ${dir} && cat > ${dir}/values`;
}

/** Run after a pty command: removes the staged values, should its prelude not have run. */
export function unstageCommand(stagingDir: string): string {
  return `rm -rf -- ${stagingPath(stagingDir)}`;
}
