/**
 * The executor's rules without servers: fan-out, retries, maxFailures, stop versus kill,
 * rollback, onFailure: continue, lost and unreachable connections, the pre-flight and partial
 * runs. Steps run against fake connections (the `Connections` interface) that script each host.
 */
import { describe, expect, it } from 'vitest';
import { EventBus, type RunEvent } from '../../src/engine/events.js';
import { executePlan, type ExecuteOptions } from '../../src/engine/executor.js';
import { SecretStore } from '../../src/engine/secrets.js';
import { RunbookError } from '../../src/core/errors.js';
import type { Plan } from '../../src/planner/plan-types.js';
import type { CommandOptions, CommandResult, Connections } from '../../src/targets/types.js';
import { inventoryObject, planObjects, runbookObject } from '../runbook/builders.js';

type Obj = Record<string, unknown>;

/** What a fake host does with a command: its result, after an optional wait that a kill ends. */
type Script = (host: string, command: string, options: CommandOptions) => Partial<CommandResult> | Promise<Partial<CommandResult>>;

const ok: Partial<CommandResult> = { exitCode: 0 };

/** Fake connections: every command is recorded as `host: command`, then answered by the script. */
function fakeConnections(script: Script): Connections & { ran: string[] } {
  const ran: string[] = [];
  return {
    ran,
    async command(host) {
      const name = host ?? 'local';
      return {
        name,
        async exec(command, options) {
          ran.push(`${name}: ${command}`);
          const r = await script(name, command, options);
          return { exitCode: null, stdout: '', stderr: '', timedOut: false, cancelled: false, ...r };
        },
      };
    },
    sql: () => Promise.reject(new Error('no SQL in these tests')),
    http: () => Promise.reject(new Error('no HTTP in these tests')),
    closeAll: async () => undefined,
  };
}

/** Resolves when the signal aborts: a command that runs until it is killed. */
const untilKilled = (signal: AbortSignal) =>
  new Promise<Partial<CommandResult>>((resolve) => {
    if (signal.aborted) resolve({ cancelled: true });
    signal.addEventListener('abort', () => resolve({ cancelled: true }), { once: true });
  });

const inventory = inventoryObject({
  hosts: {
    app1: { address: '10.0.0.1', user: 'deploy' },
    app2: { address: '10.0.0.2', user: 'deploy' },
    app3: { address: '10.0.0.3', user: 'deploy' },
  },
  roles: { app: ['app1', 'app2', 'app3'], appdb: 'appdb' },
});

async function plan(steps: Obj[], extra: Obj = {}, answers: Record<string, string> = {}): Promise<Plan> {
  const planned = await planObjects(runbookObject({ steps, ...extra }), { inventory, env: { TEST_DB_PASSWORD: 'x' }, answers });
  expect(planned.errors).toEqual([]);
  return planned.plan!;
}

const ssh = (id: string, command: string, more: Obj = {}): Obj => ({ id, title: id, kind: 'ssh', target: 'app', command, ...more });

interface Run {
  summary: Awaited<ReturnType<typeof executePlan>> | null;
  error: RunbookError | null;
  events: RunEvent[];
  ran: string[];
  of<T extends RunEvent['type']>(type: T): Array<Extract<RunEvent, { type: T }>>;
}

async function run(
  p: Plan,
  script: Script,
  options: Partial<ExecuteOptions> & { stop?: AbortController; kill?: AbortController } = {},
): Promise<Run> {
  const events: RunEvent[] = [];
  const bus = new EventBus((t) => t);
  bus.on((e) => events.push(e));
  const connections = fakeConnections(script);
  const stop = options.stop ?? new AbortController();
  const kill = options.kill ?? new AbortController();
  const result: Run = {
    summary: null,
    error: null,
    events,
    ran: connections.ran,
    of: (type) => events.filter((e) => e.type === type) as never,
  };
  try {
    result.summary = await executePlan({
      plan: p,
      runId: 'test-run',
      operator: 'tester@here',
      connections,
      secrets: new SecretStore(),
      bus,
      io: {
        confirmDone: async () => true,
        ask: async () => 'asked',
        retryOrAbort: async () => 'abort',
      },
      confirmer: { confirm: async () => ({ confirmed: true, by: 'flag' }) },
      stopSignal: stop.signal,
      killSignal: kill.signal,
      mode: 'exec',
      runPreconditions: true,
      sleep: async () => undefined,
      ...options,
    });
  } catch (error) {
    if (!(error instanceof RunbookError)) throw error;
    result.error = error;
  }
  return result;
}

