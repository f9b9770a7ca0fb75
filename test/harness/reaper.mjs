#!/usr/bin/env node
// Watchdog started (detached) by test/harness/util.ts: waits until the owner process is gone,
// then tears down whatever that process registered in /tmp/runbook-harness/registry and did not
// stop itself (vitest may end a worker with a signal, in which case 'exit' handlers never run).
// The rules are the harness's own (cleanup.mjs). Usage: node reaper.mjs <ownerPid>
import { isAlive, reapRegistry } from './cleanup.mjs';

const owner = Number(process.argv[2]);
while (isAlive(owner)) await new Promise((r) => setTimeout(r, 500));
reapRegistry((registeredBy) => registeredBy === owner);
