/**
 * A detached step: the program is started on its target apart from the session (see
 * detached-remote.ts), then followed: its log streams live, its prompts are answered by the
 * runbook's rules, and its exit status judges it. Ctrl-C, the step timeout, a lost connection or
 * a prompt nobody can answer only stop the waiting; the program goes on, the journal says where,
 * and `runbook attach` / `runbook resume` pick it up from where the reading stopped. Only the
 * operator kills it (runbook attach --kill, typed confirmation), and that is journaled too.
 */
import { clip } from './expectations.js';
import { composeRunnable } from './command-shape.js';
import { newStagingDir, secretLines, undeliverableSecret } from '../targets/secret-delivery.js';
import { answerSpecs, judgeCommand, type RunnableCommand } from './command-run.js';
import { answerScript, followScript, killScript, launchScript, safeName, tailScript } from './detached-remote.js';
import { materializeParts, type Part } from '../core/template.js';
import { PromptAnswerer } from '../targets/prompt-answerer.js';
import type { CommandResult, CommandTarget } from '../targets/types.js';
import type { ActionResult, DetachedContext, DetachedRecord, RunContext } from './types.js';

/** Output kept in memory for the step's expectations and capture (the log on the target has it all). */
const KEEP_CHARS = 1024 * 1024;
/** How often, at most, the journal learns how far the log was read. */
const PROGRESS_EVERY_MS = 5000;

type Leave = { reason: 'interrupted' | 'timeout' | 'connection' | 'prompt'; prompt?: string };

export async function runDetached(target: CommandTarget, data: RunnableCommand, ctx: RunContext): Promise<ActionResult> {
  const started = Date.now();
  const d = ctx.detached;
  const where = ctx.target ?? 'this machine';
  if (!d) return { status: 'failed', message: 'a detached step runs only as a step of a journaled run', durationMs: 0 };
  const materialize = (parts: Part[]): string => materializeParts(parts, ctx.values);
  const say = (text: string) => ctx.onOutput('stdout', `[runbook] ${where}: ${text}\n`);

  let program: DetachedRecord;
  if (d.existing) {
    program = d.existing;
    d.emit({ type: 'detached-reattached', stepId: ctx.stepId, target: ctx.target, offset: program.offset });
    say(`re-attached to the detached program (pid ${program.pid}, ${program.dir}); its log from byte ${program.offset}:`);
  } else {
    const launched = await launch(target, data, ctx, d);
    if ('failure' in launched) return { status: 'failed', message: launched.failure, durationMs: Date.now() - started };
    program = launched;
    d.emit({ type: 'detached-started', stepId: ctx.stepId, target: ctx.target, pid: program.pid, dir: program.dir });
    say(`started detached (pid ${program.pid}, log ${program.dir}/log); it goes on if this session ends: runbook attach ${d.runId}`);
  }
  const killed = d.kill ? await killProgram(target, ctx, d, program, say) : false;

  const followed = await follow(target, data, ctx, d, program, materialize);
  if ('leave' in followed) {
    const message = leaveMessage(followed.leave, where, program, d.runId);
    d.emit({
      type: 'detached-left',
      stepId: ctx.stepId,
      target: ctx.target,
      reason: followed.leave.reason,
      offset: followed.offset,
      ...(followed.leave.prompt ? { prompt: followed.leave.prompt } : {}),
      message,
    });
    say(message);
    return { status: 'failed', leftRunning: true, message, durationMs: Date.now() - started, stdout: followed.output };
  }
  if (followed.exitCode === null) {
    const tail = await logTail(target, ctx, program.dir, say);
    return {
      status: 'failed',
      message: `the program ended without writing its exit status (killed from outside?)${tail ? ` (log: ${clip(tail, 160)})` : ''}`,
      durationMs: Date.now() - started,
      exitCode: null,
      stdout: followed.output,
    };
  }
  const result: CommandResult = {
    exitCode: followed.exitCode,
    stdout: followed.output,
    stderr: '',
    timedOut: false,
    cancelled: false,
    ...(followed.answered.length ? { answered: followed.answered } : {}),
  };
  const judged = judgeCommand(data, result, ctx, materialize, started);
  // Whatever status a killed program left (a pty wrapper may report 0), it did not complete.
  if (killed) return { ...judged, status: 'failed', message: `killed by the operator (exit status ${followed.exitCode})` };
  if (judged.status === 'succeeded') return judged;
  const tail = await logTail(target, ctx, program.dir, say);
  return { ...judged, message: `${judged.message}${tail ? ` (log: ${clip(tail, 160)})` : ''}` };
}

