/**
 * The planner: a pure, synchronous function from runbook + inventory + parameters to the plan.
 * Snapshots of the example plan and its dry-run, conditions, confirmations, fan-out, secrets, and
 * the promise that planning touches no network.
 */
import dns from 'node:dns';
import net from 'node:net';
import { Chalk } from 'chalk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { evaluateAtRunTime } from '../../src/planner/conditions.js';
import { buildPlan } from '../../src/planner/planner.js';
import type { Plan, PlannedStep } from '../../src/planner/plan-types.js';
import { loadInventory } from '../../src/inventory/inventory.js';
import { loadRunbookFile } from '../../src/runbook/load.js';
import { resolveParameters } from '../../src/runbook/params.js';
import { displayParts } from '../../src/core/template.js';
import { renderPlan } from '../../src/ui/render-plan.js';
import { inventoryObject, localStep, planFiles, planObjects, runbookObject, sqlStep, sshStep, tempDir } from '../runbook/builders.js';
import { stringify } from 'yaml';

const EXAMPLE = 'fixtures/example/example-maintenance.yaml';
const EXAMPLE_INVENTORY = 'fixtures/inventories/example.yaml';
const plain = new Chalk({ level: 0 });

function step(plan: Plan | undefined, id: string): PlannedStep {
  const found = plan?.steps.find((s) => s.id === id) ?? plan?.rollback.find((s) => s.id === id);
  if (!found) throw new Error(`no step ${id}`);
  return found;
}

/** The plan with its content hashes replaced, so the snapshot shows structure, not bytes. */
function stable(plan: Plan): Plan {
  expect(plan.runbook.hash).toMatch(/^[0-9a-f]{64}$/);
  expect(plan.inventory?.hash).toMatch(/^[0-9a-f]{64}$/);
  return {
    ...plan,
    runbook: { ...plan.runbook, hash: '<sha256>' },
    inventory: plan.inventory ? { ...plan.inventory, hash: '<sha256>' } : null,
  };
}

