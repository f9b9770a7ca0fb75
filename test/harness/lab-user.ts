/**
 * The unprivileged account every SSH session of the test labs logs in as.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, sleep } from './util.js';

export const LAB_USER = 'runbook-lab';
export const LAB_HOME = '/var/lib/runbook-lab';

export interface LabUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function lookup(): LabUser | undefined {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${LAB_USER}:`));
  if (!line) return undefined;
  const f = line.split(':');
  return { name: LAB_USER, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? LAB_HOME };
}

/**
 * Login shells (sessions with a shell and no command) read /etc/profile, which on Debian resets
 * PATH. This tiny ~/.bash_profile restores the lab's PATH from LAB_PATH (set by sshd's SetEnv) so
 * shell sessions see the same PATH as exec sessions. There is deliberately no .bashrc/.profile:
 * Debian's bash sources ~/.bashrc for every `ssh host cmd`, which would slow each command down.
 */
const BASH_PROFILE =
  '# runbook test lab: restore the lab PATH after /etc/profile reset it\n[ -n "$LAB_PATH" ] && PATH="$LAB_PATH" && export PATH\n';

let ensured: Promise<LabUser> | undefined;

/** Ensures the `runbook-lab` system user and its home exist (idempotent, safe across workers). */
export function ensureLabUser(): Promise<LabUser> {
  ensured ??= (async () => {
    if (process.getuid?.() !== 0) throw new Error('the test harness must run as root (it starts sshd and PostgreSQL)');
    for (let attempt = 0; attempt < 20 && !lookup(); attempt++) {
      try {
        await run('useradd', ['--system', '--home-dir', LAB_HOME, '--no-create-home', '--shell', '/bin/bash', '--user-group', LAB_USER]);
      } catch (e) {
        // Another worker may be creating it at the same time (exit 9: exists; 10: /etc/passwd locked).
        if (lookup()) break;
        if (attempt === 19) throw e;
        await sleep(100);
      }
    }
    const user = lookup();
    if (!user) throw new Error(`could not create user ${LAB_USER}`);
    user.home = LAB_HOME;
    fs.mkdirSync(LAB_HOME, { recursive: true });
    fs.chownSync(LAB_HOME, user.uid, user.gid);
    fs.chmodSync(LAB_HOME, 0o755);
    for (const f of ['.bashrc', '.profile', '.bash_login', '.bash_logout']) {
      fs.rmSync(path.join(LAB_HOME, f), { force: true });
    }
    const profile = path.join(LAB_HOME, '.bash_profile');
    let current = '';
    try {
      current = fs.readFileSync(profile, 'utf8');
    } catch {
      /* missing */
    }
    if (current !== BASH_PROFILE) {
      const tmp = `${profile}.${process.pid}`;
      fs.writeFileSync(tmp, BASH_PROFILE);
      fs.renameSync(tmp, profile);
    }
    // Unlocked account: sshd (UsePAM no) refuses accounts whose password field is "!" (locked).
    const shadow = fs
      .readFileSync('/etc/shadow', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${LAB_USER}:`));
    const pw = shadow?.split(':')[1] ?? '';
    if (pw.startsWith('!')) await run('usermod', ['-p', '*', LAB_USER]);
    return user;
  })();
  ensured.catch(() => {
    ensured = undefined;
  });
  return ensured;
}