const finished = (r: Run) => r.of('run-finished')[0];

describe('fan-out', () => {
  it('runs a parallel step on every host and fails it when one host fails', async () => {
    const r = await run(await plan([ssh('s', 'do-it'), ssh('after', 'never')]), (host) => (host === 'app2' ? { exitCode: 3 } : ok));
    expect(r.ran.filter((x) => x.endsWith('do-it')).sort()).toEqual(['app1: do-it', 'app2: do-it', 'app3: do-it']);
    expect(r.ran.some((x) => x.endsWith('never'))).toBe(false);
    expect(r.summary).toMatchObject({ status: 'failed', exitCode: 1, message: 'step s failed' });
    expect(r.of('step-finished')[0]).toMatchObject({ status: 'failed', message: expect.stringContaining('app2: exit code 3') });
  });

  it('stops starting hosts after the first failure in serial mode: the others are "not started"', async () => {
    const r = await run(await plan([ssh('s', 'do-it', { fanOut: { mode: 'serial' } })]), (host) =>
      host === 'app1' ? { exitCode: 1 } : ok,
    );
    expect(r.ran).toEqual(['app1: do-it']);
    expect(r.of('step-finished')[0]?.message).toContain('(1 of 3 failed, 2 not started)');
    expect(r.summary?.exitCode).toBe(1);
  });

  it('tolerates maxFailures failed hosts and fails beyond', async () => {
    const one = await run(await plan([ssh('s', 'x', { fanOut: { mode: 'serial', maxFailures: 1 } })]), (host) =>
      host === 'app1' ? { exitCode: 1 } : ok,
    );
    expect(one.summary?.status).toBe('succeeded');
    expect(one.ran).toHaveLength(3);
    expect(one.of('step-finished')[0]?.message).toBe('2 of 3 succeeded');
    const two = await run(await plan([ssh('s', 'x', { fanOut: { mode: 'serial', maxFailures: 1 } })]), (host) =>
      host === 'app3' ? ok : { exitCode: 1 },
    );
    expect(two.summary?.status).toBe('failed');
    expect(two.ran).toEqual(['app1: x', 'app2: x']);
  });
});

describe('retries', () => {
  it('retries a step until it passes, each attempt announced', async () => {
    let calls = 0;
    const r = await run(await plan([ssh('flaky', 'x', { target: 'app', retries: { count: 3, delay: '1s' } })]), () =>
      ++calls >= 7 ? ok : { exitCode: 1 },
    );
    // Attempts 1 and 2 fail somewhere among three hosts; the third attempt passes everywhere.
    expect(r.summary?.status).toBe('succeeded');
    expect(r.of('step-started').map((e) => e.attempt)).toEqual([1, 2, 3]);
  });

  it('gives up after the last retry', async () => {
    const r = await run(await plan([ssh('flaky', 'x', { retries: { count: 2, delay: '1s' } })]), () => ({ exitCode: 1 }));
    expect(r.of('step-started')).toHaveLength(3);
    expect(r.summary?.exitCode).toBe(1);
  });
});

