/**
 * Templating with hostile values. Every value is rendered through the planner into a shell
 * command, and the command runs in a real `sh -c`: the program must receive exactly the original
 * bytes, and nothing else may happen (no file created by an injected command).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/planner/plan-types.js';
import { quoteShellWord } from '../../src/core/shell-quote.js';
import {
  displayParts,
  findPlaceholders,
  materializeBinds,
  materializeParts,
  renderParts,
  renderSql,
  TemplateError,
  type Part,
  type Resolver,
  type RuntimeValues,
} from '../../src/core/template.js';
import { composeCommand, type CommandData } from '../../src/steps/command-shape.js';
import { getStepKind } from '../../src/steps/registry.js';
import type { RenderedSql } from '../../src/core/template.js';
import type { RunContext } from '../../src/steps/types.js';
import type { CommandTarget } from '../../src/targets/types.js';
import { inventoryObject, localStep, planObjects, runbookObject, sqlStep, sshStep, tempDir } from './builders.js';

const tmp = tempDir('runbook-hostile-');
/** Any injected command in the values below creates this file. */
const MARK = join(tmp.dir, 'pwned');
/** The working directory of the shell: has files, so an unquoted glob would expand. */
const CWD = join(tmp.dir, 'cwd');
/** A stand-in for sudo that runs what follows `--`, so the sudo layer of quoting runs for real. */
const BIN = join(tmp.dir, 'bin');

beforeAll(() => {
  mkdirSync(CWD);
  mkdirSync(BIN);
  for (const f of ['a.txt', 'b.txt', '-n']) writeFileSync(join(CWD, f), '');
  writeFileSync(join(BIN, 'sudo'), '#!/bin/sh\nwhile [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n');
  chmodSync(join(BIN, 'sudo'), 0o755);
});
afterAll(() => tmp.cleanup());
beforeEach(() => rmSync(MARK, { force: true }));

const binaryish = Array.from({ length: 255 }, (_, i) => String.fromCharCode(i + 1)).join('');
const long = Array.from({ length: 1000 }, (_, i) => `${i}'"$(x)\`y\`;&|*\n`).join('');

const hostile: Array<[string, string]> = [
  ['single quote', "it's"],
  ['double quotes', 'say "hello"'],
  ['both quotes', `'"'"'`],
  ['command substitution', `$(touch ${MARK})`],
  ['backticks', `\`touch ${MARK}\``],
  ['semicolon', `x; touch ${MARK}`],
  ['and-and', `x && touch ${MARK}`],
  ['pipe', `x | touch ${MARK}`],
  ['redirect', `> ${MARK}`],
  ['newline', `x\ntouch ${MARK}\n`],
  ['carriage return and tab', 'a\r\tb'],
  ['glob star', '*'],
  ['glob in a word', '*.txt'],
  ['tilde', '~'],
  ['tilde path', '~/x'],
  ['variables', '$HOME ${PATH} $1 $@ $$'],
  ['backslashes', 'a\\b\\\\n\\'],
  ['unicode', 'Grüße 日本 🚀'],
  ['leading dash', '-n'],
  ['double dash', '--help'],
  ['empty string', ''],
  ['only spaces', '   '],
  ['history and comment', '!! #not a comment'],
  ['printf format', '%s %d %n \\x41'],
  ['very long string', long],
  ['binary-ish (every byte but NUL)', binaryish],
];

