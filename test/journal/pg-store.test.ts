/**
 * The shared store: journal and lock in PostgreSQL (RUNBOOK_STATE_URL). A run killed mid-step is
 * resumed from the database journal; a second run on the same targets is refused (advisory lock)
 * even from another state directory; a killed run's lock does not outlive its connection.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/util.js';
import { runCli, startCli } from '../cli/run-cli.js';
import { DB_PASSWORD, execArgs, marksOf, remoteGone, startJournalLab, STEPS, TOKEN, type JournalLab } from './journal-lab.js';

let lab: JournalLab;
let stateUrl: string;
beforeAll(async () => {
  lab = await startJournalLab(['127.0.43.1', '127.0.43.2']);
  await lab.pg.createDatabase('runbook_state');
  stateUrl = lab.pg.url('runbook_state');
});
afterAll(async () => {
  await lab?.stop();
});

/** exec args without --state-dir: the store comes from RUNBOOK_STATE_URL. */
const pgArgs = (tag: string, runId: string) => {
  const args = execArgs(lab, tag, runId);
  const i = args.indexOf('--state-dir');
  args.splice(i, 2);
  return args;
};

async function waitForRecord(runId: string, needle: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const rows = await lab.pg
      .query<{ n: number }>('runbook_state', 'select count(*)::int as n from runbook_events where run_id = $1 and record like $2', [
        runId,
        `%${needle}%`,
      ])
      .catch(() => [{ n: 0 }]);
    if ((rows[0]?.n ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no ${needle} in the journal of ${runId}`);
}

describe('shared PostgreSQL store', () => {
  it('journals to the database, locks across state directories, resumes a killed run', async () => {
    const env = { ...lab.env, RUNBOOK_STATE_URL: stateUrl };
    const { child, result } = startCli(pgArgs('pg1', 'pg-a'), { env });
    const exited = result.then((r) => r.signal);
    await waitForRecord('pg-a', '"type":"step-started","stepId":"long"');
    // Frozen in its long step (its lock and database session held) while other commands look at it.
    child.kill('SIGSTOP');

    const [held] = await lab.pg.query<{ id: string }>('runbook_state', 'select id from runbook_locks where run_id = $1', ['pg-a']);
    const [runs, second, force] = await Promise.all([
      runCli(['runs', '--json'], { env }),
      // Another operator, another state directory, same shared store: refused.
      runCli([...pgArgs('pg2', 'pg-b'), '--state-url', stateUrl], { env: { ...lab.env, RUNBOOK_STATE_DIR: join(lab.dir, 'other-state') } }),
      // --force does not break the lock of a run alive on this host (nor end its database session).
      runCli(['runs', '--break-lock', held!.id, '--force'], { env }),
    ]);
    expect(runs.code, runs.stderr).toBe(0);
    expect((JSON.parse(runs.stdout) as { runs: Array<{ id: string; state: string }> }).runs.find((r) => r.id === 'pg-a')?.state).toBe(
      'running',
    );
    expect(second.code).toBe(8);
    expect(second.stderr).toContain('is being run by run pg-a');
    expect(force.code, force.stderr).toBe(8);
    expect(force.stderr).toContain('still running as pid');
    expect(child.exitCode).toBe(null);

    // Killed in the middle of the long step. PostgreSQL ends the lock with the killed session.
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    await waitFor('the killed run to show as crashed, its lock stale', async () => {
      const after = JSON.parse((await runCli(['runs', '--json'], { env })).stdout) as {
        runs: Array<{ id: string; state: string }>;
        locks: Array<{ runId: string; stale: boolean }>;
      };
      return (
        after.runs.find((r) => r.id === 'pg-a')?.state === 'unknown' && after.locks.filter((l) => l.runId === 'pg-a').every((l) => l.stale)
      );
    });
    await remoteGone(lab, 'steps-pg1.log');

    const resumed = await runCli(['resume', 'pg-a', '--yes'], { env });
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    for (const step of STEPS) expect(await marksOf(lab, 'pg1', step), step).toEqual((await marksOf(lab, 'pg1', step)).map(() => 1));
    const records = (
      await lab.pg.query<{ record: string }>('runbook_state', 'select record from runbook_events where run_id = $1 order by seq', ['pg-a'])
    ).map((r) => JSON.parse(r.record) as { type: string; by?: string; stepId?: string });
    expect(records.find((r) => r.type === 'unknown-outcome')).toMatchObject({ stepId: 'long', by: 'verification' });
    expect(records.at(-1)).toMatchObject({ type: 'run-finished', status: 'succeeded' });

    const report = await runCli(['report', 'pg-a', '--format', 'json'], { env });
    expect(report.code, report.stderr).toBe(0);
    expect(JSON.parse(report.stdout)).toMatchObject({ runId: 'pg-a', state: 'succeeded' });
    const everything = (
      await lab.pg.query<{ t: string }>(
        'runbook_state',
        "select coalesce(string_agg(record, ''), '') || (select coalesce(string_agg(plan, ''), '') from runbook_runs) as t from runbook_events",
      )
    )[0]!.t;
    for (const secret of [TOKEN, DB_PASSWORD]) {
      expect(everything.includes(secret)).toBe(false);
      expect(report.stdout.includes(secret)).toBe(false);
    }
  });

  it('chains the journal in the database too: a forged row or an edited plan is reported, and resume refuses', async () => {
    const env = { ...lab.env, RUNBOOK_STATE_URL: stateUrl };
    const rowOf = async () =>
      (
        JSON.parse((await runCli(['runs', '--json'], { env })).stdout) as {
          runs: Array<{ id: string; journal: string; problems: string[] }>;
        }
      ).runs.find((r) => r.id === 'pg-a');
    expect(await rowOf()).toMatchObject({ journal: 'intact', problems: [] });
    await lab.pg.query('runbook_state', 'insert into runbook_events(run_id, record) values ($1, $2)', [
      'pg-a',
      JSON.stringify({ time: new Date().toISOString(), type: 'run-finished', status: 'failed', message: 'forged', exitCode: 1 }),
    ]);
    const forged = await rowOf();
    expect(forged?.journal).toBe('altered');
    expect(forged?.problems[0]).toMatch(/^line \d+ is a record without a checksum/);
    await lab.pg.query('runbook_state', `delete from runbook_events where run_id = $1 and record like '%forged%'`, ['pg-a']);
    expect((await rowOf())?.journal).toBe('intact');
    await lab.pg.query('runbook_state', `update runbook_runs set plan = replace(plan, 'echo', 'echo EDITED') where run_id = $1`, ['pg-a']);
    expect((await rowOf())?.problems[0]).toMatch(/^the stored plan was changed after the run started/);
    const resumed = await runCli(['resume', 'pg-a', '--yes'], { env });
    expect(resumed.code).toBe(9);
    expect(resumed.stderr).toContain('the journal of run pg-a was altered');
  });
});
