/**
 * The shared store: journals and locks in one PostgreSQL database, so a team sees every run and
 * two operators on different machines cannot run the same runbook on the same appliances at
 * once. Locks are session advisory locks, released by PostgreSQL when the holder's connection
 * ends (a killed run cannot leave a lock behind); a table beside them says who holds which.
 * Journal writes go through a worker thread and are waited for, so each event is committed
 * before the run goes on.
 */
import { createHash } from 'node:crypto';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { RunbookError } from '../core/errors.js';
import { pgClient, type PgClient } from '../targets/pg-client.js';
import { hostname } from 'node:os';
import { CHAIN_SEED, planDigest } from './chain.js';
import { journalAlteredError, journalWriter, type JournalHandle } from './journal.js';
import { isProcessAlive, lockedError, type HeldLock, type LockInfo, type LockKey, type LockOwner } from './lock.js';
import { storedRun, type StoredRun } from './read.js';
import { checkRunId } from './state-dir.js';
import type { StateStore } from './state-store.js';

const SCHEMA = `
create table if not exists runbook_runs (run_id text primary key, runbook text not null, plan text, created_at timestamptz not null default now());
create table if not exists runbook_events (seq bigserial primary key, run_id text not null references runbook_runs(run_id), record text not null);
create index if not exists runbook_events_run on runbook_events(run_id, seq);
create table if not exists runbook_locks (id text primary key, runbook text not null, targets text not null, run_id text not null, pid integer not null,
  host text not null, username text not null, since text not null, backend_pid integer not null, advisory_key bigint not null);`;

/** A positive 62-bit key, so it splits cleanly into pg_locks' classid and objid. */
function advisoryKey(id: string): string {
  const n = createHash('sha256').update(`runbook-lock:${id}`).digest().readBigUInt64BE(0) & 0x3fffffffffffffffn;
  return n.toString();
}

export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

async function connect(url: string, purpose: string): Promise<PgClient> {
  const client = pgClient(url, `runbook ${purpose}`);
  try {
    await client.connect();
  } catch (error) {
    throw new RunbookError('connection', `cannot reach the shared state store ${safeUrl(url)}: ${(error as Error).message}`, {
      hint: 'Check RUNBOOK_STATE_URL / --state-url, or use the local state directory with --state-dir.',
    });
  }
  return client;
}