describe('the example runbook with the example inventory', () => {
  it('plan JSON (snapshot)', async () => {
    const { plan, errors } = await planFiles(EXAMPLE, { inventory: EXAMPLE_INVENTORY, env: {} });
    expect(errors).toEqual([]);
    expect(plan?.formatVersion).toBe(2);
    expect(JSON.parse(JSON.stringify(stable(plan!)))).toMatchSnapshot();
  });

  it('dry-run text without colour (snapshot)', async () => {
    const { plan } = await planFiles(EXAMPLE, { inventory: EXAMPLE_INVENTORY, env: {} });
    const text = renderPlan(plan!, plain);
    expect(text).not.toContain('\u001b[');
    expect(text).toMatchSnapshot();
  });

  it('the plan is plain JSON data: it survives a JSON round trip unchanged', async () => {
    const { plan } = await planFiles(EXAMPLE, { inventory: EXAMPLE_INVENTORY, env: {} });
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('planning twice gives the same plan', async () => {
    const a = await planFiles(EXAMPLE, { inventory: EXAMPLE_INVENTORY, env: {} });
    const b = await planFiles(EXAMPLE, { inventory: EXAMPLE_INVENTORY, env: {} });
    expect(b.plan).toEqual(a.plan);
  });
});

describe('conditions', () => {
  const conditional = runbookObject({
    parameters: { mode: { type: 'enum', values: ['quick', 'full'], default: 'quick' }, verbose: { type: 'boolean', default: false } },
    steps: [
      { id: 'ask', title: 'Proceed?', kind: 'prompt', question: 'Proceed?', choices: ['yes', 'no'] },
      sshStep({ id: 'full-only', when: { param: 'mode', equals: 'full' }, verify: { kind: 'ssh', command: 'true' } }),
      sshStep({ id: 'not-full', when: { not: { param: 'mode', equals: 'full' } } }),
      sshStep({ id: 'verbose', when: { param: 'verbose', equals: true } }),
      sshStep({ id: 'asked-yes', when: { step: 'ask', equals: 'yes' } }),
      sshStep({
        id: 'full-and-yes',
        when: {
          all: [
            { param: 'mode', equals: 'full' },
            { step: 'ask', equals: 'yes' },
          ],
        },
      }),
      sshStep({
        id: 'quick-or-yes',
        when: {
          any: [
            { param: 'mode', equals: 'quick' },
            { step: 'ask', equals: 'yes' },
          ],
        },
      }),
      sshStep({ id: 'in-list', when: { param: 'mode', in: ['full', 'other'] } }),
    ],
  });

  it('parameter conditions are decided when planning; a skipped step renders nothing', async () => {
    const quick = await planObjects(conditional, { inventory: inventoryObject(), params: { mode: 'quick' } });
    expect(quick.errors).toEqual([]);
    const s = step(quick.plan, 'full-only');
    expect(s.condition).toEqual({ decided: 'skip', text: 'params.mode == "full"', runtime: null });
    expect(s.action.instances).toEqual([]);
    expect(s.verify).toBeNull();
    expect(step(quick.plan, 'not-full').condition.decided).toBe('run');
    expect(step(quick.plan, 'verbose').condition.decided).toBe('skip');
    expect(step(quick.plan, 'in-list').condition.decided).toBe('skip');
    expect(renderPlan(quick.plan!, plain)).toContain('skipped: condition params.mode == "full" is false with these parameters');

    const full = await planObjects(conditional, { inventory: inventoryObject(), params: { mode: 'full', verbose: 'yes' } });
    expect(step(full.plan, 'full-only').condition).toEqual({ decided: 'run', text: 'params.mode == "full"', runtime: null });
    expect(step(full.plan, 'full-only').action.instances.map((i) => i.target)).toEqual(['app1', 'app2']);
    expect(step(full.plan, 'not-full').condition.decided).toBe('skip');
    expect(step(full.plan, 'verbose').condition.decided).toBe('run');
    expect(step(full.plan, 'in-list').condition.decided).toBe('run');
  });

  it('conditions on step values are left for run time, reduced by what parameters decide', async () => {
    const quick = await planObjects(conditional, { inventory: inventoryObject(), params: { mode: 'quick' } });
    expect(step(quick.plan, 'asked-yes').condition).toEqual({
      decided: 'at-run-time',
      text: 'steps.ask == "yes"',
      runtime: { step: 'ask', equals: 'yes' },
    });
    // all(false, ?) is false; any(true, ?) is true: no run-time part is left.
    expect(step(quick.plan, 'full-and-yes').condition.decided).toBe('skip');
    expect(step(quick.plan, 'quick-or-yes').condition.decided).toBe('run');
    const full = await planObjects(conditional, { inventory: inventoryObject(), params: { mode: 'full' } });
    expect(step(full.plan, 'full-and-yes').condition).toEqual({
      decided: 'at-run-time',
      text: 'steps.ask == "yes"',
      runtime: { step: 'ask', equals: 'yes' },
    });
    expect(step(full.plan, 'quick-or-yes').condition.decided).toBe('at-run-time');
    expect(renderPlan(full.plan!, plain)).toContain('runs only if steps.ask == "yes"');
  });

  it('run-time conditions are evaluated against step outcomes', () => {
    const outcome = (value: string) => (id: string) => (id === 'ask' ? { status: 'succeeded' as const, value } : undefined);
    expect(evaluateAtRunTime({ step: 'ask', equals: 'yes' }, outcome('yes'))).toBe(true);
    expect(evaluateAtRunTime({ step: 'ask', equals: 'yes' }, outcome('no'))).toBe(false);
    expect(evaluateAtRunTime({ step: 'ask', status: 'failed' }, outcome('yes'))).toBe(false);
    expect(evaluateAtRunTime({ not: { step: 'ask', matches: '^y' } }, outcome('yes'))).toBe(false);
    expect(
      evaluateAtRunTime(
        {
          any: [
            { step: 'ask', equals: 'no' },
            { step: 'ask', in: ['maybe', 'yes'] },
          ],
        },
        outcome('yes'),
      ),
    ).toBe(true);
    expect(evaluateAtRunTime({ step: 'other', equals: 'x' }, outcome('yes'))).toBe(false);
  });

  it('a condition naming both or neither of param and step is an error', async () => {
    const { errors } = await planObjects(
      runbookObject({
        parameters: { m: { type: 'string', default: 'x' } },
        steps: [
          sshStep({ id: 'a' }),
          sshStep({ id: 'b', when: { param: 'm', step: 'a', equals: 'x' } }),
          sshStep({ id: 'c', when: { equals: 'x' } }),
        ],
      }),
    );
    expect(errors.map((e) => [e.path, e.message])).toEqual([
      ['steps[1].when', 'each condition names exactly one of "param" or "step"'],
      ['steps[2].when', 'each condition names exactly one of "param" or "step"'],
    ]);
  });
});

describe('preconditions with a condition', () => {
  const runbook = runbookObject({
    parameters: { mode: { type: 'enum', values: ['quick', 'full'], default: 'quick' } },
    preconditions: [
      { title: 'hosts answer', kind: 'ssh', target: 'app', command: 'true' },
      {
        title: 'full mode needs the archive',
        kind: 'ssh',
        target: 'app',
        command: 'test -d /srv/archive',
        when: { param: 'mode', equals: 'full' },
      },
    ],
  });

  it('are checked only when their parameter condition holds, and the dry-run says which were left out', async () => {
    const full = await planObjects(runbook, { inventory: inventoryObject(), params: { mode: 'full' } });
    expect(full.errors).toEqual([]);
    expect(full.plan?.preconditions.map((p) => p.title)).toEqual(['hosts answer', 'full mode needs the archive']);
    expect(full.plan?.skippedPreconditions).toEqual([]);
    const quick = await planObjects(runbook, { inventory: inventoryObject(), params: { mode: 'quick' } });
    expect(quick.plan?.preconditions.map((p) => p.title)).toEqual(['hosts answer']);
    expect(quick.plan?.skippedPreconditions).toEqual([{ title: 'full mode needs the archive', condition: 'params.mode == "full"' }]);
    const text = renderPlan(quick.plan!, plain);
    expect(text).toContain('P1. hosts answer');
    expect(text).not.toContain('P2.');
    expect(text).toContain('skipped: full mode needs the archive (only when params.mode == "full")');
  });

  it('may not depend on a step, which has not run when preconditions are checked', async () => {
    const { errors } = await planObjects(
      runbookObject({
        steps: [sshStep({ id: 'first' })],
        preconditions: [{ title: 'after first', kind: 'ssh', target: 'app', command: 'true', when: { step: 'first', equals: 'x' } }],
      }),
      { inventory: inventoryObject() },
    );
    expect(errors.map((e) => [e.path, e.message, typeof e.line])).toEqual([
      ['preconditions[0].when', 'condition on step "first", which is not an earlier step', 'number'],
    ]);
  });
});

describe('confirmations', () => {
  const runbook = runbookObject({
    steps: [
      sshStep({ id: 'change' }),
      sshStep({ id: 'look', readOnly: true }),
      sshStep({ id: 'quiet', confirm: 'none' }),
      sshStep({ id: 'wipe', destructive: true }),
      localStep({ id: 'wipe-local', destructive: true, readOnly: false }),
      sshStep({ id: 'wipe-named', destructive: true, confirm: { typed: 'delete {{ roles.app.count }} hosts' } }),
      sqlStep({ id: 'query' }),
      { id: 'ask', title: 'Ask', kind: 'prompt', question: 'Go?' },
      { id: 'do-it', title: 'Do it', kind: 'manual', instructions: 'Click the button.' },
      { id: 'pause', title: 'Pause', kind: 'wait', duration: '1s' },
    ],
  });

  it('defaults: changes ask y/N, read-only and operator steps ask nothing, destructive steps ask for a typed value', async () => {
    const { plan, errors } = await planObjects(runbook, { inventory: inventoryObject() });
    expect(errors).toEqual([]);
    const confirm = (id: string) => {
      const c = step(plan, id).confirm;
      return c.expected ? `${c.mode}:${displayParts(c.expected)}` : c.mode;
    };
    expect(confirm('change')).toBe('yes');
    expect(confirm('look')).toBe('none');
    expect(confirm('quiet')).toBe('none');
    // The default typed value names the targets, or the runbook when there is none.
    expect(confirm('wipe')).toBe('typed:app1,app2');
    expect(confirm('wipe-local')).toBe('typed:restart-app');
    expect(confirm('wipe-named')).toBe('typed:delete 2 hosts');
    expect(confirm('query')).toBe('yes');
    expect(confirm('ask')).toBe('none');
    expect(confirm('do-it')).toBe('none');
    expect(confirm('pause')).toBe('none');
    expect(step(plan, 'wipe').destructive).toBe(true);
    expect(renderPlan(plan!, plain)).toContain('[ssh, type "app1,app2" to confirm, DESTRUCTIVE]');
  });

  it('a typed confirmation is asked once per step: it names a role entry or a parameter, not the host of one instance', async () => {
    const { errors } = await planObjects(
      runbookObject({ steps: [sshStep({ id: 'wipe', destructive: true, confirm: { typed: '{{ host.name }}' } })] }),
      {
        inventory: inventoryObject(),
      },
    );
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('undefined reference "{{ host.name }}"')]);
    const byRole = await planObjects(
      runbookObject({ steps: [sshStep({ id: 'wipe', destructive: true, confirm: { typed: '{{ roles.app.name }}' } })] }),
      {
        inventory: inventoryObject(),
      },
    );
    expect(byRole.errors).toEqual([]);
  });
});

