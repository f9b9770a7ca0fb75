import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fakeLab, type FakeLab } from './helpers.js';
import { writeServices, readServices, setDf } from '../../fixtures/fakes/lib/provision.js';

describe('generic fakes: service, sudo, killall, df', () => {
  let lab: FakeLab;
  beforeEach(() => {
    lab = fakeLab(['h1']);
  });
  afterEach(() => lab.cleanup());
  const st = () => lab.hosts.h1!.state;

  it('service', () => {
    writeServices(st(), { dtService: 'running', diagnose: 'stopped' });
    expect(lab.run('h1', 'service', ['dtService', 'status'])).toMatchObject({ code: 0, stdout: 'dtService is running\n' });
    expect(lab.run('h1', 'service', ['diagnose', 'status'])).toMatchObject({ code: 3, stdout: 'diagnose is stopped\n' });
    expect(lab.run('h1', 'service', ['nope', 'start'])).toMatchObject({ code: 1, stderr: 'nope: unrecognized service\n' });
    expect(lab.run('h1', 'service', ['dtService', 'stop']).code).toBe(0);
    expect(lab.run('h1', 'service', ['diagnose', 'restart']).code).toBe(0);
    expect(readServices(st())).toEqual({ dtService: 'stopped', diagnose: 'running' });
    // A hook that refuses.
    fs.mkdirSync(path.join(st(), 'service-hooks'));
    fs.writeFileSync(path.join(st(), 'service-hooks', 'dtService'), '#!/bin/sh\necho "hook $1" >&2\nexit 1\n', { mode: 0o755 });
    const r = lab.run('h1', 'service', ['dtService', 'start']);
    expect(r).toMatchObject({ code: 1, stderr: 'hook start\n' });
    expect(readServices(st()).dtService).toBe('stopped');
    expect(lab.commands('h1').map((c) => [c.argv.join(' '), c.exit])).toContainEqual(['dtService start', 1]);
  });

  it('sudo passes the target user and runs the command; logs both', () => {
    const r = lab.run('h1', 'sudo', ['-n', '-u', 'omm', 'sh', '-c', 'echo $LAB_EFFECTIVE_USER:$SUDO_USER:${KEEP:-none}'], {
      env: { KEEP: 'x' },
    });
    expect(r.stdout).toBe('omm:runbook-lab:none\n');
    expect(lab.run('h1', 'sudo', ['-E', 'sh', '-c', 'echo $LAB_EFFECTIVE_USER:$KEEP'], { env: { KEEP: 'x' } }).stdout).toBe('root:x\n');
    expect(lab.run('h1', 'sudo', ['sh', '-c', 'exit 7']).code).toBe(7);
    expect(lab.run('h1', 'sudo', ['no-such-cmd'])).toMatchObject({ code: 1, stderr: 'sudo: no-such-cmd: command not found\n' });
    expect(
      lab
        .commands('h1')
        .filter((c) => c.tool === 'sudo')
        .map((c) => c.exit),
    ).toEqual([0, 0, 7, 1]);
  });

  it('killall kills by pidfile, reports no process found', async () => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const dir = path.join(st(), 'pids', 'slon');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'fdb.pid'), `${child.pid}\n`);
    const exited = new Promise((res) => child.on('exit', res));
    expect(lab.run('h1', 'killall', ['slon']).code).toBe(0);
    await exited;
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(lab.run('h1', 'killall', ['slon'])).toMatchObject({ code: 1, stderr: 'slon: no process found\n' });
  });

  it('df passes through without df.json and reports the configured usage with it', () => {
    expect(lab.run('h1', 'df', ['-P', '/']).stdout).toMatch(/^Filesystem/);
    setDf(st(), [{ filesystem: '/dev/sdb1', mountpoint: '/opt', sizeKB: 1048576, usePercent: 95 }]);
    expect(lab.run('h1', 'df', ['-h', '/opt/x']).stdout).toMatch(
      /^Filesystem +Size +Used +Avail +Use% +Mounted on\n\/dev\/sdb1 +1.0G +973M +52M +95% \/opt\n$/,
    );
  });
});