describe('stop (one Ctrl-C) versus kill (two)', () => {
  it('a stop lets the running host finish, marks the hosts not started as interrupted, ends 130 without rollback', async () => {
    const stop = new AbortController();
    const p = await plan([ssh('s', 'x', { fanOut: { mode: 'serial' }, onFailure: { rollback: ['undo'] } })], {
      rollback: [ssh('undo', 'undo-it')],
    });
    const r = await run(
      p,
      (host) => {
        if (host === 'app1') stop.abort();
        return ok;
      },
      { stop },
    );
    expect(r.ran).toEqual(['app1: x']);
    expect(r.of('instance-finished')).toEqual([expect.objectContaining({ target: 'app1', status: 'succeeded' })]);
    expect(r.of('step-finished')[0]).toMatchObject({ status: 'interrupted', message: expect.stringContaining('app2, app3') });
    expect(r.of('rollback-started')).toEqual([]);
    expect(r.summary).toMatchObject({ status: 'interrupted', exitCode: 130 });
    expect(r.summary?.message).toContain('not started on app2, app3');
  });

  it('a stop during a limited parallel fan-out starts no new host', async () => {
    const stop = new AbortController();
    const p = await plan([ssh('s', 'x', { fanOut: { mode: 'parallel', limit: 2 } })]);
    const r = await run(
      p,
      async (host) => {
        if (host === 'app2') stop.abort();
        return ok;
      },
      { stop },
    );
    expect(r.ran.sort()).toEqual(['app1: x', 'app2: x']);
    expect(r.of('step-finished')[0]?.status).toBe('interrupted');
    expect(r.summary?.exitCode).toBe(130);
  });

  it('a stop while a host fails does not start the rollback either: the run ends interrupted', async () => {
    const stop = new AbortController();
    const p = await plan([ssh('s', 'x', { onFailure: { rollback: ['undo'] } })], { rollback: [ssh('undo', 'undo-it')] });
    const r = await run(
      p,
      (host) => {
        stop.abort();
        return host === 'app1' ? { exitCode: 1 } : ok;
      },
      { stop },
    );
    expect(r.ran.some((x) => x.includes('undo-it'))).toBe(false);
    expect(r.of('rollback-started')).toEqual([]);
    expect(r.summary).toMatchObject({ status: 'interrupted', exitCode: 130 });
    expect(r.summary?.message).toContain('it failed: app1: exit code 1');
  });

  it('a kill cancels the running commands: the step is interrupted, the run ends 130', async () => {
    const stop = new AbortController();
    const kill = new AbortController();
    const p = await plan([ssh('s', 'long', { fanOut: { mode: 'serial' } }), ssh('next', 'never')]);
    const r = await run(
      p,
      (_host, _command, options) => {
        stop.abort();
        kill.abort();
        return untilKilled(options.signal);
      },
      { stop, kill },
    );
    expect(r.of('instance-finished')).toEqual([expect.objectContaining({ target: 'app1', status: 'failed', cancelled: true })]);
    expect(r.of('step-finished')[0]?.status).toBe('interrupted');
    expect(r.summary).toMatchObject({ status: 'interrupted', exitCode: 130 });
    expect(r.ran).toEqual(['app1: long']);
  });
});

describe('rollback', () => {
  it('runs the named rollback steps after a failure, recorded, and stops the run', async () => {
    const p = await plan([ssh('s', 'x', { onFailure: { rollback: ['undo1', 'undo2'] } }), ssh('after', 'never')], {
      rollback: [ssh('undo1', 'undo-1'), ssh('undo2', 'undo-2')],
    });
    const r = await run(p, (_h, command) => (command === 'x' ? { exitCode: 1 } : ok));
    expect(r.of('rollback-started')).toEqual([expect.objectContaining({ stepId: 's', rollback: ['undo1', 'undo2'] })]);
    expect(r.ran.filter((x) => x.includes('undo')).length).toBe(6);
    expect(r.ran.some((x) => x.includes('never'))).toBe(false);
    expect(r.summary).toMatchObject({ status: 'failed', exitCode: 1 });
  });

  it('stops rolling back at the first rollback step that fails', async () => {
    const p = await plan([ssh('s', 'x', { onFailure: { rollback: ['undo1', 'undo2'] } })], {
      rollback: [ssh('undo1', 'undo-1'), ssh('undo2', 'undo-2')],
    });
    const r = await run(p, (_h, command) => (command === 'undo-2' ? ok : { exitCode: 1 }));
    expect(r.ran.some((x) => x.includes('undo-2'))).toBe(false);
  });

  it("skips a rollback step whose when: is false (by a parameter or an earlier step's outcome), recorded with its cause, and goes on", async () => {
    const p = await plan([ssh('prep', 'p'), ssh('s', 'x', { onFailure: { rollback: ['undo-by-param', 'undo-by-step', 'undo-always'] } })], {
      parameters: { mode: { type: 'string', default: 'a' } },
      rollback: [
        ssh('undo-by-param', 'undo-1', { when: { param: 'mode', equals: 'b' } }),
        ssh('undo-by-step', 'undo-2', { when: { step: 'prep', status: 'failed' } }),
        ssh('undo-always', 'undo-3', { when: { step: 's', status: 'failed' } }),
      ],
    });
    const r = await run(p, (_h, command) => (command === 'x' ? { exitCode: 1 } : ok));
    expect(r.ran.filter((x) => x.includes('undo-1') || x.includes('undo-2'))).toEqual([]);
    expect(r.ran.filter((x) => x.includes('undo-3')).length).toBe(3);
    expect(r.of('step-skipped').map((e) => [e.stepId, e.cause])).toEqual([
      ['undo-by-param', 'condition'],
      ['undo-by-step', 'condition'],
    ]);
    expect(r.summary).toMatchObject({ status: 'failed', exitCode: 1 });
  });
});

