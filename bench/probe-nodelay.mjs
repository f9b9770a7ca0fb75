#!/usr/bin/env node
/**
 * Diagnostic (not part of `npm run bench`): the latency of one `true` on an open ssh2 connection,
 * with ssh2's default socket (Nagle on) and with client.setNoDelay(true). Brings up one lab sshd.
 * Needs the compiled harness: `npm run build && npx tsc -p bench/tsconfig.json` first.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const H = path.join(REPO, 'node_modules', '.cache', 'runbook-bench', 'test', 'harness') + '/';
const { startSshLab } = await import(pathToFileURL(H + 'sshd.js').href);
const { Client } = await import('ssh2');
const lab = await startSshLab({ hosts: [{ name: 'n1', address: '127.0.61.1' }] });
const h = lab.hosts[0];
async function trial(noDelay) {
  const c = new Client();
  await new Promise((res, rej) => {
    c.once('ready', res);
    c.once('error', rej);
    c.connect({ host: h.address, port: h.port, username: lab.user, privateKey: readFileSync(lab.clientKeyPath), hostVerifier: () => true });
  });
  if (noDelay) c._sock.setNoDelay(true);
  const times = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await new Promise((res, rej) =>
      c.exec('true', (err, s) => {
        if (err) return rej(err);
        s.on('close', res);
        s.resume();
        s.stderr.resume();
        s.end();
      }),
    );
    times.push(performance.now() - t);
  }
  c.end();
  times.sort((a, b) => a - b);
  console.log(
    `client noDelay=${noDelay}: exec 'true' median ${times[5].toFixed(1)} ms (min ${times[0].toFixed(1)}, max ${times[9].toFixed(1)})`,
  );
}
try {
  await trial(false);
  await trial(true);
} finally {
  await lab.stop();
}