function sh(command: string, stdin?: string): Buffer {
  return execFileSync('sh', ['-c', command], {
    cwd: CWD,
    env: { PATH: `${BIN}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: tmp.dir },
    ...(stdin === undefined ? {} : { input: stdin }),
    maxBuffer: 64 * 1024 * 1024,
  });
}

const noRuntimeValues: RuntimeValues = {
  secret: (name) => {
    throw new Error(`unexpected secret ${name}`);
  },
  ref: (ref) => {
    throw new Error(`unexpected ref ${ref}`);
  },
};

function commandOf(plan: Plan | undefined, stepIndex = 0): CommandData {
  const data = plan?.steps[stepIndex]?.action.instances[0]?.data;
  if (!data) throw new Error('no planned instance');
  return data as unknown as CommandData;
}

/** The runbook every hostile value goes through: a local and an ssh step, with env and sudo. */
function hostileRunbook(): Record<string, unknown> {
  return runbookObject({
    parameters: { v: { type: 'string' } },
    steps: [
      localStep({ id: 'local-printf', command: "printf '%s' {{ params.v }}" }),
      sshStep({ id: 'ssh-printf', command: "printf '%s' {{ params.v }}" }),
      sshStep({ id: 'ssh-env', command: `printf '%s' "$NOTE"`, env: { NOTE: '{{ params.v }}' } }),
      sshStep({ id: 'ssh-sudo', sudo: true, command: "printf '%s' {{ params.v }}" }),
      sshStep({ id: 'ssh-sudo-user', sudo: 'app owner', command: `printf '%s' {{ params.v }} "$NOTE"`, env: { NOTE: '{{ params.v }}' } }),
    ],
  });
}

describe('hostile parameter values in shell commands, run by a real sh', () => {
  it.each(hostile)('%s', async (_label, value) => {
    const { plan, errors } = await planObjects(hostileRunbook(), { inventory: inventoryObject(), params: { v: value } });
    expect(errors).toEqual([]);
    const expected = Buffer.from(value, 'utf8');
    for (const [index, wanted] of [
      [0, expected],
      [1, expected],
      [2, expected],
      [3, expected],
      [4, Buffer.concat([expected, expected])],
    ] as const) {
      const data = commandOf(plan, index);
      const command = composeCommand(data, (parts) => materializeParts(parts, noRuntimeValues));
      // The dry-run shows exactly what runs.
      expect(composeCommand(data, displayParts)).toBe(command);
      expect(sh(command).equals(wanted), `step ${index}: ${JSON.stringify(command.slice(0, 200))}`).toBe(true);
    }
    expect(existsSync(MARK)).toBe(false);
    expect(readdirSync(CWD).sort()).toEqual(['-n', 'a.txt', 'b.txt']);
  });

  it.each(hostile)('%s, as a secret or a step value resolved at run time', async (_label, value) => {
    const { plan, errors } = await planObjects(
      runbookObject({
        parameters: { pw: { type: 'secret', env: 'TEST_PW' } },
        steps: [
          { id: 'ask', title: 'Ask', kind: 'prompt', question: 'Which?' },
          localStep({ id: 'use', command: "printf '%s|%s' {{ params.pw }} {{ steps.ask.value }}" }),
        ],
      }),
      { inventory: inventoryObject() },
    );
    expect(errors).toEqual([]);
    const data = commandOf(plan, 1);
    expect(composeCommand(data, displayParts)).toBe("printf '%s|%s' *** <steps.ask.value>");
    const command = composeCommand(data, (parts) => materializeParts(parts, { secret: () => value, ref: () => value }));
    expect(sh(command).equals(Buffer.from(`${value}|${value}`, 'utf8'))).toBe(true);
    expect(existsSync(MARK)).toBe(false);
  });

  it('a list value (roles.<role>.names) becomes one quoted word per entry', async () => {
    const { plan, errors } = await planObjects(
      runbookObject({ steps: [localStep({ command: "printf '<%s>' {{ roles.app.names }} {{ roles.app.count }}" })] }),
      {
        inventory: inventoryObject(),
      },
    );
    expect(errors).toEqual([]);
    expect(sh(composeCommand(commandOf(plan), displayParts)).toString()).toBe('<app1><app2><2>');
  });

  it('quoteShellWord leaves plainly safe words alone and single-quotes everything else', () => {
    expect(quoteShellWord('abc-1.2_3/x:y@z%+=,')).toBe('abc-1.2_3/x:y@z%+=,');
    expect(quoteShellWord('')).toBe("''");
    expect(quoteShellWord("it's")).toBe(`'it'\\''s'`);
    expect(quoteShellWord('a b')).toBe("'a b'");
  });
});