describe('fan-out, retries, failure handling, timeouts', () => {
  it('settings are resolved with their defaults', async () => {
    const { plan, errors } = await planObjects(
      runbookObject({
        steps: [
          sshStep({ id: 'default' }),
          sshStep({ id: 'serial', fanOut: { mode: 'serial' } }),
          sshStep({ id: 'limited', fanOut: { limit: 4 } }),
          sshStep({ id: 'batches', fanOut: { mode: 'batches', batchSize: 3, maxFailures: 1 } }),
          sshStep({ id: 'retried', retries: { count: 3, delay: '10s' }, timeout: '90s', onFailure: 'continue' }),
          sshStep({ id: 'retried-default', retries: { count: 2 }, timeout: 30, onFailure: { rollback: ['undo'] } }),
        ],
        rollback: [sshStep({ id: 'undo', title: 'Undo' })],
      }),
      { inventory: inventoryObject() },
    );
    expect(errors).toEqual([]);
    expect(step(plan, 'default').fanOut).toEqual({ mode: 'parallel', limit: 10, batchSize: 10, maxFailures: 0 });
    expect(step(plan, 'serial').fanOut).toEqual({ mode: 'serial', limit: 1, batchSize: 10, maxFailures: 0 });
    expect(step(plan, 'limited').fanOut).toEqual({ mode: 'parallel', limit: 4, batchSize: 4, maxFailures: 0 });
    expect(step(plan, 'batches').fanOut).toEqual({ mode: 'batches', limit: 10, batchSize: 3, maxFailures: 1 });
    expect(step(plan, 'default')).toMatchObject({ timeoutMs: 300_000, retries: null, onFailure: { mode: 'stop', rollback: [] } });
    expect(step(plan, 'retried')).toMatchObject({
      timeoutMs: 90_000,
      retries: { count: 3, delayMs: 10_000 },
      onFailure: { mode: 'continue', rollback: [] },
    });
    expect(step(plan, 'retried-default')).toMatchObject({
      timeoutMs: 30_000,
      retries: { count: 2, delayMs: 5000 },
      onFailure: { mode: 'rollback', rollback: ['undo'] },
    });
    expect(plan?.rollback.map((s) => [s.id, s.phase])).toEqual([['undo', 'rollback']]);
  });
});

