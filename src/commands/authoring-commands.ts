/**
 * Authoring commands: `runbook new` writes a small runbook that validates, to start from;
 * `runbook explain <path>` describes a field of the runbook (or inventory) format from the same
 * JSON Schema that `runbook schema` prints, so the reference cannot drift from the validator.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { RunbookError } from '../core/errors.js';
import { inventoryJsonSchema } from '../inventory/inventory.js';
import { runbookJsonSchema } from '../runbook/schema.js';
import { members, resolveRef, type JsonSchema } from '../core/schema-walk.js';
import { closest } from '../core/suggest.js';
import type { CommandContext } from './context.js';

const ID = /^[a-z0-9][a-z0-9_-]*$/;

export function scaffold(id: string): string {
  return `# yaml-language-server: $schema=runbook.schema.json   (make it with: runbook schema > runbook.schema.json)
# A new runbook. \`runbook explain steps\` describes the fields; \`runbook validate ${id}.yaml\`
# checks it; \`runbook exec ./${id}.yaml -i inventory.yaml --dry-run\` shows what it would run.
id: ${id}
title: ${id.replace(/[-_]+/g, ' ').replace(/^./, (c) => c.toUpperCase())}
description: What this procedure does, on which systems, and when to use it.
version: 0.1.0
source:
  document: The vendor procedure this runbook follows (title, section)

parameters:
  release:
    type: string
    pattern: '[0-9]+\\.[0-9]+\\.[0-9]+'
    description: The release to install.

targets:
  app:
    type: hosts
    description: The application servers (bound in the inventory under roles.app).

preconditions:
  - title: The hosts answer over SSH
    kind: ssh
    target: app
    command: uname -s
    expect:
      stdout: { contains: Linux }

steps:
  - id: confirm-backup
    title: Take a backup (vendor's procedure)
    kind: manual
    instructions: |
      Back up the application's data as the vendor documents it, then confirm here.
    source: procedure step 1

  - id: install-release
    title: Install the release
    kind: ssh
    target: app
    command: echo install {{ params.release }}   # values are shell-quoted for you
    verify:
      title: The release is installed
      kind: ssh
      command: echo {{ params.release }}
      expect:
        stdout: { contains: '{{ params.release }}' }
    source: procedure step 2
`;
}

export function newCommand(id: string, options: { output?: string; force?: boolean }, ctx: CommandContext): void {
  if (!ID.test(id))
    throw new RunbookError('usage', `"${id}" is not a runbook id`, {
      hint: 'Use lower-case letters, digits, - and _, starting with a letter or digit.',
    });
  const file = options.output ?? `${id}.yaml`;
  if (existsSync(file) && !options.force)
    throw new RunbookError('usage', `${file} exists already`, { hint: 'Choose another name, -o <file>, or --force.' });
  writeFileSync(file, scaffold(id), { mode: 0o644 });
  ctx.printError(`wrote ${file}: edit it, then runbook validate ${file}`);
}

/** One field of the format at a path, or an error saying which names exist there. */
function fieldAt(root: JsonSchema, path: string[]): JsonSchema[] {
  let current: JsonSchema[] = [root];
  const walked: string[] = [];
  for (const segment of path) {
    const options = current.flatMap((s) => expand(root, s));
    const byKind = options.filter((s) => resolveRef(root, s.properties?.kind ?? s.properties?.type ?? {}).const === segment);
    if (byKind.length) {
      current = byKind;
    } else {
      const next = options.flatMap((s) => {
        const p = s.properties?.[segment];
        if (p) return [p];
        // A mapping of names (hosts, parameters): `hosts.address` and `hosts.<name>.address` alike.
        const entry = entryOf(s);
        if (!entry) return [];
        const field = expand(root, entry).flatMap((e) => (e.properties?.[segment] ? [e.properties[segment]] : []));
        return field.length ? field : [entry];
      });
      if (!next.length) {
        const names = [...new Set(options.flatMap((s) => [...Object.keys(s.properties ?? {}), ...kindsOf(root, s)]))];
        const best = closest(segment, names);
        throw new RunbookError(
          'usage',
          `no field "${segment}" under ${walked.length ? walked.join('.') : 'the top level'}${best ? `; did you mean "${best}"?` : ''}`,
          {
            hint: names.length ? `Fields there: ${names.join(', ')}` : 'That field has no fields of its own.',
          },
        );
      }
      current = next;
    }
    walked.push(segment);
  }
  return current;
}