async function launch(
  target: CommandTarget,
  data: RunnableCommand,
  ctx: RunContext,
  d: DetachedContext,
): Promise<DetachedRecord | { failure: string }> {
  if (data.stdin) return { failure: 'a detached step takes no stdin (answer its prompts with pty answers)' };
  // The target's name too: lab hosts (and NFS homes) may share one home directory.
  const dirName = `${safeName(ctx.stepId)}-${safeName(ctx.target ?? 'local')}-${Date.now().toString(36)}`;
  // Secret values travel as on any command, out of band: in the environment of a local launch,
  // else as lines before the command text, staged 0600 for the program's prelude to read and remove.
  const delivery = target.secretDelivery === 'environment' ? 'environment' : 'file';
  const stagingDir = delivery === 'file' ? newStagingDir() : undefined;
  const { command, secrets } = composeRunnable(data, ctx.values, delivery, stagingDir);
  if (delivery === 'file' && undeliverableSecret(secrets))
    return { failure: 'a secret value used by this command holds a line break, which cannot be sent to the target; nothing was run' };
  const staged = delivery === 'file' && secrets.length ? { count: secrets.length, stagingDir: stagingDir! } : null;
  let r: CommandResult;
  try {
    r = await target.exec(launchScript(d.runId, dirName, Boolean(data.pty), staged), {
      stdin: `${staged ? secretLines(secrets) : ''}${command}\n`,
      ...(delivery === 'environment' && secrets.length ? { secrets: { variables: secrets } } : {}),
      timeoutMs: 60_000,
      signal: ctx.signal,
    });
  } catch (error) {
    return { failure: `cannot start the detached program: ${(error as Error).message}` };
  }
  const missing = /RUNBOOK_MISSING=(\S+)/.exec(r.stdout)?.[1];
  if (missing)
    return {
      failure: `${ctx.target ?? 'this machine'} has no \`${missing}\`, which a detached step needs (util-linux setsid and script, procps ps, awk); nothing was started`,
    };
  const started = /RUNBOOK_DETACHED pid=(\d+) dir=(.+)/.exec(r.stdout);
  if (!started)
    return { failure: `cannot start the detached program: ${clip((r.stderr.trim() || r.stdout.trim()) ?? '', 200) || 'no answer'}` };
  return { pid: Number(started[1]), dir: started[2]!.trim(), offset: 0 };
}

interface Followed {
  output: string;
  offset: number;
  answered: Array<{ prompt: string; answer: string }>;
}