describe('secrets never enter the plan', () => {
  const MARKER = 'MARKER-s3cr3t-7f1c2a';
  const runbook = runbookObject({
    parameters: { pw: { type: 'secret', env: 'TEST_APP_PASSWORD', description: 'Application admin password' }, token: { type: 'secret' } },
    targets: { app: { type: 'hosts' }, appdb: { type: 'database' }, api: { type: 'http' } },
    steps: [
      sshStep({ id: 'cmd', command: 'app-admin --password {{ params.pw }}', env: { APP_PW: '{{ params.pw }}' }, stdin: '{{ params.pw }}' }),
      sshStep({ id: 'pty', command: 'app-admin login', pty: { answers: [{ prompt: 'Password:', answer: '{{ params.pw }}' }] } }),
      sqlStep({ id: 'sql', sql: 'alter role app password {{ params.pw }}' }),
      {
        id: 'http',
        title: 'Call',
        kind: 'http',
        target: 'api',
        method: 'POST',
        path: '/login',
        headers: { Authorization: 'Bearer {{ params.token }}' },
        body: '{{ params.pw }}',
      },
    ],
  });
  const inventory = inventoryObject({
    hosts: {
      app1: { address: '10.20.0.11', password: { env: 'TEST_SSH_PASSWORD' } },
      app2: { address: '10.20.0.12', passphrase: { prompt: true } },
    },
    endpoints: { api: { url: 'https://api.example.com', auth: { type: 'bearer', token: { env: 'TEST_API_TOKEN' } } } },
    roles: { app: ['app1', 'app2'], appdb: 'appdb', api: 'api' },
  });
  const env = { TEST_APP_PASSWORD: MARKER, TEST_DB_PASSWORD: MARKER, TEST_SSH_PASSWORD: MARKER, TEST_API_TOKEN: MARKER };

  it('the plan JSON and the dry-run hold no secret value, only where each secret comes from', async () => {
    const { plan, errors } = await planObjects(runbook, { inventory, env });
    expect(errors).toEqual([]);
    const json = JSON.stringify(plan);
    const text = renderPlan(plan!, plain);
    expect(json).not.toContain(MARKER);
    expect(text).not.toContain(MARKER);
    expect(text).toContain("$ export APP_PW='***'; app-admin --password ***");
    expect(text).toContain('stdin: "***"');
    expect(text).toContain('on prompt /Password:/ answer "***"');
    expect(text).toContain('body: ***');
    expect(text).toContain('alter role app password $1;');
    expect(text).toContain('-- binds: $1 = ***');
    expect(text).toContain('Authorization: Bearer ***');
    expect(plan?.parameters.find((p) => p.name === 'pw')).toEqual({
      name: 'pw',
      type: 'secret',
      secret: true,
      source: 'environment',
      from: 'env TEST_APP_PASSWORD',
    });
    expect(plan?.secrets.map((s) => [s.name, s.from])).toEqual([
      ['params.pw', { env: 'TEST_APP_PASSWORD', orPrompt: true }],
      ['params.token', { prompt: true }],
      ['inventory.app1.password', { env: 'TEST_SSH_PASSWORD' }],
      ['inventory.app2.passphrase', { prompt: true }],
      ['inventory.appdb.password', { env: 'TEST_DB_PASSWORD' }],
      ['inventory.api.token', { env: 'TEST_API_TOKEN' }],
    ]);
  });

  it('a secret given as a literal --param or inventory value is refused, and not echoed', async () => {
    const byParam = await planObjects(runbook, { inventory, env, params: { pw: MARKER } });
    expect(byParam.errors).toHaveLength(1);
    expect(byParam.errors[0]).toMatchObject({ file: '(command line)', path: '--param pw' });
    expect(byParam.errors[0]?.message).toContain('"pw" is a secret: give it through the environment variable TEST_APP_PASSWORD');
    const byInventory = await planObjects(runbook, { inventory: { ...inventory, parameters: { pw: MARKER } }, env });
    expect(byInventory.errors).toHaveLength(1);
    expect(byInventory.errors[0]).toMatchObject({ path: 'parameters.pw', line: expect.any(Number) });
    expect(JSON.stringify([...byParam.diagnostics, ...byInventory.diagnostics])).not.toContain(MARKER);
  });
});