describe('the raw filter', () => {
  it('splices the value unquoted, and loading the runbook warns where it is used', async () => {
    const { plan, errors, warnings } = await planObjects(
      runbookObject({
        parameters: { opts: { type: 'string', default: '-l -a' } },
        steps: [localStep({ command: 'ls {{ params.opts | raw }} /' })],
      }),
    );
    expect(errors).toEqual([]);
    expect(displayParts(commandOf(plan).command)).toBe('ls -l -a /');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      severity: 'warning',
      path: 'steps[0].command',
      line: expect.any(Number),
      column: expect.any(Number),
    });
    expect(warnings[0]?.message).toContain('{{ params.opts | raw }} splices the value unquoted');
  });

  it('is allowed inside quotes (the author takes responsibility), and no warning without it', async () => {
    const raw = await planObjects(
      runbookObject({
        parameters: { n: { type: 'string', default: 'x' } },
        steps: [localStep({ command: `echo "{{ params.n | raw }}"` })],
      }),
    );
    expect(raw.errors).toEqual([]);
    const plain = await planObjects(
      runbookObject({ parameters: { n: { type: 'string', default: 'x' } }, steps: [localStep({ command: 'echo {{ params.n }}' })] }),
    );
    expect(plain.warnings).toEqual([]);
  });
});

describe('template syntax', () => {
  const resolve: Resolver = (path) => (path === 'params.a' ? { kind: 'value', value: 'A' } : undefined);

  it('finds placeholders with and without spaces, and the raw filter', () => {
    expect(findPlaceholders('x {{params.a}} {{ params.a | raw }}').map((p) => [p.path, p.raw])).toEqual([
      ['params.a', false],
      ['params.a', true],
    ]);
  });

  it.each([
    ['{{ params.a', /unclosed "\{\{"/],
    ['{{ params.a | upper }}', /unknown filter "upper"/],
    ['{{ 1abc }}', /is not a valid reference/],
    ['{{ }}', /is not a valid reference/],
    ['{{ params.nope }}', /undefined reference "\{\{ params.nope \}\}"/],
    ["echo '{{ params.a }}'", /inside single quotes/],
    ['echo "x {{ params.a }}"', /inside double quotes/],
  ])('%s is an error', (template, message) => {
    expect(() => renderParts(template, resolve, 'shell')).toThrow(TemplateError);
    expect(() => renderParts(template, resolve, 'shell')).toThrow(message);
  });

  it("an apostrophe in a shell comment does not make the next placeholder 'quoted'; $# is not a comment", () => {
    expect(displayParts(renderParts("true # don't\necho {{ params.a }}", resolve, 'shell'))).toBe("true # don't\necho A");
    expect(() => renderParts(`echo $#'{{ params.a }}'`, resolve, 'shell')).toThrow(/inside single quotes/);
  });

  it('quotes that are closed, or escaped, before the placeholder are not a problem', () => {
    expect(displayParts(renderParts(`echo 'a' "b" \\' {{ params.a }}`, resolve, 'shell'))).toBe(`echo 'a' "b" \\' A`);
  });

  it('text and URL encodings', () => {
    const r: Resolver = () => ({ kind: 'value', value: 'a b/c?d=e&f' });
    expect(displayParts(renderParts('/api/{{ params.x }}', r, 'url'))).toBe('/api/a%20b%2Fc%3Fd%3De%26f');
    expect(displayParts(renderParts('note: {{ params.x }}', r, 'text'))).toBe('note: a b/c?d=e&f');
  });
});

