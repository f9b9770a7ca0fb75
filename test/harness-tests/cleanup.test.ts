/**
 * The harness's cleanup of servers left behind by a dead test process runs while other test
 * processes (other suites, other checkouts) start their own. Pid and namespace numbers are
 * reused, so it must kill only what is still the process or namespace it recorded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HARNESS_ROOT, identifyProcess, isRunning, runCleanupSync, waitFor } from '../harness/util.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function start(args: string[]): ChildProcess {
  const child = spawn(args[0]!, args.slice(1), { stdio: 'ignore' });
  children.push(child);
  return child;
}

async function namespaceOf(pid: number): Promise<string> {
  // unshare execs sleep in the new namespace: wait until the pid has left ours.
  const ours = fs.readlinkSync('/proc/self/ns/mnt');
  return waitFor('the new mount namespace', () => {
    const ns = fs.readlinkSync(`/proc/${pid}/ns/mnt`);
    return ns !== ours ? ns : undefined;
  });
}

describe('harness cleanup', () => {
  it('kills a recorded process only while its start time is the one recorded (pids are reused)', () => {
    const sleeper = start(['sleep', '60']);
    const [identity] = identifyProcess(sleeper.pid!);
    runCleanupSync({ processes: [{ pid: sleeper.pid!, start: `${identity!.start}1` }] });
    expect(isRunning(sleeper.pid!)).toBe(true);
    runCleanupSync({ processes: [identity!] });
    return waitFor('the recorded process to die', () => !isRunning(sleeper.pid!));
  });

  it('kills the processes of a recorded namespace only when they show its mark (namespace numbers are reused)', async () => {
    const mark = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-ns-mark-'));
    const unmarked = start(['unshare', '--mount', '--propagation', 'private', 'sleep', '60']);
    const marked = start(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount --bind ${mark} ${mark} && exec sleep 60`]);
    const unmarkedNs = await namespaceOf(unmarked.pid!);
    const markedNs = await namespaceOf(marked.pid!);
    await waitFor('the mark mounted', () => fs.readFileSync(`/proc/${marked.pid}/mountinfo`, 'utf8').includes(` ${mark} `));

    runCleanupSync({ mountNamespaces: [{ ns: unmarkedNs, mark }] });
    expect(isRunning(unmarked.pid!)).toBe(true);
    runCleanupSync({ mountNamespaces: [{ ns: markedNs, mark }] });
    await waitFor('the marked namespace emptied', () => !isRunning(marked.pid!));
    fs.rmSync(mark, { recursive: true, force: true });
  });

  it('the watchdog reaper applies the same rules once the owner is gone', async () => {
    const owner = start(['sleep', '60']);
    const left = start(['sleep', '60']);
    const reused = start(['sleep', '60']);
    const [identity] = identifyProcess(left.pid!);
    const [other] = identifyProcess(reused.pid!);
    const registry = path.join(HARNESS_ROOT, 'registry');
    fs.mkdirSync(registry, { recursive: true });
    const entry = { processes: [identity!, { pid: reused.pid!, start: `${other!.start}1` }] };
    fs.writeFileSync(path.join(registry, `${owner.pid}-reaper-test.json`), JSON.stringify({ owner: owner.pid, entry }));
    const reaper = start([process.execPath, path.join('test', 'harness', 'reaper.mjs'), String(owner.pid)]);
    owner.kill('SIGKILL');
    await waitFor('the left-behind process to die', () => !isRunning(left.pid!));
    await waitFor('the reaper to finish', () => !isRunning(reaper.pid!));
    expect(isRunning(reused.pid!)).toBe(true);
    expect(fs.existsSync(path.join(registry, `${owner.pid}-reaper-test.json`))).toBe(false);
  });
});
