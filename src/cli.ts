/**
 * The command line: commander wiring only. Each command is one function in src/commands/; the
 * engine is imported lazily so that list, show and dry-runs start fast.
 */
import { Command, CommanderError, Option } from 'commander';
import { createRequire } from 'node:module';
import { EXIT, RunbookError } from './core/errors.js';
import type { CommandContext, GlobalOptions } from './commands/context.js';
import { errorLine, reportError, usageErrorLine } from './commands/error-output.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const collect = (value: string, previous: string[] = []) => [...previous, value];

const examples = `
Examples:
  $ runbook list
  $ runbook show vcd-db-upgrade
  $ runbook validate src/runbooks/ fixtures/example/
  $ runbook exec vcd-db-upgrade --dry-run -i fixtures/inventories/vcd-db-upgrade.yaml
  $ runbook plan horizon-daas-db-failover -i fixtures/inventories/horizon-daas-db-failover.yaml -p primary_reachable=false -o plan.json
  $ runbook exec horizon-daas-db-failover --plan plan.json -i fixtures/inventories/horizon-daas-db-failover.yaml
  $ runbook check opengauss-cm-upgrade -i fixtures/inventories/opengauss-cm-upgrade.yaml
  $ runbook exec bomgar-failover-upgrade -i fixtures/inventories/bomgar-failover-upgrade.yaml --answer choose-method=asynchronous
  $ runbook smoke vcd-db-upgrade --database-url postgres://postgres:pw@localhost/smoke -i fixtures/inventories/vcd-db-upgrade.yaml --seed fixtures/smoke/vcd-db-upgrade.sql
  $ runbook runs
  $ runbook resume <run-id>
  $ runbook attach <run-id>

Exit codes:
  0 success; 1 a step or verification failed (also past onFailure: continue); 2 usage;
  3 invalid runbook/inventory/parameter; 4 a precondition failed; 5 aborted by the operator, or
  an answer/flag missing without a terminal; 6 connection failure or lost (outcome unknown);
  7 SSH host key unknown or changed; 8 locked by another run; 9 resume refused; 10 state
  directory unusable (disk full, read-only, unsafe); 11 a detached step still runs
  (runbook attach <run-id>); 130 interrupted.

Environment:
  RUNBOOK_PATH       extra runbook directories (colon-separated), like --runbooks
  RUNBOOK_STATE_DIR  journal and lock directory (default $XDG_STATE_HOME/runbook)
  RUNBOOK_STATE_URL  shared journal and lock store for a team: postgres://user:pw@host/db
                     (tables runbook_runs, runbook_events, runbook_locks; locks are advisory
                     locks, released when the holder's connection ends). --state-url, then
                     --state-dir, win over it.
  NO_COLOR           disable colours`;

function addPlanOptions(cmd: Command): Command {
  return cmd
    .option('-i, --inventory <file>', 'inventory file (hosts, databases, endpoints, roles, parameter values)')
    .option('-p, --param <name=value>', 'parameter value (repeatable)', collect)
    .option('-a, --answer <step=value>', 'pre-answer a prompt step (repeatable)', collect)
    .option('--limit <hosts>', 'act only on these hosts (comma-separated host or role names; recorded in the journal)');
}

