/** Runs the lab fakes as local processes with LAB_* pointing at temporary directories (no ssh). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { FAKES_BIN_DIR, readCommands } from '../../fixtures/fakes/lib/provision.js';

export interface FakeLab {
  dir: string;
  shared: string;
  hosts: Record<string, { state: string; tree: string; [k: string]: string }>;
  /** Runs `cmd args` "on" host with stdin `input`. */
  run(
    host: string,
    cmd: string,
    args?: string[],
    opts?: { input?: string; env?: Record<string, string> },
  ): { code: number; stdout: string; stderr: string; out: string };
  commands(host: string): ReturnType<typeof readCommands>;
  cleanup(): void;
}

export function fakeLab(hostNames: string[], extraDirs: string[] = []): FakeLab {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-fakes-'));
  fs.chmodSync(dir, 0o755);
  const shared = path.join(dir, 'shared');
  fs.mkdirSync(shared);
  const hosts: FakeLab['hosts'] = {};
  for (const h of hostNames) {
    const e: FakeLab['hosts'][string] = { state: path.join(dir, h, 'state'), tree: path.join(dir, h, 'tree') };
    for (const x of extraDirs) e[x] = path.join(dir, h, x);
    for (const d of Object.values(e)) fs.mkdirSync(d, { recursive: true });
    hosts[h] = e;
  }
  return {
    dir,
    shared,
    hosts,
    run(host, cmd, args = [], opts = {}) {
      const h = hosts[host];
      if (!h) throw new Error(`no host ${host}`);
      const r = spawnSync(cmd, args, {
        input: opts.input ?? '',
        encoding: 'utf8',
        env: {
          PATH: `${FAKES_BIN_DIR}:/usr/local/bin:/usr/bin:/bin`,
          HOME: dir,
          LAB_HOST: host,
          LAB_STATE: h.state,
          LAB_SHARED: shared,
          ...(opts.env ?? {}),
        },
        timeout: 30_000,
      });
      if (r.error) throw r.error;
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, out: r.stdout + r.stderr };
    },
    commands: (host) => readCommands(hosts[host]!.state),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