describe('onFailure: continue', () => {
  it('runs every step but ends failed (exit 1), naming the steps that failed', async () => {
    const p = await plan([ssh('a', 'a', { onFailure: 'continue' }), ssh('b', 'b'), ssh('c', 'c', { onFailure: 'continue' })]);
    const r = await run(p, (_h, command) => (command === 'b' ? ok : { exitCode: 2 }));
    expect(r.ran.filter((x) => x.endsWith(': b'))).toHaveLength(3);
    expect(r.summary).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(finished(r)?.message).toBe('every step ran, but 2 failed and the run went on past them (onFailure: continue): a, c');
    expect(finished(r)?.message).not.toContain('all steps completed');
  });

  it('counts a continued failure of an earlier session (resume) too', async () => {
    const p = await plan([ssh('a', 'a', { onFailure: 'continue' }), ssh('b', 'b')]);
    const r = await run(p, () => ok, { completed: new Map([['a', { status: 'failed' }]]) });
    expect(r.summary).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(r.ran.every((x) => x.endsWith(': b'))).toBe(true);
  });
});

describe('connections', () => {
  it('a connection lost while a step runs is an unknown outcome: exit 6, no retry, no rollback, nothing after', async () => {
    const p = await plan([ssh('s', 'x', { retries: { count: 2, delay: '1s' }, onFailure: { rollback: ['undo'] } }), ssh('after', 'y')], {
      rollback: [ssh('undo', 'undo-it')],
    });
    const r = await run(p, (host) => (host === 'app2' ? { connectionLost: true } : ok));
    expect(r.of('step-started')).toHaveLength(1);
    expect(r.of('step-finished')[0]).toMatchObject({ status: 'unknown' });
    expect(r.of('instance-finished').find((e) => e.target === 'app2')?.message).toContain('outcome is unknown');
    expect(r.of('rollback-started')).toEqual([]);
    expect(r.ran.some((x) => x.endsWith('y') || x.includes('undo'))).toBe(false);
    expect(r.summary).toMatchObject({ status: 'failed', exitCode: 6 });
    expect(r.summary?.message).toContain('the connection to app2 was lost during step s');
  });

  it('a host that cannot be reached fails the step with exit 6', async () => {
    const p = await plan([ssh('s', 'x')]);
    const r = await run(p, (host) => {
      if (host === 'app3') throw new RunbookError('connection', 'cannot connect to app3: connection refused');
      return ok;
    });
    expect(r.summary).toMatchObject({ status: 'failed', exitCode: 6, message: 'step s failed (no connection to app3)' });
  });

  it('a precondition that cannot reach its host ends the run with exit 6, before any step', async () => {
    const p = await plan([ssh('s', 'x')], {
      preconditions: [{ title: 'reachable', kind: 'ssh', target: 'app', command: 'true' }],
    });
    const r = await run(p, (host) => {
      if (host === 'app1') throw new RunbookError('connection', 'cannot connect to app1: timed out');
      return ok;
    });
    expect(r.error?.exitCode).toBe(6);
    expect(r.error?.message).toContain('no connection to app1');
    expect(finished(r)).toMatchObject({ status: 'failed', exitCode: 6 });
    expect(r.ran.some((x) => x.endsWith(': x'))).toBe(false);
  });
});