export function buildProgram(run: (fn: (ctx: CommandContext) => Promise<unknown> | unknown) => Promise<void>): Command {
  const program = new Command('runbook')
    .description(
      'Run declarative runbooks over SSH, SQL, HTTP and local commands: preconditions, confirmations, verifications, exact dry-runs, resumable journal.',
    )
    .version(version, '-V, --version')
    .option('--json', 'machine-readable output (JSON; one event per line for exec)')
    .option('--no-color', 'no colours (NO_COLOR is honoured too)')
    .option('--runbooks <dir>', 'add a directory of runbooks (repeatable)', collect)
    .addHelpText('after', examples)
    .showHelpAfterError()
    .exitOverride()
    // Under --json, commander's own error text and help stay off standard error: main() prints
    // the refusal as a JSON `error` line. Set before the commands are added: they inherit it.
    .configureOutput({ writeErr: (text) => void (program.opts<GlobalOptions>().json ? undefined : process.stderr.write(text)) });

  program
    .command('list')
    .description('list the available runbooks')
    .option('--ids', 'only the ids, one per line (for scripts and shell completion)')
    .action((opts: { ids?: boolean }) => run((ctx) => import('./commands/list-command.js').then((m) => m.listCommand(ctx, opts))));

  addPlanOptions(
    program.command('show <runbook>').description('show a runbook as a readable procedure (parameters, targets, steps)'),
  ).action((id: string, opts) => run((ctx) => import('./commands/catalog-commands.js').then((m) => m.showCommand(id, opts, ctx))));

  program
    .command('validate <paths...>')
    .description('validate runbook and inventory files or directories (schema, references, templates)')
    .action((paths: string[]) =>
      run(async (ctx) => {
        const m = await import('./commands/catalog-commands.js');
        const reports = m.validateCommand(paths, ctx);
        if (reports.some((r) => !r.valid))
          throw new RunbookError('invalid', `${reports.filter((r) => !r.valid).length} of ${reports.length} file(s) invalid`, {
            hint: 'See the messages above.',
          });
      }),
    );

  addPlanOptions(program.command('plan <runbook>').description('print the resolved plan (add --json or -o for versioned JSON)'))
    .option('-o, --output <file>', 'write the plan as JSON to this file')
    .action((id: string, opts) => run((ctx) => import('./commands/plan-commands.js').then((m) => m.planCommand(id, opts, ctx))));

  addPlanOptions(program.command('exec <runbook>').description('execute a runbook (or preview it with --dry-run)'))
    .option('--dry-run', 'print every command and SQL statement exactly as it would run; run nothing')
    .option('--plan <plan.json>', 'execute a reviewed plan (from `runbook plan -o`) exactly as written')
    .option('-y, --yes', 'answer yes to ordinary confirmations')
    .option('--allow-destructive', 'confirm destructive steps without a terminal (with --yes)')
    .option('--attest <step>', 'attest a manual step marked `attest` (e.g. a backup) without a terminal (repeatable)', collect)
    .option('--accept-new-host-keys', 'trust and record SSH host keys seen for the first time (changed keys still stop)')
    .option('--known-hosts <file>', 'known_hosts file (default: UserKnownHostsFile of ssh_config, else ~/.ssh/known_hosts)')
    .option('--from <step>', 'start at this step (recorded in the journal)')
    .option('--only <step>', 'run only this step (recorded in the journal)')
    .option('--state-dir <dir>', 'journal and lock directory')
    .option('--state-url <url>', 'shared PostgreSQL store for journal and lock (or RUNBOOK_STATE_URL)')
    .option('--run-id <id>', 'use this run id (default: generated)')
    .action((id: string, opts) =>
      run(async (ctx) => {
        if (opts.dryRun) return import('./commands/plan-commands.js').then((m) => m.planCommand(id, opts, ctx));
        return import('./commands/exec-commands.js').then((m) => m.execCommand(id, opts, ctx));
      }),
    );

  addPlanOptions(program.command('check <runbook>').description('run only the preconditions, live and read-only'))
    .option('--accept-new-host-keys', 'trust SSH host keys seen for the first time')
    .option('--known-hosts <file>', 'known_hosts file')
    .action((id: string, opts) => run((ctx) => import('./commands/exec-commands.js').then((m) => m.checkCommand(id, opts, ctx))));

  program
    .command('runs')
    .description(
      'list recorded runs and their state (running, succeeded, failed, aborted, interrupted, unknown = crashed) and the held locks',
    )
    .option('--state-dir <dir>', 'journal directory')
    .option('--state-url <url>', 'shared PostgreSQL store (or RUNBOOK_STATE_URL)')
    .option('--break-lock <lock-id>', 'remove a stale lock (its process is gone) so that the runbook can run again on those targets')
    .option('--force', 'with --break-lock: also break a lock held from another host (never that of a run alive on this host)')
    .action((opts) => run((ctx) => import('./commands/journal-commands.js').then((m) => m.runsCommand(opts, ctx))));

  program
    .command('resume <run-id>')
    .description('continue an interrupted run after its last completed step')
    .option('-y, --yes', 'answer yes to ordinary confirmations')
    .option('--allow-destructive', 'confirm destructive steps without a terminal')
    .option('--attest <step>', 'attest a manual step marked `attest` without a terminal (repeatable)', collect)
    .option('--force', 'resume even though the runbook or inventory changed (recorded)')
    .option('--unknown <choice>', 'without a terminal: what to do with a step of unknown outcome (rerun|done|abort)')
    .option('--accept-new-host-keys', 'trust SSH host keys seen for the first time')
    .option('--known-hosts <file>', 'known_hosts file')
    .option('--state-dir <dir>', 'journal directory')
    .option('--state-url <url>', 'shared PostgreSQL store (or RUNBOOK_STATE_URL)')
    .action((runId: string, opts) => run((ctx) => import('./commands/resume-command.js').then((m) => m.resumeCommand(runId, opts, ctx))));

  program
    .command('attach <run-id>')
    .description(
      're-attach to a detached step still running: its log from where it stopped, its exit status, its verification; then stop (resume goes on)',
    )
    .option('--kill', 'kill the detached program (typed confirmation naming its targets; recorded in the journal)')
    .option('--confirm-kill <targets>', 'without a terminal: the targets, comma-separated, as --kill asks to type them')
    .option('-y, --yes', 'answer yes to ordinary confirmations (rollback steps)')
    .option('--allow-destructive', 'confirm destructive rollback steps without a terminal')
    .option('--accept-new-host-keys', 'trust SSH host keys seen for the first time')
    .option('--known-hosts <file>', 'known_hosts file')
    .option('--state-dir <dir>', 'journal directory')
    .option('--state-url <url>', 'shared PostgreSQL store (or RUNBOOK_STATE_URL)')
    .action((runId: string, opts) => run((ctx) => import('./commands/resume-command.js').then((m) => m.attachCommand(runId, opts, ctx))));

  program
    .command('report <run-id>')
    .description('the record of a run for a change ticket')
    .addOption(new Option('--format <format>', 'md or json').choices(['md', 'json']).default('md'))
    .option('--state-dir <dir>', 'journal directory')
    .option('--state-url <url>', 'shared PostgreSQL store (or RUNBOOK_STATE_URL)')
    .action((runId: string, opts) => run((ctx) => import('./commands/journal-commands.js').then((m) => m.reportCommand(runId, opts, ctx))));

  addPlanOptions(program.command('smoke <runbook>').description('run the SQL parts of a runbook against one database (CI smoke test)'))
    .option('--database-url <url>', 'postgres://user:password@host:port/database (or RUNBOOK_SMOKE_DATABASE_URL)')
    .option('--seed <file.sql>', 'run this SQL file first (repeatable)', collect)
    .option('--allow-destructive', 'run destructive SQL steps too')
    .option('--allow-no-sql', 'succeed when the runbook has no SQL to run (by default that fails: nothing was smoke-tested)')
    .option('--state-dir <dir>', 'journal directory')
    .action((id: string, opts) => run((ctx) => import('./commands/smoke-command.js').then((m) => m.smokeCommand(id, opts, ctx))));

  program
    .command('schema [what]')
    .description('print the JSON Schema of the runbook format, or of the inventory format (for editors; `$schema:` in a file names it)')
    .action((what: string | undefined) =>
      run((ctx) => import('./commands/catalog-commands.js').then((m) => m.schemaCommand(what ?? 'runbook', ctx))),
    );

  program
    .command('new <id>')
    .description('write a new runbook that validates, to start from (<id>.yaml)')
    .option('-o, --output <file>', 'write to this file instead of <id>.yaml')
    .option('--force', 'overwrite the file if it exists')
    .action((id: string, opts) => run((ctx) => import('./commands/authoring-commands.js').then((m) => m.newCommand(id, opts, ctx))));

  program
    .command('explain [path]')
    .description('describe a field of the runbook format (steps, steps.ssh.pty, targets) or of the inventory (inventory.hosts)')
    .action((path: string | undefined) =>
      run((ctx) => import('./commands/authoring-commands.js').then((m) => m.explainCommand(path ?? '', ctx))),
    );

  program
    .command('completion <shell>')
    .description('print a shell completion script (bash or zsh): source <(runbook completion bash)')
    .action((shell: string) =>
      run((ctx) => import('./commands/completion-command.js').then((m) => m.completionCommand(shell, program, ctx))),
    );

  return program;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(async (fn) => {
    // Loaded on demand: `runbook --version` and `--help` need none of it.
    const { createContext } = await import('./commands/context.js');
    const ctx = createContext(program.opts<GlobalOptions>());
    try {
      await fn(ctx);
    } catch (error) {
      exitCode = reportError(error, ctx);
    }
  });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) return EXIT.ok;
    if (program.opts<GlobalOptions>().json) process.stderr.write(usageErrorLine(error.message) + '\n');
    return EXIT.usage;
  }
  return exitCode;
}

// `runbook exec ... | head -1`, a closed terminal: a reader that goes away must not end a run
// half-way (with exit 0, a stale lock and a step of unknown outcome). Output stops, the run
// goes on to its end, the journal records it, and the exit code is still the run's.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', () => {
    // The stream is destroyed: later writes to it are dropped.
  });
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    // Connections are closed by the commands; a stray handle must never keep an operator's
    // terminal waiting after the run has ended.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (error: unknown) => {
    // Outside any command's context: --json is read from the command line itself.
    const args = process.argv.slice(2);
    const json = (args.includes('--') ? args.slice(0, args.indexOf('--')) : args).includes('--json');
    process.stderr.write(
      (json
        ? errorLine({ error: 'internal', exitCode: EXIT.failed, message: String(error), hint: null })
        : `internal error: ${String(error)}`) + '\n',
    );
    process.exitCode = EXIT.failed;
  },
);
