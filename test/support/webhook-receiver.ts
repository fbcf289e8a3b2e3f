import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { customerStreamId, type ChurnBand } from '@cem/domain';
import type { EventStore } from '@cem/event-store';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/**
 * A real HTTP server standing in for a webhook receiver: records every request and answers with
 * the status `answer` returns for it (n counts from 1), or never answers ('hang').
 */
export async function startReceiver(answer: (n: number, request: ReceivedRequest) => number | 'hang' = () => 200) {
  const requests: ReceivedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(r);
      const status = answer(requests.length, r);
      if (status === 'hang') return;
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Appends a churn-risk.changed the way the scheduled re-scoring does (on the customer's stream). */
export async function appendBandChange(store: EventStore, customerId: string, band: ChurnBand, fromBand: ChurnBand | null = null) {
  const asOf = '2026-11-20T09:15:00.000Z';
  const result = await store.appendToStream(
    customerStreamId(customerId),
    [
      {
        eventId: randomUUID(),
        type: 'churn-risk.changed',
        data: {
          customerId,
          fromBand,
          band,
          probability: 0.72,
          logOdds: 0.944,
          asOf,
          model: { name: 'churn-risk-prior', version: 0 },
          topFactors: ['days_since_last_touch'],
        },
        metadata: { schemaVersion: 1, occurredAt: asOf, customerId, source: 'cem/churn-rescoring' },
      },
    ],
    { expectedRevision: 'any' },
  );
  return result.events[0];
}

/** Polls `check` (sync or async) until it returns a truthy value, which it resolves to; generous default timeout. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