/** A schema seen through its references, lists and unions: the object forms it may take. */
function expand(root: JsonSchema, schema: JsonSchema): JsonSchema[] {
  return members(root, schema).flatMap((m) => (m.type === 'array' && m.items ? expand(root, m.items) : [m]));
}

/** The schema of each entry of a mapping of names. */
function entryOf(schema: JsonSchema): JsonSchema | undefined {
  return !schema.properties && schema.additionalProperties && typeof schema.additionalProperties === 'object'
    ? schema.additionalProperties
    : undefined;
}

function kindsOf(root: JsonSchema, schema: JsonSchema): string[] {
  const kind = resolveRef(root, schema.properties?.kind ?? {}).const;
  return typeof kind === 'string' ? [kind] : [];
}

function typeWords(root: JsonSchema, schema: JsonSchema): string {
  return [
    ...new Set(
      members(root, schema).map((m) => {
        if (m.const !== undefined) return JSON.stringify(m.const);
        if (m.enum) return m.enum.map((v) => JSON.stringify(v)).join(' | ');
        if (m.type === 'array') return `list of ${m.items ? typeWords(root, m.items) : 'values'}`;
        if (m.type === 'object') return m.properties ? 'mapping' : 'mapping of names to values';
        return Array.isArray(m.type) ? m.type.join(' | ') : (m.type ?? 'any');
      }),
    ),
  ].join(' | ');
}

export function explainCommand(path: string, ctx: CommandContext): void {
  const segments = path
    .replace(/\[\d*\]/g, '')
    .split('.')
    .filter(Boolean);
  const inventory = segments[0] === 'inventory';
  const root = (inventory ? inventoryJsonSchema() : runbookJsonSchema()) as JsonSchema;
  const found = fieldAt(root, inventory ? segments.slice(1) : segments);
  const c = ctx.style;
  const lines: string[] = [c.bold(path || (inventory ? 'inventory' : 'runbook'))];
  const descriptions = [
    ...new Set(
      found
        .flatMap((s) => [s, ...members(root, s)])
        .map((s) => s.description)
        .filter(Boolean),
    ),
  ];
  lines.push(`  type: ${[...new Set(found.map((s) => typeWords(root, s)))].join(' | ')}`);
  for (const d of descriptions) lines.push(`  ${d}`);
  const defaults = found.map((s) => s.default).filter((d) => d !== undefined);
  if (defaults.length) lines.push(`  default: ${JSON.stringify(defaults[0])}`);
  const forms = found.flatMap((s) => expand(root, s));
  const entries = forms.flatMap((s) => (entryOf(s) ? expand(root, entryOf(s)!) : []));
  const objects = [...forms, ...entries].filter((s) => s.properties);
  if (entries.some((e) => e.properties)) lines.push('', '  each entry, by name:');
  const variants = objects.filter((s) => kindsOf(root, s).length);
  if (variants.length > 1) {
    lines.push('', '  kinds (explain one with its name, e.g. ' + `${path ? path + '.' : ''}${kindsOf(root, variants[0]!)[0]}):`);
    for (const v of variants)
      lines.push(`    ${kindsOf(root, v)[0]!.padEnd(10)} ${resolveRef(root, v.properties!.kind!).description ?? v.description ?? ''}`);
  } else if (objects.length) {
    lines.push('', '  fields:');
    for (const o of objects) {
      const required = new Set(o.required ?? []);
      for (const [name, field] of Object.entries(o.properties!)) {
        const about = field.description ?? members(root, field).find((m) => m.description)?.description ?? '';
        lines.push(`    ${(name + (required.has(name) ? ' *' : '')).padEnd(16)} ${typeWords(root, field)}${about ? ` - ${about}` : ''}`);
      }
    }
    lines.push('', '  * required');
  }
  ctx.print(lines.join('\n'));
}