export async function openPgStore(url: string): Promise<StateStore> {
  const client = await connect(url, 'state');
  await client.query('begin');
  await client.query('select pg_advisory_xact_lock(7265627001)');
  await client.query(SCHEMA);
  await client.query('commit');
  const where = safeUrl(url);

  const toInfo = (row: Record<string, unknown>, stale: boolean): LockInfo => ({
    id: String(row.id),
    runbook: String(row.runbook),
    targets: JSON.parse(String(row.targets)) as string[],
    runId: String(row.run_id),
    pid: Number(row.pid),
    host: String(row.host),
    user: String(row.username),
    since: String(row.since),
    stale,
  });
  const isHeld = async (key: string) =>
    (
      await client.query(
        `select exists(select 1 from pg_locks where locktype = 'advisory' and granted and objsubid = 1 and ((classid::bigint << 32) | objid::bigint) = $1::bigint) as held`,
        [key],
      )
    ).rows[0]?.held === true;
  const listLocks = async (): Promise<LockInfo[]> => {
    const rows = (await client.query('select * from runbook_locks order by since')).rows as Array<Record<string, unknown>>;
    // One query at a time: a pg client does not take concurrent queries (pg@9 refuses them).
    const out: LockInfo[] = [];
    for (const r of rows) out.push(toInfo(r, !(await isHeld(String(r.advisory_key)))));
    return out;
  };
  const read = async (runId: string): Promise<StoredRun | null> => {
    const run = (await client.query('select plan from runbook_runs where run_id = $1', [runId])).rows[0] as
      { plan: string | null } | undefined;
    if (!run) return null;
    const events = (await client.query('select record from runbook_events where run_id = $1 order by seq', [runId])).rows as Array<{
      record: string;
    }>;
    return storedRun(runId, run.plan, events.map((e) => `${e.record}\n`).join(''));
  };

  const store: StateStore = {
    where,
    option: ` --state-url '${where}'`,
    async createJournal(runId, plan, redact) {
      checkRunId(runId);
      const exists = await client.query('select 1 from runbook_runs where run_id = $1', [runId]);
      if (exists.rowCount)
        throw new RunbookError('usage', `run ${runId} already exists in ${where}`, {
          hint: `Use another --run-id, or runbook resume ${runId}.`,
        });
      const planText = redact(JSON.stringify(plan, null, 2)) + '\n';
      await client.query('insert into runbook_runs(run_id, runbook, plan) values ($1, $2, $3)', [runId, plan.runbook.id, planText]);
      const journal = syncJournal(url, where, runId, redact, CHAIN_SEED);
      journal.note({ type: 'journal-started', planDigest: planDigest(planText) });
      return journal;
    },
    async reopenJournal(runId, redact) {
      // The chain goes on from the last record; a journal that does not check out takes no more.
      const run = await read(checkRunId(runId));
      if (!run) throw new RunbookError('resume', `no run ${runId} in ${where}`);
      if (run.integrity.problems.length) throw journalAlteredError(runId, where, run.integrity.problems);
      return syncJournal(url, where, runId, redact, run.chain);
    },
    readRun: async (runId) => read(checkRunId(runId)),
    async listRuns() {
      const ids = (await client.query('select run_id from runbook_runs order by created_at')).rows as Array<{ run_id: string }>;
      const runs: StoredRun[] = [];
      for (const { run_id } of ids) {
        const run = await read(run_id);
        if (run) runs.push(run);
      }
      return runs;
    },
    async lock(key: LockKey, owner: LockOwner): Promise<HeldLock> {
      const k = advisoryKey(key.id);
      const session = await connect(url, `lock ${key.id}`);
      const got = (await session.query('select pg_try_advisory_lock($1::bigint) as ok', [k])).rows[0]?.ok === true;
      if (!got) {
        const row = (await client.query('select * from runbook_locks where id = $1', [key.id])).rows[0] as
          Record<string, unknown> | undefined;
        await session.end().catch(() => {});
        const info: LockInfo = row
          ? toInfo(row, false)
          : {
              id: key.id,
              runbook: key.runbook,
              targets: key.targets,
              runId: '(starting)',
              pid: 0,
              host: '?',
              user: '?',
              since: new Date().toISOString(),
              stale: false,
            };
        throw lockedError(info, '');
      }
      const previous = (await session.query('select * from runbook_locks where id = $1', [key.id])).rows[0] as
        Record<string, unknown> | undefined;
      await session.query(
        `insert into runbook_locks(id, runbook, targets, run_id, pid, host, username, since, backend_pid, advisory_key)
         values ($1, $2, $3, $4, $5, $6, $7, $8, pg_backend_pid(), $9)
         on conflict (id) do update set runbook = excluded.runbook, targets = excluded.targets, run_id = excluded.run_id, pid = excluded.pid,
           host = excluded.host, username = excluded.username, since = excluded.since, backend_pid = excluded.backend_pid, advisory_key = excluded.advisory_key`,
        [key.id, key.runbook, JSON.stringify(key.targets), owner.runId, owner.pid, owner.host, owner.user, owner.since, k],
      );
      let released = false;
      return {
        id: key.id,
        takenOver: previous ? toInfo(previous, true) : null,
        release: async () => {
          if (released) return;
          released = true;
          await session
            .query('delete from runbook_locks where id = $1 and run_id = $2 and backend_pid = pg_backend_pid()', [key.id, owner.runId])
            .catch(() => {});
          await session.query('select pg_advisory_unlock($1::bigint)', [k]).catch(() => {});
          await session.end().catch(() => {});
        },
      };
    },
    locks: listLocks,
    async breakLock(id, force) {
      const info = (await listLocks()).find((l) => l.id === id);
      if (!info) throw new RunbookError('usage', `no lock ${id} in ${where}`, { hint: 'runbook runs --json lists the locks.' });
      if (!info.stale) {
        if (info.host === hostname() && isProcessAlive(info.pid))
          throw new RunbookError('locked', `lock ${id} is held by run ${info.runId}, still running as pid ${info.pid} on this host`, {
            hint: 'Stop that run first (Ctrl-C in its terminal, or kill ' + info.pid + '); --force never breaks the lock of a live run.',
          });
        if (!force) {
          throw new RunbookError(
            'locked',
            `lock ${id} is held by run ${info.runId} (pid ${info.pid} on ${info.host}), whose database session is alive`,
            {
              hint: 'Wait for it to end. Only if that process hangs: --force ends its database session (needs the privilege to do so).',
            },
          );
        }
        await client.query('select pg_terminate_backend(backend_pid) from runbook_locks where id = $1', [id]);
      }
      await client.query('delete from runbook_locks where id = $1', [id]);
      return info;
    },
    async close() {
      await client.end().catch(() => {});
    },
  };
  return store;
}

/** A journal whose every record is committed before `write` returns; chained on from `chain`. */
function syncJournal(url: string, where: string, runId: string, redact: (text: string) => string, chain: string): JournalHandle {
  const shared = new SharedArrayBuffer(4);
  const flag = new Int32Array(shared);
  const channel = new MessageChannel();
  const worker = new Worker(new URL('./pg-sync-worker.js', import.meta.url), {
    workerData: { url, shared, port: channel.port2 },
    transferList: [channel.port2],
  });
  worker.unref();
  const port: MessagePort = channel.port1;
  let open = true;
  const query = (sql: string, params: unknown[]) => {
    Atomics.store(flag, 0, 0);
    port.postMessage({ sql, params });
    if (Atomics.wait(flag, 0, 0, 30_000) === 'timed-out')
      throw new RunbookError('connection', `the shared state store ${where} did not answer within 30s`, {
        hint: 'The run stopped so that the journal stays complete.',
      });
    const reply = receiveMessageOnPort(port)?.message as { ok: boolean; error?: string } | undefined;
    if (!reply?.ok)
      throw new RunbookError('connection', `cannot write the journal to ${where}: ${reply?.error ?? 'no answer'}`, {
        hint: 'The run stopped so that the journal stays complete.',
      });
  };
  const writer = journalWriter(
    (line) => {
      if (open) query('insert into runbook_events(run_id, record) values ($1, $2)', [runId, line]);
    },
    redact,
    chain,
  );
  return {
    dir: `${where} (run ${runId})`,
    ...writer,
    close: () => {
      if (!open) return;
      open = false;
      port.postMessage('close');
      port.unref();
    },
  };
}