describe('SQL rendering', () => {
  const values: Record<string, string | number> = { a: "O'Brien; drop table users; --", b: 42, table: 'sessions' };
  const resolve: Resolver = (path) => {
    const [head, name] = path.split('.');
    if (head === 'params' && name === 'pw') return { kind: 'secret', name: 'pw' };
    if (head === 'steps') return { kind: 'deferred', ref: path };
    const v = head === 'params' && name ? values[name] : undefined;
    return v === undefined ? undefined : { kind: 'value', value: v };
  };

  it('every placeholder becomes a bind parameter, numbered in order, repeated ones too', () => {
    const out = renderSql(
      'update t set a = {{ params.a }}, b = {{ params.b }} where c = {{params.a}} and d = {{ params.pw }} and e = {{ steps.x.value }}',
      resolve,
    );
    expect(out.text).toBe('update t set a = $1, b = $2 where c = $3 and d = $4 and e = $5');
    expect(out.binds).toEqual([{ value: values.a }, { value: 42 }, { value: values.a }, { secret: 'pw' }, { ref: 'steps.x.value' }]);
    expect(out.text).not.toContain('Brien');
    expect(materializeBinds(out.binds, { secret: () => 's3cret', ref: () => 'later' })).toEqual([
      values.a,
      42,
      values.a,
      's3cret',
      'later',
    ]);
  });

  it('raw splices the value into the text, without a bind', () => {
    const out = renderSql('delete from {{ params.table | raw }} where id = {{ params.b }}', resolve);
    expect(out).toEqual({ text: 'delete from sessions where id = $1', binds: [{ value: 42 }] });
  });

  it('raw refuses a secret or a run-time value', () => {
    expect(() => renderSql('select {{ params.pw | raw }}', resolve)).toThrow(/only plain values can be spliced/);
    expect(() => renderSql('select {{ steps.x.value | raw }}', resolve)).toThrow(/only plain values can be spliced/);
  });

  it('a placeholder inside SQL quotes is an error, also after an escaped quote', () => {
    expect(() => renderSql("select * from t where a = '{{ params.a }}'", resolve)).toThrow(/inside SQL quotes/);
    expect(() => renderSql(`select * from "{{ params.table }}"`, resolve)).toThrow(/inside SQL quotes/);
    expect(() => renderSql("select 'it''s ' || {{ params.a }}", resolve)).not.toThrow();
  });

  it("an apostrophe in a SQL comment does not make the next placeholder 'quoted'", () => {
    // A comment is not a string literal: `-- don't` must not open a quote.
    const sql = "select 1 -- we don't need more\nwhere a = {{ params.a }}";
    let out: RenderedSql | undefined;
    expect(() => (out = renderSql(sql, resolve))).not.toThrow();
    expect(out?.binds).toEqual([{ value: values.a }]);
    expect(renderSql("select /* it's */ {{ params.b }}", resolve).text).toBe("select /* it's */ $1");
  });

  it('a sql step in a plan: binds in order, raw with a warning, the dry-run shows binds not values in the text', async () => {
    const { plan, errors, warnings } = await planObjects(
      runbookObject({
        parameters: { tenant: { type: 'string', default: "acme'; drop table x; --" }, table: { type: 'string', default: 'sessions' } },
        steps: [
          sqlStep({
            sql: [
              'delete from {{ params.table | raw }} where tenant = {{ params.tenant }}',
              'select {{ params.tenant }}, {{ params.table }}',
            ],
          }),
        ],
      }),
      { inventory: inventoryObject() },
    );
    expect(errors).toEqual([]);
    expect(warnings.map((w) => w.message)).toEqual([expect.stringContaining('{{ params.table | raw }}')]);
    const statements = (plan?.steps[0]?.action.instances[0]?.data as { statements: RenderedSql[] }).statements;
    expect(statements).toEqual([
      { text: 'delete from sessions where tenant = $1', binds: [{ value: "acme'; drop table x; --" }] },
      { text: 'select $1, $2', binds: [{ value: "acme'; drop table x; --" }, { value: 'sessions' }] },
    ]);
  });
});

/** Runs commands with a real sh on this machine, as the ssh target would on a host. */
const localTarget: CommandTarget = {
  name: 'local',
  exec: async (command, options) => {
    const r = spawnSync('sh', ['-c', command], { cwd: CWD, input: options.stdin ?? '', encoding: 'utf8' });
    return { exitCode: r.status, stdout: r.stdout, stderr: r.stderr, timedOut: false, cancelled: false };
  },
};
function context(values: RuntimeValues): RunContext {
  return {
    stepId: 'configure',
    target: 'app1',
    connections: { command: async () => localTarget } as unknown as RunContext['connections'],
    values,
    timeoutMs: 10_000,
    signal: new AbortController().signal,
    onOutput: () => undefined,
    operator: {} as RunContext['operator'],
    presetAnswer: undefined,
    runCheck: async () => ({ status: 'succeeded', message: '', durationMs: 0 }),
    sleep: async () => undefined,
  };
}