describe('the planner opens no connection', () => {
  afterEach(() => vi.restoreAllMocks());

  it('an inventory of unreachable addresses plans at once, synchronously, without touching the network', async () => {
    const tmp = tempDir();
    try {
      const rbFile = tmp.write(
        'rb.yaml',
        stringify(
          runbookObject({
            targets: { app: { type: 'hosts' }, appdb: { type: 'database' }, api: { type: 'http' } },
            preconditions: [
              { kind: 'ssh', target: 'app', command: 'true' },
              { kind: 'sql', target: 'appdb', sql: 'select 1' },
              { kind: 'http', target: 'api', path: '/' },
            ],
            steps: [sshStep(), sqlStep(), { id: 'poll', title: 'Poll', kind: 'http', target: 'api', path: '/health' }],
          }),
        ),
      );
      const invFile = tmp.write(
        'inv.yaml',
        stringify({
          hosts: { app1: { address: '10.255.255.1', port: 1 }, app2: { address: 'unreachable.invalid' } },
          databases: { appdb: { host: '192.0.2.1', port: 9, database: 'x', password: { env: 'NOPE' } } },
          endpoints: { api: { url: 'https://198.51.100.7:1/' } },
          roles: { app: ['app1', 'app2'], appdb: 'appdb', api: 'api' },
        }),
      );
      const runbook = loadRunbookFile(rbFile).runbook!;
      const inventory = loadInventory(invFile);
      const params = await resolveParameters(runbook.spec.parameters, { commandLine: {}, inventory: {}, env: {} });
      const connect = vi.spyOn(net.Socket.prototype, 'connect');
      const lookup = vi.spyOn(dns, 'lookup');
      const started = performance.now();
      const out = buildPlan({ runbook, inventory, parameters: params.values, parameterInfo: params.info, answers: {} });
      const elapsed = performance.now() - started;
      expect(out).not.toBeInstanceOf(Promise);
      expect(out.diagnostics).toEqual([]);
      expect(out.plan.steps[0]?.action.instances.map((i) => i.where)).toEqual(['10.255.255.1:1', 'unreachable.invalid']);
      expect(connect).not.toHaveBeenCalled();
      expect(lookup).not.toHaveBeenCalled();
      expect(elapsed).toBeLessThan(1000);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('targets and references', () => {
  it('host, db and role facts resolve per instance', async () => {
    const { plan, errors } = await planObjects(
      runbookObject({
        steps: [
          sshStep({
            id: 'facts',
            command: 'echo {{ host.name }} {{ host.address }} {{ host.port }} {{ host.user }} {{ host.vars.workdir }} {{ target.name }}',
          }),
          sqlStep({ id: 'dbfacts', sql: 'select {{ db.name }}, {{ db.database }}, {{ db.port }}' }),
          localStep({
            id: 'roles',
            command: 'echo {{ roles.app.addresses }} {{ roles.appdb.host }} {{ runbook.id }} {{ runbook.version }}',
          }),
        ],
      }),
      { inventory: inventoryObject() },
    );
    expect(errors).toEqual([]);
    const shown = (id: string) => step(plan, id).action.instances.map((i) => displayParts((i.data as { command: [] }).command));
    expect(shown('facts')).toEqual(['echo app1 10.20.0.11 22 deploy /srv/app app1', 'echo app2 10.20.0.12 22 deploy /srv/app app2']);
    expect((step(plan, 'dbfacts').action.instances[0]?.data as { statements: unknown[] }).statements).toEqual([
      { text: 'select $1, $2, $3', binds: [{ value: 'appdb' }, { value: 'app' }, { value: 5432 }] },
    ]);
    expect(shown('roles')).toEqual(['echo 10.20.0.11 10.20.0.12 10.20.0.20 restart-app 1.0.0']);
  });

  it('a host variable missing in this inventory is an error that says so', async () => {
    const { errors } = await planObjects(runbookObject({ steps: [sshStep({ command: 'cd {{ host.vars.missing }}' })] }), {
      inventory: inventoryObject(),
    });
    // One per host that lacks it, and no talk of steps "acting on a target of that type": this one does.
    expect(errors.map((e) => [e.path, e.message])).toEqual([
      [
        'steps[0].command',
        'undefined reference "{{ host.vars.missing }}" (with this inventory): host "app1" has no "missing" under vars in the inventory',
      ],
      [
        'steps[0].command',
        'undefined reference "{{ host.vars.missing }}" (with this inventory): host "app2" has no "missing" under vars in the inventory',
      ],
    ]);
  });

  it('{{ steps.<id>.value }} must name an earlier step', async () => {
    const { errors } = await planObjects(
      runbookObject({
        steps: [
          localStep({ id: 'early', command: 'echo {{ steps.late.value }}' }),
          { id: 'late', title: 'Late', kind: 'prompt', question: 'Q?' },
        ],
      }),
    );
    expect(errors.map((e) => [e.path, e.message])).toEqual([['steps[0].command', 'undefined reference "{{ steps.late.value }}"']]);
  });
});