/** Reads the log until the exit status appears, or until there is a reason to stop waiting. */
async function follow(
  target: CommandTarget,
  data: RunnableCommand,
  ctx: RunContext,
  d: DetachedContext,
  program: DetachedRecord,
  materialize: (parts: Part[]) => string,
): Promise<(Followed & { exitCode: number | null }) | (Followed & { leave: Leave })> {
  const deadline = Date.now() + ctx.timeoutMs;
  const waiting = new AbortController();
  let leave: Leave | undefined;
  const stopWaiting = (why: Leave) => {
    leave ??= why;
    waiting.abort();
  };
  const onStop = () => stopWaiting({ reason: 'interrupted' });
  d.stopSignal.addEventListener('abort', onStop, { once: true });
  ctx.signal.addEventListener('abort', onStop, { once: true });
  if (d.stopSignal.aborted || ctx.signal.aborted) onStop();

  let output = '';
  let offset = program.offset;
  let journaledAt = Date.now();
  const send = async (text: string) => {
    const r = await target.exec(answerScript(program.dir), { stdin: text, timeoutMs: 30_000, signal: ctx.signal }).catch(() => null);
    if (r?.exitCode !== 0) ctx.onOutput('stderr', `[runbook] could not send the answer: ${r?.stderr.trim() || 'no connection'}\n`);
  };
  const answers = answerSpecs(data, materialize);
  let asking = false;
  const answerer =
    answers && data.pty
      ? new PromptAnswerer(
          answers,
          data.pty.unexpectedPromptAfterMs,
          (text) => void send(text),
          (prompt) => {
            if (asking) return;
            if (!d.interactive) return stopWaiting({ reason: 'prompt', prompt });
            asking = true;
            void askOperator(ctx, prompt)
              .then(async (answer) => {
                if (answer === null) return stopWaiting({ reason: 'prompt', prompt });
                if (answer === '') return answerer?.feed('');
                answerer?.record(prompt, /pass|secret|token|key/i.test(prompt) ? '***' : `${answer} (typed by the operator)`);
                await send(`${answer}\n`);
              })
              .finally(() => (asking = false));
          },
        )
      : undefined;
  // A program left waiting on a prompt is still waiting on it: the rules (or the operator) get it again.
  if (program.prompt) answerer?.feed(program.prompt);

  let exitCode: number | null | undefined;
  try {
    while (exitCode === undefined && !leave) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        stopWaiting({ reason: 'timeout' });
        break;
      }
      let markers = '';
      const onMarkers = (text: string) => {
        markers += text;
        for (const m of text.matchAll(/RUNBOOK_OFFSET=(\d+)/g)) offset = Number(m[1]);
        if (Date.now() - journaledAt >= PROGRESS_EVERY_MS) {
          journaledAt = Date.now();
          d.emit({ type: 'detached-progress', stepId: ctx.stepId, target: ctx.target, offset });
        }
      };
      let r: CommandResult | null;
      try {
        r = await target.exec(followScript(program.dir, offset), {
          timeoutMs: remaining,
          signal: waiting.signal,
          onOutput: (stream, text) => {
            if (stream === 'stderr') return onMarkers(text);
            output = (output + text).slice(-KEEP_CHARS);
            ctx.onOutput('stdout', text);
            answerer?.feed(text);
          },
        });
      } catch {
        r = null;
      }
      if (r) markers += r.stderr;
      const status = /RUNBOOK_STATUS=(-?\d+)/.exec(markers);
      if (status) exitCode = Number(status[1]);
      else if (/RUNBOOK_GONE|RUNBOOK_NODIR/.test(markers)) exitCode = null;
      else if (leave) break;
      else if (r?.timedOut) stopWaiting({ reason: 'timeout' });
      else stopWaiting({ reason: 'connection' });
    }
  } finally {
    d.stopSignal.removeEventListener('abort', onStop);
    ctx.signal.removeEventListener('abort', onStop);
    answerer?.dispose();
  }
  const answered = answerer?.answered ?? [];
  if (leave) return { leave, output, offset, answered };
  return { exitCode: exitCode ?? null, output, offset, answered };
}

/** Asks the operator to answer a prompt no rule answers: the answer, '' to keep waiting, null to stop waiting. */
async function askOperator(ctx: RunContext, prompt: string): Promise<string | null> {
  try {
    return await ctx.operator.ask(
      `${ctx.target ?? 'The program'} waits on "${prompt}", which no rule of the runbook answers. Answer to send (empty: keep waiting):`,
      undefined,
      '',
    );
  } catch {
    return null;
  }
}

async function killProgram(
  target: CommandTarget,
  ctx: RunContext,
  d: DetachedContext,
  program: DetachedRecord,
  say: (text: string) => void,
): Promise<boolean> {
  say(`killing the detached program (pid ${program.pid}) as the operator confirmed`);
  const r = await target.exec(killScript(program.dir), { timeoutMs: 60_000, signal: ctx.signal }).catch(() => null);
  const message = r?.stdout.includes('stopped')
    ? `killed by the operator (pid ${program.pid}, ${program.dir})`
    : `asked to kill by the operator, but it may still be running (pid ${program.pid}, ${program.dir}): ${r?.stderr.trim() || 'no answer'}`;
  d.emit({ type: 'detached-killed', stepId: ctx.stepId, target: ctx.target, pid: program.pid, dir: program.dir, message });
  say(message);
  return true;
}

/** Shows the last lines of the log and returns the last one. */
async function logTail(target: CommandTarget, ctx: RunContext, dir: string, say: (text: string) => void): Promise<string> {
  const r = await target.exec(tailScript(dir, 20), { timeoutMs: 30_000, signal: ctx.signal }).catch(() => null);
  const text = (r?.stdout ?? '').replace(/\r/g, '').trimEnd();
  if (!text) return '';
  say(`last lines of ${dir}/log:\n${text}`);
  return text.split('\n').pop()!.trim();
}

function leaveMessage(leave: Leave, where: string, program: DetachedRecord, runId: string): string {
  const why = {
    interrupted: 'stopped waiting (Ctrl-C)',
    timeout: 'stopped waiting at the step timeout',
    connection: 'the connection was lost',
    prompt: `the program waits on a prompt no rule answers ("${leave.prompt ?? ''}") and there is no terminal to ask`,
  }[leave.reason];
  return `${why}; the detached program keeps running on ${where} (pid ${program.pid}, ${program.dir}): re-attach with runbook attach ${runId}`;
}
