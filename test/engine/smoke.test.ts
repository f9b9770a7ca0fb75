/** `runbook smoke`: the SQL parts of a runbook against one database URL, as operators run it in CI. */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { runCli } from '../cli/run-cli.js';

let pg: PgServer;
beforeAll(async () => {
  pg = await startPostgres();
  await pg.createDatabase('smoke');
});
afterAll(async () => {
  await pg?.stop();
});

const runbook = join(process.cwd(), 'fixtures', 'example', 'example-maintenance.yaml');

it('runs the SQL preconditions, steps and verifications and skips everything else', async () => {
  const url = `postgres://${pg.user}:${encodeURIComponent(pg.password)}@${pg.host}:${pg.port}/smoke`;
  const r = await runCli(
    [
      'smoke',
      runbook,
      '--database-url',
      url,
      '--seed',
      join(process.cwd(), 'fixtures', 'smoke', 'example-maintenance.sql'),
      '-p',
      'release=3.1.4',
      '--state-dir',
      join(pg.baseDir, 'state'),
    ],
    { env: { EXAMPLE_DB_PASSWORD: 'unused-in-smoke' } },
  );
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('✔ record-release succeeded');
  expect(r.stdout).toMatch(/announce: .* skipped \(condition false: smoke run: not a SQL step\)/);
  expect(r.stdout).not.toContain(pg.password);
  expect(await pg.query('smoke', "select value from settings where key = 'release'")).toEqual([{ value: '3.1.4' }]);
});

it('fails when the database does not have the schema the runbook expects', async () => {
  await pg.createDatabase('empty');
  const url = `postgres://${pg.user}:${encodeURIComponent(pg.password)}@${pg.host}:${pg.port}/empty`;
  const r = await runCli(['smoke', runbook, '--database-url', url, '--state-dir', join(pg.baseDir, 'state')], {
    env: { EXAMPLE_DB_PASSWORD: 'x' },
  });
  expect(r.code).toBe(4);
  expect(r.stdout).toContain('relation "settings" does not exist');
});
