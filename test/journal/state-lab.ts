/**
 * A small local lab for the state directory tests: the local-marks runbook (each step appends
 * its name to a log), an inventory pointing it at a work directory, a private state directory,
 * and helpers to run the built CLI against them.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../cli/run-cli.js';

export const MARKS_RUNBOOK = join(process.cwd(), 'fixtures', 'state', 'local-marks.yaml');

export interface StateLab {
  dir: string;
  work: string;
  inventory: string;
  stateDir: string;
  /** The marks the steps left, in order. */
  log(): string[];
  /** Lets step two succeed. */
  go(): void;
  exec(extra: string[], stateDir?: string): Promise<CliResult>;
  cli(args: string[], stateDir?: string): Promise<CliResult>;
  eventsFile(runId: string): string;
  planFile(runId: string): string;
  remove(): void;
}

export function stateLab(runbook = MARKS_RUNBOOK): StateLab {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-state-'));
  const work = join(dir, 'work');
  mkdirSync(work);
  const inventory = join(dir, 'inventory.yaml');
  writeFileSync(inventory, `name: local\nparameters:\n  dir: ${work}\n`);
  const stateDir = join(dir, 'state');
  const lab: StateLab = {
    dir,
    work,
    inventory,
    stateDir,
    log: () => (existsSync(join(work, 'log')) ? readFileSync(join(work, 'log'), 'utf8').split('\n').filter(Boolean) : []),
    go: () => writeFileSync(join(work, 'go'), ''),
    exec: (extra, state = stateDir) => runCli(['exec', runbook, '-i', inventory, '--yes', '--state-dir', state, ...extra]),
    cli: (args, state = stateDir) => runCli([...args, '--state-dir', state]),
    eventsFile: (runId) => join(stateDir, 'runs', runId, 'events.jsonl'),
    planFile: (runId) => join(stateDir, 'runs', runId, 'plan.json'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  return lab;
}

export interface RunRowJson {
  id: string;
  state: string;
  journal: string;
  problems: string[];
}

export async function runsJson(lab: StateLab, stateDir = lab.stateDir): Promise<{ runs: RunRowJson[]; locks: Array<{ id: string }> }> {
  const r = await lab.cli(['runs', '--json'], stateDir);
  if (r.code !== 0) throw new Error(`runbook runs failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { runs: RunRowJson[]; locks: Array<{ id: string }> };
}
