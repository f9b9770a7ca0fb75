/**
 * The POSIX sh a detached step runs on its target, through the same CommandTarget.exec as any
 * command (so it works over SSH and on the operator's machine alike). The program runs apart
 * from the session: `setsid` gives it its own session and process group, its output goes to a
 * log, its exit status to a file, all in a directory of mode 0700 under
 * ~/.runbook/detached/<run-id>/. With prompts to answer it runs under util-linux `script` (a
 * pseudo-terminal) whose input is a FIFO, so answers reach it from any later session.
 * Nothing here needs bash, tmux, screen, python or systemd.
 */
import { quoteShellWord } from '../core/shell-quote.js';

/** Tools the target must have; checked before anything is started. */
export function requiredTools(pty: boolean): string[] {
  return pty ? ['setsid', 'script', 'mkfifo', 'tail', 'head', 'ps', 'awk'] : ['setsid', 'tail', 'head', 'ps', 'awk'];
}

/** Letters, digits, dot, dash and underscore only: run ids and step ids become path names. */
export function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
}

/**
 * Creates the step's directory, writes the command (read from standard input, so it is never in
 * a process list) and starts it. Prints `RUNBOOK_MISSING=<tool>` (exit 127) when the target lacks
 * a tool, `RUNBOOK_EXISTS` (exit 3) if the directory is already there (never start twice), else
 * `RUNBOOK_DETACHED pid=<pid> dir=<dir>`.
 */
export function launchScript(
  runId: string,
  dirName: string,
  pty: boolean,
  staged: { count: number; stagingDir: string } | null = null,
): string {
  const run = quoteShellWord(safeName(runId));
  const step = quoteShellWord(safeName(dirName));
  // The command removes itself as soon as its shell has opened it: secrets in it leave the disk.
  const program = pty ? `script -q -f -e -c 'sh ./command.sh' /dev/null 0<>./in >>./log 2>&1` : `sh ./command.sh >>./log 2>&1 </dev/null`;
  const wrapper = [
    `cd "$(dirname "$0")" || exit 1`,
    program,
    `rc=$?`,
    `rm -f ./command.sh`,
    `printf '%s\\n' "$rc" > ./status.tmp && mv ./status.tmp ./status`,
  ].join('\n');
  return [
    `umask 077`,
    `for t in ${requiredTools(pty).join(' ')}; do command -v "$t" >/dev/null 2>&1 || { echo "RUNBOOK_MISSING=$t"; exit 127; }; done`,
    // Secret values come first on standard input, one per line: staged where the command's
    // prelude reads and removes them (secret-delivery.ts); removed here if the launch fails.
    ...(staged
      ? [
          `s="\${TMPDIR:-/tmp}"/${quoteShellWord(staged.stagingDir)}`,
          `trap 'rm -rf -- "$s"' EXIT`,
          `mkdir -m 700 -- "$s" || exit 1`,
          `i=0; while [ $i -lt ${Math.trunc(staged.count)} ]; do IFS= read -r v || exit 1; printf '%s\\n' "$v"; i=$((i + 1)); done > "$s/values" || exit 1`,
          `v=`,
        ]
      : []),
    `base="\${HOME:-/tmp}/.runbook/detached"`,
    `mkdir -p "$base/"${run} && chmod 700 "\${HOME:-/tmp}/.runbook" "$base" "$base/"${run} || exit 1`,
    `d="$base/"${run}/${step}`,
    `if [ -e "$d" ]; then echo RUNBOOK_EXISTS; exit 3; fi`,
    `mkdir -m 700 "$d" || exit 1`,
    `{ printf 'rm -f "$0"\\n'; cat; } > "$d/command.sh" || exit 1`,
    `cat > "$d/run.sh" <<'RUNBOOK_WRAPPER'\n${wrapper}\nRUNBOOK_WRAPPER`,
    ...(pty ? [`mkfifo -m 600 "$d/in" || exit 1`] : []),
    `: > "$d/log"`,
    // Not a group leader (no job control here), so setsid execs at once: $! is the program's session.
    `setsid sh "$d/run.sh" </dev/null >/dev/null 2>&1 &`,
    `echo $! > "$d/pid"`,
    ...(staged ? [`trap - EXIT`] : []),
    `echo "RUNBOOK_DETACHED pid=$! dir=$d"`,
  ].join('\n');
}

