/**
 * Runs the shared store's journal writes on their own thread, so the run's thread can wait for
 * each one synchronously (Atomics.wait): an event is in the database before the run goes on,
 * just as the file store fsyncs it.
 */
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'node:worker_threads';
import { pgClient } from '../targets/pg-client.js';

const { url, shared, port } = workerData as { url: string; shared: SharedArrayBuffer; port: MessagePort };
const flag = new Int32Array(shared);
const client = pgClient(url, 'runbook journal');
const connected = client.connect();
connected.catch(() => {});

port.on('message', (message: { sql: string; params: unknown[] } | 'close') => {
  void (async () => {
    if (message === 'close') {
      await client.end().catch(() => {});
      port.close();
      return;
    }
    let reply: { ok: true; rows: unknown[] } | { ok: false; error: string };
    try {
      await connected;
      const result = await client.query(message.sql, message.params);
      reply = { ok: true, rows: result.rows };
    } catch (error) {
      reply = { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(reply);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  })();
});
