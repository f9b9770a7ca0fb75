/**
 * `file-edit`: edit a text file on every host of the target role (set a key in a properties
 * file, remove lines matching a pattern, replace text). Reads the file, computes the new text
 * here, shows a diff, keeps a backup beside the file, then writes it. Editing a file that is
 * already as wanted changes nothing, so a resumed run can repeat the step safely.
 */
import { z } from 'zod';
import { RunbookError } from '../core/errors.js';
import { quoteShellWord } from '../core/shell-quote.js';
import { displayParts, escapeRegExp, materializeParts, type Part } from '../core/template.js';
import { composeCommand } from './command-shape.js';
import type { ActionResult, RunContext, StepKind } from './types.js';

const edit = z.union([
  z
    .object({
      set: z
        .object({
          key: z.string().min(1),
          value: z.string().describe('May use {{ }} references.'),
          separator: z.string().optional().describe('Between key and value (default "=").'),
        })
        .strict(),
    })
    .strict()
    .describe('Set key=value: replace the line defining the key, or append one.'),
  z
    .object({
      removeLines: z
        .string()
        .min(1)
        .describe('Regular expression; matching lines are removed. A {{ }} value in it matches literally (escaped).'),
    })
    .strict(),
  z
    .object({
      replace: z
        .object({
          pattern: z.string().min(1).describe('Regular expression. A {{ }} value in it matches literally (escaped).'),
          with: z.string(),
        })
        .strict(),
    })
    .strict()
    .describe('Replace every match of the regular expression (JavaScript replacement syntax).'),
]);

type EditSpec = z.infer<typeof edit>;

interface FileEditSpec extends Record<string, unknown> {
  path: string;
  edits: EditSpec[];
  backup?: boolean;
  sudo?: boolean | string;
}

type PlannedEdit =
  { set: { key: string; value: Part[]; separator: string } } | { removeLines: Part[] } | { replace: { pattern: Part[]; with: Part[] } };

type FileEditData = {
  path: Part[];
  edits: PlannedEdit[];
  backup: boolean;
  sudo: string | null;
};

export const fileEditStep: StepKind<FileEditSpec, FileEditData> = {
  kind: 'file-edit',
  summary: 'Edit a text file on every host of the target role, with a backup and a diff.',
  target: 'hosts',
  changes: true,
  checkable: false,
  fields: {
    path: z.string().min(1).describe('Absolute path of the file on the host.'),
    edits: z.array(edit).min(1),
    backup: z.boolean().optional().describe('Keep a copy <path>.runbook-<timestamp>.bak (default true).'),
    sudo: z.union([z.boolean(), z.string()]).optional(),
  },
  plan(spec, render) {
    const data: FileEditData = {
      path: render.parts(spec.path, 'text'),
      edits: spec.edits.map((e): PlannedEdit => {
        if ('set' in e) return { set: { key: e.set.key, value: render.parts(e.set.value, 'text'), separator: e.set.separator ?? '=' } };
        if ('removeLines' in e) return { removeLines: render.parts(e.removeLines, 'regex') };
        return { replace: { pattern: render.parts(e.replace.pattern, 'regex'), with: render.parts(e.replace.with, 'replacement') } };
      }),
      backup: spec.backup ?? true,
      sudo: spec.sudo === true ? 'root' : typeof spec.sudo === 'string' ? spec.sudo : null,
    };
    return data;
  },
  describe(data) {
    const lines = [`edit ${displayParts(data.path)}${data.backup ? ' (backup kept beside it)' : ''}`];
    for (const e of data.edits) {
      if ('set' in e) lines.push(`  set ${e.set.key}${e.set.separator}${displayParts(e.set.value)}`);
      else if ('removeLines' in e) lines.push(`  remove lines matching /${displayParts(e.removeLines)}/`);
      else lines.push(`  replace /${displayParts(e.replace.pattern)}/ with ${JSON.stringify(displayParts(e.replace.with))}`);
    }
    return lines;
  },
  async run(data, ctx) {
    const started = Date.now();
    const target = await ctx.connections.command(ctx.target);
    const path = materializeParts(data.path, ctx.values);
    const shell = (command: string, stdin?: string) =>
      target.exec(
        composeCommand({ command: [{ text: command }], env: [], sudo: data.sudo, stdin: null }, (p) => displayParts(p)),
        {
          ...(stdin === undefined ? {} : { stdin }),
          timeoutMs: ctx.timeoutMs,
          signal: ctx.signal,
        },
      );
    const fail = (message: string): ActionResult => ({ status: 'failed', message, durationMs: Date.now() - started });

    const read = await shell(`cat -- ${quoteShellWord(path)}`);
    if (read.exitCode !== 0) return fail(`cannot read ${path}: ${read.stderr.trim() || `exit code ${read.exitCode}`}`);
    const before = read.stdout;
    const after = applyEdits(before, data.edits, ctx);
    if (after === before)
      return { status: 'succeeded', message: `${path} already as wanted; nothing changed`, durationMs: Date.now() - started, diff: '' };

    const { createTwoFilesPatch } = await import('diff');
    const diff = createTwoFilesPatch(path, path, before, after, 'before', 'after');
    ctx.onOutput('stdout', diff);
    const backup = `${path}.runbook-${stamp()}.bak`;
    const write = data.backup
      ? `cp -p -- ${quoteShellWord(path)} ${quoteShellWord(backup)} && cat > ${quoteShellWord(path)}`
      : `cat > ${quoteShellWord(path)}`;
    const written = await shell(write, after);
    if (written.exitCode !== 0) return fail(`cannot write ${path}: ${written.stderr.trim() || `exit code ${written.exitCode}`}`);
    return {
      status: 'succeeded',
      message: `${path} edited${data.backup ? `; backup ${backup}` : ''}`,
      durationMs: Date.now() - started,
      diff,
      stdout: diff,
    };
  },
};

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
}

export function applyEdits(text: string, edits: PlannedEdit[], ctx: Pick<RunContext, 'values'>): string {
  const trailingNewline = text.endsWith('\n') || text === '';
  let lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  for (const e of edits) {
    if ('set' in e) {
      const value = materializeParts(e.set.value, ctx.values);
      // A line break in a value would add lines (keys) of its own to the file.
      if (/[\r\n]/.test(value))
        throw new RunbookError('step-failed', `the value for ${e.set.key} contains a line break; refusing to write it`);
      const keyPattern = new RegExp(`^\\s*${escapeRegExp(e.set.key)}\\s*[=:]`);
      const line = `${e.set.key}${e.set.separator}${value}`;
      const index = lines.findIndex((l) => keyPattern.test(l));
      if (index >= 0) lines[index] = line;
      else lines.push(line);
    } else if ('removeLines' in e) {
      const pattern = new RegExp(materializeParts(e.removeLines, ctx.values));
      lines = lines.filter((l) => !pattern.test(l));
    } else {
      const replacement = materializeParts(e.replace.with, ctx.values);
      const pattern = new RegExp(materializeParts(e.replace.pattern, ctx.values), 'gm');
      lines = lines.join('\n').replace(pattern, replacement).split('\n');
    }
  }
  const joined = lines.join('\n');
  return trailingNewline && lines.length ? joined + '\n' : joined;
}
