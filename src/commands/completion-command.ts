/**
 * `runbook completion bash|zsh`: a completion script generated from the command line's own
 * definition (commands, their options and descriptions), so it never falls behind. Runbook ids
 * are completed live from `runbook list --ids` (shipped runbooks, RUNBOOK_PATH), option values
 * that are files from the file system, and `--format`-like choices from their list.
 */
import type { Command, Option } from 'commander';
import { RunbookError } from '../core/errors.js';
import type { CommandContext } from './context.js';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

interface CommandInfo {
  name: string;
  description: string;
  options: Option[];
  /** What the first argument is: a runbook id, a path, a shell, or anything else. */
  argument: 'runbook' | 'path' | 'shell' | 'other' | null;
}

/** Options whose value is a file or directory. */
const PATH_VALUE = /<(file|dir|plan\.json|file\.sql)[^>]*>/;

function describe(program: Command): { globals: Option[]; commands: CommandInfo[] } {
  const commands = program.commands.map((cmd): CommandInfo => {
    const arg = cmd.registeredArguments[0]?.name();
    const argument =
      arg === undefined ? null : arg === 'runbook' ? 'runbook' : arg === 'paths' ? 'path' : arg === 'shell' ? 'shell' : 'other';
    return { name: cmd.name(), description: cmd.description(), options: cmd.options as Option[], argument };
  });
  // -V/--version belongs to `runbook` alone.
  return { globals: (program.options as Option[]).filter((o) => o.long !== '--version'), commands };
}

const flagsOf = (options: Option[]) => [...new Set(options.flatMap((o) => [o.short, o.long].filter((f): f is string => Boolean(f))))];
const takesPath = (o: Option) => o.required && PATH_VALUE.test(o.flags);
const quoteBash = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

export function completionScript(program: Command, shell: Shell): string {
  const { globals, commands } = describe(program);
  return shell === 'bash' ? bashScript(globals, commands) : zshScript(globals, commands);
}

function bashScript(globals: Option[], commands: CommandInfo[]): string {
  const pathOptions = [...globals, ...commands.flatMap((c) => c.options)].filter(takesPath);
  const choiceCases = commands
    .flatMap((c) => c.options)
    .filter((o) => o.argChoices)
    .map((o) => `    ${flagsOf([o]).join('|')}) COMPREPLY=($(compgen -W ${quoteBash(o.argChoices!.join(' '))} -- "$cur")); return ;;`);
  const optionCases = commands.map(
    (c) => `    ${c.name}) opts=${quoteBash([...flagsOf([...c.options, ...globals]), '-h', '--help'].join(' '))} ;;`,
  );
  const argumentCases = commands
    .filter((c) => c.argument && c.argument !== 'other')
    .map((c) => {
      const words = c.argument === 'runbook' ? `$(runbook list --ids 2>/dev/null)` : c.argument === 'shell' ? SHELLS.join(' ') : null;
      return words === null
        ? `    ${c.name}) COMPREPLY=($(compgen -f -- "$cur")) ;;`
        : `    ${c.name}) COMPREPLY=($(compgen -W "${words}" -- "$cur")) ;;`;
    });
  return `# bash completion for runbook. Load it with:  source <(runbook completion bash)
# or install it:  runbook completion bash > /etc/bash_completion.d/runbook
_runbook() {
  local cur prev cmd="" opts="" i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      ${flagsOf(globals.filter((o) => o.required)).join('|')}) ((i++)) ;;
      -*) ;;
      *) cmd="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  case "$prev" in
    ${flagsOf(pathOptions).join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
${choiceCases.join('\n')}
  esac
  if [[ -z "$cmd" ]]; then
    COMPREPLY=($(compgen -W ${quoteBash([...commands.map((c) => c.name), ...flagsOf(globals), '-V', '--version', '-h', '--help'].join(' '))} -- "$cur"))
    return
  fi
  case "$cmd" in
${optionCases.join('\n')}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  case "$cmd" in
${argumentCases.join('\n')}
  esac
}
complete -o filenames -F _runbook runbook
`;
}

const zshEscape = (text: string) =>
  text.replace(/\\/g, '\\\\').replace(/'/g, `'\\''`).replace(/:/g, '\\:').replace(/\[/g, '\\[').replace(/\]/g, '\\]');

function zshOptionSpecs(options: Option[]): string[] {
  return options.map((o) => {
    const names = flagsOf([o]);
    const head = names.length > 1 ? `(${names.join(' ')})'{${names.join(',')}}'` : names[0]!;
    const value =
      !o.required && !o.optional ? '' : o.argChoices ? `:value:(${o.argChoices.join(' ')})` : takesPath(o) ? ':path:_files' : ':value: ';
    return `'${head}[${zshEscape(o.description)}]${value}'`;
  });
}

function zshScript(globals: Option[], commands: CommandInfo[]): string {
  const described = commands.map((c) => `    '${c.name}:${zshEscape(c.description)}'`);
  const cases = commands.map((c) => {
    const argument =
      c.argument === 'runbook'
        ? `'1:runbook:_runbook_ids'`
        : c.argument === 'shell'
          ? `'1:shell:(${SHELLS.join(' ')})'`
          : c.argument === 'path'
            ? `'*:path:_files'`
            : c.argument === 'other'
              ? `'1:value: '`
              : '';
    return `    ${c.name}) _arguments -s ${[...zshOptionSpecs(c.options), argument].filter(Boolean).join(' ')} ;;`;
  });
  return `#compdef runbook
# zsh completion for runbook. Load it with:  source <(runbook completion zsh)
# or install it as _runbook in a directory of $fpath.
_runbook_ids() {
  local -a ids
  ids=(\${(f)"$(runbook list --ids 2>/dev/null)"})
  _describe 'runbook' ids
}
_runbook() {
  local -a commands
  commands=(
${described.join('\n')}
  )
  local curcontext="$curcontext" state line
  _arguments -C ${zshOptionSpecs(globals).join(' ')} '1:command:->command' '*::arg:->args'
  case $state in
    command) _describe 'command' commands ;;
    args)
      case $line[1] in
${cases.map((c) => '  ' + c).join('\n')}
      esac ;;
  esac
}
if [[ "\${zsh_eval_context[-1]}" == loadautoload ]]; then
  _runbook "$@"
else
  compdef _runbook runbook
fi
`;
}

export function completionCommand(shell: string, program: Command, ctx: CommandContext): void {
  if (!(SHELLS as readonly string[]).includes(shell))
    throw new RunbookError('usage', `no completion for the shell "${shell}"`, { hint: `Choose one of: ${SHELLS.join(', ')}` });
  ctx.stdout.write(completionScript(program, shell as Shell));
}
