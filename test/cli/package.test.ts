/** What `npm pack` ships: the licence package.json names, the example inventories, the smoke seeds. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

it('the package ships the Apache-2.0 LICENSE, the example inventories, the smoke seeds, the example CI workflow and the --json event reference', () => {
  const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' })) as Array<{
    files: Array<{ path: string }>;
  }>;
  const files = pack!.files.map((f) => f.path);
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { license: string };
  expect(pkg.license).toBe('Apache-2.0');
  expect(files).toContain('LICENSE');
  expect(readFileSync('LICENSE', 'utf8')).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
  for (const id of [
    'vcd-db-upgrade',
    'bomgar-failover-upgrade',
    'horizon-daas-db-failover',
    'opengauss-cm-upgrade',
    'timesten-online-upgrade',
  ]) {
    expect(files).toContain(`src/runbooks/${id}.yaml`);
    expect(files).toContain(`fixtures/inventories/${id}.yaml`);
  }
  expect(files).toContain('fixtures/smoke/vcd-db-upgrade.sql');
  expect(files).toContain('fixtures/smoke/horizon-daas-db-failover.sql');
  expect(files).toContain('fixtures/ci/github-actions-smoke.yml');
  expect(files).toContain('docs/json-events.md');
  // The build's fingerprint keys the cache of validated runbooks (scripts/build-fingerprint.mjs).
  expect(files).toContain('dist/build-fingerprint.json');
  // Lab fakes and tests stay out.
  expect(files.filter((f) => f.startsWith('fixtures/fakes/') || f.startsWith('test/'))).toEqual([]);
});