/** Plans a file-edit step on `file` with parameter v = `value` (no planning error) and runs it on this machine. */
async function planAndRunFileEdit(file: string, edits: unknown[], value: string) {
  const { plan, errors } = await planObjects(
    runbookObject({
      parameters: { v: { type: 'string' } },
      steps: [{ id: 'configure', title: 'Configure', kind: 'file-edit', target: 'app', path: file, edits, backup: false }],
    }),
    { inventory: inventoryObject(), params: { v: value } },
  );
  expect(errors).toEqual([]);
  return getStepKind('file-edit').run(plan?.steps[0]?.action.instances[0]?.data as Record<string, unknown>, context(noRuntimeValues));
}

describe('file-edit values are data', () => {
  it.each(
    hostile.filter(
      ([label]) => !['newline', 'very long string', 'binary-ish (every byte but NUL)', 'carriage return and tab'].includes(label),
    ),
  )('%s in a set value and in the file name is written literally, nothing runs', async (_label, value) => {
    const dir = join(tmp.dir, `edit-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    // The file name carries the value too (only '/' and NUL are impossible in a name).
    const name = `app ${value.replace(/\//g, '_')}.properties`.slice(0, 200);
    const file = join(dir, name);
    writeFileSync(file, 'app.release=1.0\nlegacy.flag=true\nother=1\n');
    const { plan, errors } = await planObjects(
      runbookObject({
        parameters: { v: { type: 'string' }, dir: { type: 'string' } },
        steps: [
          {
            id: 'configure',
            title: 'Configure',
            kind: 'file-edit',
            target: 'app',
            path: `{{ params.dir }}/${name.replace(/\{\{/g, '{ {')}`,
            edits: [{ set: { key: 'app.release', value: '{{ params.v }}' } }, { removeLines: '^legacy\\.' }],
            backup: false,
          },
        ],
      }),
      { inventory: inventoryObject(), params: { v: value, dir } },
    );
    expect(errors).toEqual([]);
    const data = plan?.steps[0]?.action.instances[0]?.data;
    const result = await getStepKind('file-edit').run(data as Record<string, unknown>, context(noRuntimeValues));
    expect(result.status, result.message).toBe('succeeded');
    expect(readFileSync(file, 'utf8')).toBe(`app.release=${value}\nother=1\n`);
    expect(existsSync(MARK)).toBe(false);
  });

  it('a value with "$&" or "$1" in a replace edit is inserted as it is, not as a replacement pattern', async () => {
    const dir = join(tmp.dir, 'edit-dollar');
    mkdirSync(dir);
    const file = join(dir, 'app.conf');
    writeFileSync(file, 'password = old\n');
    const result = await planAndRunFileEdit(
      file,
      [{ replace: { pattern: '^(password = ).*$', with: '$1{{ params.v }}' } }],
      'pa$&wo$1rd$$',
    );
    expect(result.status, result.message).toBe('succeeded');
    // The template's own $1 is replacement syntax; the parameter's "$&", "$1" and "$$" are data.
    expect(readFileSync(file, 'utf8')).toBe('password = pa$&wo$1rd$$\n');
  });

  it.each([
    ['an IP address (dots are literal)', '10.0.0.1', ['db.host.1=10.0.0.1'], ['db.host.2=10.0.0.11', 'db.host.3=10x0x0x1']],
    ['regex syntax', '.*|(a)[b]{2}+?^$\\/', ['db.host.1=.*|(a)[b]{2}+?^$\\/'], ['db.host.2=anything']],
  ])('%s in a removeLines or replace pattern matches itself only', async (_label, value, removed, kept) => {
    const dir = join(tmp.dir, `edit-pattern-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    const file = join(dir, 'db.properties');
    writeFileSync(file, [...removed, ...kept, 'owner=' + value].join('\n') + '\n');
    const result = await planAndRunFileEdit(
      file,
      [{ removeLines: '^db\\.host\\.[0-9]+={{ params.v }}$' }, { replace: { pattern: '^owner={{ params.v }}$', with: 'owner=none' } }],
      value,
    );
    expect(result.status, result.message).toBe('succeeded');
    expect(readFileSync(file, 'utf8')).toBe([...kept, 'owner=none'].join('\n') + '\n');
  });

  it('the backup keeps the old text and the diff is reported', async () => {
    const dir = join(tmp.dir, 'edit-backup');
    mkdirSync(dir);
    const file = join(dir, 'a.properties');
    writeFileSync(file, 'k=1\n');
    const { plan } = await planObjects(
      runbookObject({
        steps: [
          { id: 'configure', title: 'Configure', kind: 'file-edit', target: 'app', path: file, edits: [{ set: { key: 'k', value: '2' } }] },
        ],
      }),
      { inventory: inventoryObject() },
    );
    const result = await getStepKind('file-edit').run(
      plan?.steps[0]?.action.instances[0]?.data as Record<string, unknown>,
      context(noRuntimeValues),
    );
    expect(result.status).toBe('succeeded');
    expect(readFileSync(file, 'utf8')).toBe('k=2\n');
    const backups = readdirSync(dir).filter((f) => f.endsWith('.bak'));
    expect(backups).toHaveLength(1);
    expect(readFileSync(join(dir, backups[0] ?? ''), 'utf8')).toBe('k=1\n');
    expect(result.diff).toContain('-k=1');
    expect(result.diff).toContain('+k=2');
  });
});

/** Keeps the Part type import used in a type position for readers of the plan data. */
export type { Part };

describe('values in expected patterns (matches, notMatches) match themselves only', () => {
  /** A step's output is checked against `^<label>={{ value }}$`, the value given by a parameter and by an earlier step. */
  async function judge(value: string, output: string, how: 'matches' | 'notMatches'): Promise<string[]> {
    const pattern = (ref: string) => ({ stdout: { [how]: `^v=${ref}$` } });
    const { plan, errors } = await planObjects(
      runbookObject({
        parameters: { v: { type: 'string' } },
        steps: [
          localStep({ id: 'read', command: 'echo value', capture: { regex: '(.*)' } }),
          sshStep({ id: 'by-param', command: `printf 'v=%s\\n' ${quoteShellWord(output)}`, expect: pattern('{{ params.v }}') }),
          sshStep({ id: 'by-step', command: `printf 'v=%s\\n' ${quoteShellWord(output)}`, expect: pattern('{{ steps.read.value }}') }),
        ],
      }),
      { inventory: inventoryObject(), params: { v: value } },
    );
    expect(errors).toEqual([]);
    const values: RuntimeValues = { ...noRuntimeValues, ref: () => value };
    const statuses: string[] = [];
    for (const step of plan?.steps.slice(1) ?? []) {
      const data = step.action.instances[0]?.data as Record<string, unknown>;
      statuses.push((await getStepKind('ssh').run(data, context(values))).status);
    }
    return statuses;
  }

  it.each([
    ['an IP address', '10.0.0.1', '10x0y0z1'],
    ['regex syntax', '1.0(beta)[x]|*', '1.0betax'],
    ['a list-looking value', 'a|b', 'a'],
  ])('%s matches itself and not a text its unescaped pattern would match', async (_label, value, lookalike) => {
    expect(await judge(value, value, 'matches')).toEqual(['succeeded', 'succeeded']);
    expect(await judge(value, lookalike, 'matches')).toEqual(['failed', 'failed']);
    expect(await judge(value, lookalike, 'notMatches')).toEqual(['succeeded', 'succeeded']);
    expect(await judge(value, value, 'notMatches')).toEqual(['failed', 'failed']);
  });

  it('the dry-run shows the escaped pattern that is checked; literal regex text stays as written', async () => {
    const { plan } = await planObjects(
      runbookObject({
        parameters: { v: { type: 'string' } },
        steps: [sshStep({ expect: { stdout: { matches: '^\\s*v={{ params.v }}(?![0-9])', contains: '{{ params.v }}' } } })],
      }),
      { inventory: inventoryObject(), params: { v: '10.0.0.1' } },
    );
    const data = plan?.steps[0]?.action.instances[0]?.data as { expect: { stdout: Record<string, string> } };
    expect(data.expect.stdout).toEqual({ matches: '^\\s*v=10\\.0\\.0\\.1(?![0-9])', contains: '10.0.0.1' });
  });
});
