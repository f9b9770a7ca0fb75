/** The terminal view of a run: a listener of execution events. */
import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../core/duration.js';
import { jsonLine, type Listener, type RunEvent } from '../engine/events.js';
import { collapseIdentical } from '../core/collapse.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * On a terminal, a spinner line with the running step and its elapsed time stays under the
 * output; it is erased before anything else is written and while the operator is asked.
 */
function createSpinner(rawWrite: (text: string) => void, c: ChalkInstance) {
  let timer: NodeJS.Timeout | undefined;
  let label = '';
  let since = 0;
  let frame = 0;
  let shown = false;
  const erase = () => {
    if (shown) rawWrite('\r\x1b[K');
    shown = false;
  };
  const draw = () => {
    erase();
    rawWrite(`${c.cyan(FRAMES[frame++ % FRAMES.length] ?? '')} ${label} ${c.dim(formatDuration(Date.now() - since))}`);
    shown = true;
  };
  return {
    start(text: string) {
      label = text;
      since = Date.now();
      timer ??= setInterval(draw, 100);
      timer.unref();
    },
    /** A new label for the same step (the fan-out counter), keeping its elapsed time. */
    relabel(text: string) {
      label = text;
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      erase();
    },
    erase,
  };
}

export function createTerminalRenderer(
  rawWrite: (text: string) => void,
  c: ChalkInstance,
  options: { live?: boolean } = {},
): Listener & { summary(): string; pause(): void } {
  const spinner = options.live ? createSpinner(rawWrite, c) : null;
  const write = (text: string) => {
    spinner?.erase();
    rawWrite(text);
  };
  const rows: Array<{ id: string; status: string; duration: string; message: string }> = [];
  const partial = new Map<string, string>();
  /** The fan-out counter of the running step: how many targets are done, failed, running. */
  const fan = { stepId: '', total: 0, done: 0, failed: 0, running: 0 };
  const counter = () => `${fan.done}/${fan.total} done, ${fan.failed} failed, ${fan.running} running`;
  const flush = (key: string, prefix: string) => {
    const rest = partial.get(key);
    if (rest) write(`${prefix}${rest}\n`);
    partial.delete(key);
  };
  const listener = (e: RunEvent) => {
    switch (e.type) {
      case 'run-started':
        write(c.bold(`▶ ${e.runbook.id} ${e.runbook.version}  run ${e.runId}  by ${e.operator}\n`));
        break;
      case 'preconditions-started':
        write(c.bold(`Preconditions (${e.count})\n`));
        break;
      case 'check-finished': {
        const mark = e.status === 'succeeded' ? c.green('✔') : c.red('✘');
        write(
          `  ${mark} ${e.phase === 'verify' ? 'verify: ' : ''}${e.title}${e.target ? c.dim(` [${e.target}]`) : ''}${e.status === 'failed' ? c.red(` — ${e.message}`) : ''}\n`,
        );
        break;
      }
      case 'step-skipped':
        write(c.dim(`⤼ ${e.stepId}: ${e.title} — skipped (${e.reason})\n`));
        rows.push({ id: e.stepId, status: 'skipped', duration: '', message: e.reason });
        break;
      case 'step-started':
        write(c.bold(`\n● ${e.stepId}: ${e.title}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}\n`));
        for (const { members, lines } of collapseIdentical(e.commands, (cmd) => cmd.lines)) {
          const targets = members.flatMap((m) => (m.target ? [m.target] : []));
          for (const line of lines) write(c.dim(`  ${targets.length ? `[${targets.join(', ')}] ` : ''}${line}\n`));
        }
        Object.assign(fan, { stepId: e.stepId, total: e.targets.length, done: 0, failed: 0, running: 0 });
        spinner?.start(`${e.stepId} on ${e.targets.length} target${e.targets.length === 1 ? '' : 's'}`);
        break;
      case 'output': {
        const key = `${e.stepId}/${e.target}/${e.stream}`;
        const prefix = e.target ? c.cyan(`  ${e.target} │ `) : '  │ ';
        const text = (partial.get(key) ?? '') + e.text.replace(/\r\n?/g, '\n');
        const lines = text.split('\n');
        partial.set(key, lines.pop() ?? '');
        for (const line of lines) write(`${prefix}${e.stream === 'stderr' ? c.yellow(line) : line}\n`);
        break;
      }
      case 'instance-started':
        if (e.stepId === fan.stepId) fan.running++;
        if (fan.total > 1) spinner?.relabel(`${e.stepId}: ${counter()}`);
        break;
      case 'instance-finished':
        if (e.stepId === fan.stepId) {
          fan.running = Math.max(0, fan.running - 1);
          if (e.status === 'succeeded') fan.done++;
          else fan.failed++;
          if (fan.total > 1) spinner?.relabel(`${e.stepId}: ${counter()}`);
        }
        for (const stream of ['stdout', 'stderr'])
          flush(`${e.stepId}/${e.target}/${stream}`, e.target ? c.cyan(`  ${e.target} │ `) : '  │ ');
        if (e.target)
          write(
            `  ${e.status === 'succeeded' ? c.green('✔') : c.red('✘')} ${e.target} ${c.dim(formatDuration(e.durationMs))}${e.status === 'failed' ? c.red(` — ${e.message}`) : ''}${e.stepId === fan.stepId && fan.total > 1 ? c.dim(`  [${counter()}]`) : ''}\n`,
          );
        break;
      case 'step-finished':
        spinner?.stop();
        write(
          `${e.status === 'succeeded' ? c.green('✔') : c.red('✘')} ${e.stepId} ${e.status} ${c.dim(`in ${formatDuration(e.durationMs)}`)}${e.status === 'failed' ? c.red(` — ${e.message}`) : ''}\n`,
        );
        rows.push({ id: e.stepId, status: e.status, duration: formatDuration(e.durationMs), message: e.message });
        break;
      case 'confirmation':
        if (e.by === 'flag') write(c.dim(`  confirmed by flag\n`));
        if (e.answer === 'declined') {
          write(c.red(`✘ ${e.stepId} refused by the operator: not run\n`));
          rows.push({ id: e.stepId, status: 'refused', duration: '', message: 'refused by the operator: not run' });
        }
        break;
      case 'rollback-started':
        write(c.yellow(`↺ rolling back after ${e.stepId}: ${e.rollback.join(', ')}\n`));
        break;
      case 'interrupt-requested':
        write(c.yellow(`\n${e.message}\n`));
        break;
      case 'run-finished':
        spinner?.stop();
        write('\n' + summaryTable() + '\n');
        write((e.status === 'succeeded' ? c.green : c.red)(c.bold(`■ run ${e.status}: ${e.message}\n`)));
        break;
      default:
        break;
    }
  };
  const summaryTable = () => {
    if (!rows.length) return '';
    const w = Math.max(4, ...rows.map((r) => r.id.length));
    const lines = [c.bold(`${'step'.padEnd(w)}  ${'status'.padEnd(9)} ${'time'.padEnd(7)} message`)];
    for (const r of rows) {
      const color = r.status === 'succeeded' ? c.green : r.status === 'skipped' ? c.dim : c.red;
      lines.push(`${r.id.padEnd(w)}  ${color(r.status.padEnd(9))} ${r.duration.padEnd(7)} ${r.message.slice(0, 100)}`);
    }
    return lines.join('\n');
  };
  return Object.assign(listener, { summary: summaryTable, pause: () => spinner?.stop() });
}

export function createJsonRenderer(write: (text: string) => void): Listener {
  return (e) => write(jsonLine(e));
}