describe('pre-flight of an unattended run', () => {
  const confirmStep = (id: string, more: Obj = {}) => ssh(id, id, more);

  it('lists every answer the run lacks and runs nothing, not even the first step', async () => {
    const p = await plan(
      [
        ssh('first', 'first-change'),
        { id: 'choose', title: 'choose', kind: 'prompt', question: 'Which method?', choices: ['a', 'b'] },
        { id: 'hands', title: 'hands', kind: 'manual', instructions: 'Do it by hand.' },
        confirmStep('drop', { destructive: true }),
      ],
      { rollback: [] },
    );
    const r = await run(p, () => ok, { unattended: { yes: true, allowDestructive: false } });
    expect(r.ran).toEqual([]);
    expect(r.error?.exitCode).toBe(5);
    expect(r.error?.message).toContain('prompt step choose asks a question: --answer choose=<value>');
    expect(r.error?.message).toContain('manual step hands needs the operator');
    expect(r.error?.message).toContain('step drop is destructive: --yes --allow-destructive');
    expect(finished(r)).toMatchObject({ status: 'aborted', exitCode: 5 });
  });

  it('passes with the flags and answers given, and ignores steps the run will not take', async () => {
    const p = await plan(
      [
        { id: 'choose', title: 'choose', kind: 'prompt', question: 'Which method?', choices: ['a', 'b'] },
        confirmStep('drop', { destructive: true }),
      ],
      {},
      { choose: 'a' },
    );
    expect((await run(p, () => ok, { unattended: { yes: true, allowDestructive: true } })).summary?.status).toBe('succeeded');
    const partial = await run(p, () => ok, { unattended: { yes: false, allowDestructive: false }, only: 'choose' });
    expect(partial.summary?.status).toBe('succeeded');
  });

  it('an attested manual step needs --attest, whatever the answers say', async () => {
    const p = await plan(
      [ssh('first', 'x'), { id: 'backup', title: 'backup', kind: 'manual', attest: true, instructions: 'Back up.' }],
      {},
      { backup: 'done' },
    );
    const r = await run(p, () => ok, { unattended: { yes: true, allowDestructive: true } });
    expect(r.error?.message).toContain('manual step backup must be attested by the operator: run on a terminal, or --attest backup');
    expect(r.ran).toEqual([]);
    const attested = await run(p, () => ok, { unattended: { yes: true, allowDestructive: true, attested: ['backup'] } });
    expect(attested.summary?.status).toBe('succeeded');
  });

  it('checks the rollback steps a failure may run', async () => {
    const p = await plan([ssh('s', 'x', { onFailure: { rollback: ['undo'] } })], {
      rollback: [{ id: 'undo', title: 'undo', kind: 'manual', instructions: 'Undo by hand.' }],
    });
    const r = await run(p, () => ok, { unattended: { yes: true, allowDestructive: true } });
    expect(r.error?.message).toContain(
      'manual step undo needs the operator: run on a terminal, or --answer undo=done for a rehearsal (rollback step)',
    );
    expect(r.ran).toEqual([]);
  });
});

describe('a partial run whose conditions depend on a step it leaves out', () => {
  const steps = [
    ssh('backup', 'backup'),
    ssh('install', 'install'),
    ssh('destroy', 'destroy', { when: { step: 'backup', status: 'succeeded' } }),
    ssh('restore', 'restore'),
  ];

  it('stops before anything runs instead of silently skipping the gated step', async () => {
    const r = await run(await plan(steps), () => ok, { from: 'install' });
    expect(r.ran).toEqual([]);
    expect(r.error?.exitCode).toBe(5);
    expect(r.error?.message).toContain(
      'step destroy runs only if steps.backup succeeded, but step backup does not run this time (--from install): say how it ended with --answer backup=succeeded|failed|skipped',
    );
  });

  it('runs the gated step when the operator answers for the left-out step', async () => {
    const r = await run(await plan(steps, {}, { backup: 'succeeded' }), () => ok, { from: 'install' });
    expect(r.summary?.status).toBe('succeeded');
    expect(r.ran.map((x) => x.split(': ')[1])).toEqual([
      'install',
      'install',
      'install',
      'destroy',
      'destroy',
      'destroy',
      'restore',
      'restore',
      'restore',
    ]);
  });

  it('skips it when the operator says the left-out step failed', async () => {
    const r = await run(await plan(steps, {}, { backup: 'failed' }), () => ok, { from: 'install' });
    expect(r.of('step-skipped').map((e) => [e.stepId, e.cause])).toEqual([
      ['backup', 'not-selected'],
      ['destroy', 'condition'],
    ]);
  });

  it('a left-out prompt step is answered with its value', async () => {
    const p = await plan(
      [
        { id: 'method', title: 'method', kind: 'prompt', question: 'Which?', choices: ['sync', 'async'] },
        ssh('go', 'go'),
        ssh('async-only', 'async', { when: { step: 'method', equals: 'async' } }),
      ],
      {},
      { method: 'async' },
    );
    const r = await run(p, () => ok, { from: 'go' });
    expect(r.ran.filter((x) => x.endsWith(': async'))).toHaveLength(3);
  });
});
