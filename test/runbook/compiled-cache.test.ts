/**
 * The cache of validated runbooks: a runbook served from it plans exactly as one validated from
 * its YAML, a changed file is validated again, an invalid one is never stored, and a planning
 * error of a cached runbook still names its line.
 */
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRunbookFile } from '../../src/runbook/load.js';
import { planFiles, runbookYaml, sshStep, tempDir } from './builders.js';

const shipped = [
  'vcd-db-upgrade',
  'bomgar-failover-upgrade',
  'horizon-daas-db-failover',
  'opengauss-cm-upgrade',
  'timesten-online-upgrade',
];

const cache = tempDir('runbook-cache-');
const saved = { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME, RUNBOOK_NO_CACHE: process.env.RUNBOOK_NO_CACHE };
const entries = () => (existsSync(join(cache.dir, 'runbook', 'compiled')) ? readdirSync(join(cache.dir, 'runbook', 'compiled')) : []);

beforeAll(() => {
  process.env.XDG_CACHE_HOME = cache.dir;
  delete process.env.RUNBOOK_NO_CACHE;
});
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  cache.cleanup();
});

describe('compiled runbook cache', () => {
  it.each(shipped)('%s: the plan from the cache equals the plan from the YAML', async (id) => {
    const file = `src/runbooks/${id}.yaml`;
    const options = { inventory: `fixtures/inventories/${id}.yaml`, env: {} };
    process.env.RUNBOOK_NO_CACHE = '1';
    const fresh = await planFiles(file, options);
    delete process.env.RUNBOOK_NO_CACHE;
    loadRunbookFile(file); // fills the cache
    const cached = await planFiles(file, options);
    expect(fresh.errors).toEqual([]);
    expect(cached.plan).toEqual(fresh.plan);
    expect(cached.warnings).toEqual(fresh.warnings);
    expect(entries().some((e) => e.endsWith(`${cached.runbook?.hash}.json`))).toBe(true);
  });

  it('a changed file is validated again, not served from the cache', () => {
    const dir = tempDir();
    try {
      const file = dir.write('rb.yaml', runbookYaml());
      expect(loadRunbookFile(file).runbook?.spec.steps[0]?.title).toBe('Restart the service');
      dir.write('rb.yaml', runbookYaml({ steps: [sshStep({ title: 'Restart it now' })] }));
      expect(loadRunbookFile(file).runbook?.spec.steps[0]?.title).toBe('Restart it now');
      dir.write('rb.yaml', runbookYaml({ steps: [sshStep({ kind: 'telnet' })] }));
      const broken = loadRunbookFile(file);
      expect(broken.runbook).toBeUndefined();
      expect(broken.diagnostics[0]?.message).toMatch(/unknown step kind "telnet"/);
    } finally {
      dir.cleanup();
    }
  });

  it('an invalid runbook is never stored', () => {
    const dir = tempDir();
    try {
      const before = entries().length;
      const file = dir.write('bad.yaml', runbookYaml({ steps: [sshStep({ timeout: 'soon' })] }));
      expect(loadRunbookFile(file).runbook).toBeUndefined();
      expect(entries().length).toBe(before);
    } finally {
      dir.cleanup();
    }
  });

  it('a planning error of a cached runbook names its line and column', async () => {
    const dir = tempDir();
    try {
      const text = runbookYaml({ steps: [sshStep({ command: 'echo {{ params.missing }}' })] });
      const file = dir.write('ref.yaml', text);
      const first = await planFiles(file);
      const second = await planFiles(file); // served from the cache
      const line = text.split('\n').findIndex((l) => l.includes('params.missing')) + 1;
      expect(first.errors[0]?.line).toBe(line);
      expect(second.errors).toEqual(first.errors);
    } finally {
      dir.cleanup();
    }
  });

  it('ignores an entry that others could have written (group- or world-writable)', () => {
    const dir = tempDir();
    try {
      const file = dir.write('rb.yaml', runbookYaml({ title: 'Genuine' }));
      const hash = loadRunbookFile(file).runbook!.hash;
      const entry = entries().find((e) => e.endsWith(`${hash}.json`))!;
      const path = join(cache.dir, 'runbook', 'compiled', entry);
      writeFileSync(path, readFileSync(path, 'utf8').replace('Genuine', 'Tampered'));
      expect(loadRunbookFile(file).runbook?.spec.title).toBe('Tampered');
      chmodSync(path, 0o666);
      expect(loadRunbookFile(file).runbook?.spec.title).toBe('Genuine');
    } finally {
      dir.cleanup();
    }
  });

  it('RUNBOOK_NO_CACHE=1 stores nothing', () => {
    const dir = tempDir();
    try {
      process.env.RUNBOOK_NO_CACHE = '1';
      const before = entries().length;
      const file = dir.write('rb.yaml', runbookYaml({ title: 'Not cached' }));
      expect(loadRunbookFile(file).runbook?.spec.title).toBe('Not cached');
      expect(entries().length).toBe(before);
      expect(readFileSync(file, 'utf8')).toContain('Not cached');
    } finally {
      delete process.env.RUNBOOK_NO_CACHE;
      dir.cleanup();
    }
  });
});