/** True while the program's wrapper runs: its pid is alive and still names this directory. */
function aliveFunction(dir: string): string {
  const d = quoteShellWord(dir);
  return `alive() { [ -f ${d}/status ] && return 1; p=$(cat ${d}/pid 2>/dev/null) || return 1; ps -o args= -p "$p" 2>/dev/null | grep -qF ${quoteShellWord(`${dir}/run.sh`)}; }`;
}

/**
 * Streams the log from byte `offset` until the exit status is written. On stderr it says how far
 * it got (`RUNBOOK_OFFSET=n`), then `RUNBOOK_STATUS=<code>`, or `RUNBOOK_GONE` when the program
 * died without one. It writes a heartbeat to stderr now and then, so that it ends with the
 * session that reads it (a write to a closed channel).
 */
export function followScript(dir: string, offset: number): string {
  const d = quoteShellWord(dir);
  return [
    `[ -d ${d} ] || { echo RUNBOOK_NODIR >&2; exit 0; }`,
    aliveFunction(dir),
    `off=${Math.max(0, Math.trunc(offset))}`,
    `flush() { size=$(wc -c < ${d}/log); size=$((size + 0)); if [ "$size" -gt "$off" ]; then tail -c +$((off + 1)) ${d}/log | head -c $((size - off)); off=$size; echo "RUNBOOK_OFFSET=$off" >&2; fi; }`,
    `n=0`,
    `while :; do`,
    `  flush`,
    `  if [ -f ${d}/status ]; then flush; echo "RUNBOOK_STATUS=$(cat ${d}/status)" >&2; exit 0; fi`,
    `  if ! alive; then sleep 1; [ -f ${d}/status ] && continue; flush; echo RUNBOOK_GONE >&2; exit 0; fi`,
    `  sleep 1; n=$((n + 1))`,
    `  if [ $n -ge 10 ]; then n=0; echo RUNBOOK_ALIVE >&2; fi`,
    `done`,
  ].join('\n');
}

/** Sends one answer (standard input) to the program's terminal; fails if it no longer runs. */
export function answerScript(dir: string): string {
  const d = quoteShellWord(dir);
  // Opened read-write, a FIFO never blocks: a program that just ended cannot hang the answer.
  return `${aliveFunction(dir)}\nalive || { echo 'the program is no longer running' >&2; exit 1; }\nexec 3<>${d}/in && cat >&3`;
}

/**
 * Stops the program on the operator's order: TERM to every process under its wrapper (the
 * wrapper itself stays to write the exit status), KILL after 10 s, through sudo -n for processes
 * of another user. Prints `stopped` or `running`.
 */
export function killScript(dir: string): string {
  return [
    aliveFunction(dir),
    `alive || { echo stopped; exit 0; }`,
    `tree() { ps -e -o pid= -o ppid= | awk -v r="$p" '{ par[$1] = $2 } END { keep[r] = 1; do { more = 0; for (x in par) if (!(x in keep) && (par[x] in keep)) { keep[x] = 1; more = 1 } } while (more); for (x in keep) if (x != r) print x }'; }`,
    `pids=$(tree); [ -n "$pids" ] && kill -TERM $pids 2>/dev/null`,
    `i=0; while alive && [ $i -lt 10 ]; do sleep 1; i=$((i + 1)); done`,
    `if alive; then pids=$(tree); [ -n "$pids" ] && { kill -KILL $pids 2>/dev/null || sudo -n kill -KILL $pids 2>/dev/null; }; sleep 2; fi`,
    `if alive; then echo running; else echo stopped; fi`,
  ].join('\n');
}

/** The last lines of the log, for a failure report. */
export function tailScript(dir: string, lines: number): string {
  return `tail -n ${Math.trunc(lines)} ${quoteShellWord(dir)}/log`;
}
