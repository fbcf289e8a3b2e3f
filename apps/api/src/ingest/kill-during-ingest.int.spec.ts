import Database from 'better-sqlite3';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envelope } from '../../../../test/support/envelopes';
import { runTs } from '../../../../test/support/run-ts';

const KEY = 'kill-test-ingest-key-0123456789';

async function startApi(dataDir: string, port: number): Promise<ChildProcess> {
  const child = runTs('apps/api/src/main.ts', {
    DATA_DIR: dataDir,
    PORT: String(port),
    API_KEYS: `ingest:${KEY}`,
    SQLITE_SYNCHRONOUS: 'FULL',
  });
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(`api exited with ${child.exitCode}`);
    const up = await fetch(`http://127.0.0.1:${port}/health/live`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('api did not start');
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));

const post = (port: number, events: unknown[]) =>
  fetch(`http://127.0.0.1:${port}/v1/events:batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ events }),
  });

describe('kill -9 during HTTP ingestion', () => {
  let dataDir: string;
  let api: ChildProcess | undefined;
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'cem-kill-'))));
  afterEach(() => {
    api?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses no acknowledged event and duplicates none when clients retry after a restart', async () => {
    const port = 4100 + Math.floor(Math.random() * 500);
    // 40 batches of 50 events over 30 customers: shared identifiers, merges-free, many streams per batch
    const batches = Array.from({ length: 40 }, (_, b) =>
      Array.from({ length: 50 }, (_, i) => envelope({ customer: { identifiers: [{ kind: 'crm', value: `C-${(b * 50 + i) % 30}` }] } })),
    );
    const acknowledged = new Map<string, number>();
    api = await startApi(dataDir, port);
    // send concurrently and kill the server while requests are in flight
    let killed = false;
    const inflight = batches.map(async (events, b) => {
      await new Promise((r) => setTimeout(r, b * 5));
      if (killed) return;
      const res = await post(port, events).catch(() => undefined);
      if (res?.status === 200) {
        const { results } = (await res.json()) as { results: { eventId: string; position: number }[] };
        for (const r of results) acknowledged.set(r.eventId, r.position);
      }
    });
    // kill as soon as a couple of batches are acknowledged, while the others are in flight
    for (let i = 0; i < 2000 && acknowledged.size < 100; i++) await new Promise((r) => setTimeout(r, 5));
    killed = true;
    api.kill('SIGKILL');
    await Promise.all(inflight);
    await exited(api!);
    expect(acknowledged.size).toBeGreaterThanOrEqual(100);
    expect(acknowledged.size).toBeLessThan(2000);

    // restart on the same data and let every client retry every batch
    api = await startApi(dataDir, port);
    for (const events of batches) {
      const res = await post(port, events);
      expect(res.status).toBe(200);
      const { results } = (await res.json()) as { results: { eventId: string; position: number; duplicate: boolean }[] };
      for (const r of results)
        if (acknowledged.has(r.eventId)) expect(r).toMatchObject({ position: acknowledged.get(r.eventId), duplicate: true });
    }
    api.kill('SIGTERM');
    await exited(api!);
    api = undefined;

    const db = new Database(join(dataDir, 'events.db'), { readonly: true });
    const rows = db.prepare(`SELECT event_id, position FROM events WHERE type = 'contact.handled'`).all() as {
      event_id: string;
      position: number;
    }[];
    const registrations = db.prepare(`SELECT count(*) AS n FROM events WHERE type = 'customer.registered'`).get() as { n: number };
    db.close();
    expect(rows).toHaveLength(2000); // every event exactly once
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(2000);
    const stored = new Map(rows.map((r) => [r.event_id, r.position]));
    for (const [eventId, position] of acknowledged) expect(stored.get(eventId)).toBe(position);
    expect(registrations.n).toBe(30); // one customer per crm id, even across the crash
  }, 120_000);
});
