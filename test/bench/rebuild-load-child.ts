/**
 * The ingestion load of the rebuild bench, in a process of its own so that nothing the rebuild does
 * can slow the client down: `node rebuild-load-child.js <baseUrl> <apiKey> <eventsPerSecond> <batchSize>`.
 *
 * Open loop at a fixed rate: a batch of `batchSize` events every batchSize/eventsPerSecond seconds,
 * sent on schedule whether or not the earlier ones were answered (a closed loop would only measure its
 * own queue). For each batch it records the time from sending until its last event is visible in the
 * live customer 360 (GET /v1/customers/{id}?minPosition=<its position>: the API answers once the
 * projector has committed it). The envelopes are made as they are sent, nothing up front.
 *
 * The parent names the phase by IPC ({phase: 'before'|'rebuild'|'after'}); each batch counts in the phase
 * it was sent in. {stop: true} ends the load: the child waits for the batches in flight and sends
 * {summary} (per phase, and its own peak RSS), then exits.
 */
import { randomUUID } from 'node:crypto';

export interface PhaseSummary {
  phase: string;
  seconds: number;
  batchesSent: number;
  /** events acknowledged by the API (of batches sent in this phase) */
  eventsAcked: number;
  /** batches not sent because MAX_IN_FLIGHT were still unacknowledged (the API was not keeping up) */
  batchesSkipped: number;
  /** answers other than 200, by status, or by the client's error code where no answer came (a connection reset, a timeout) */
  failures: Record<string, number>;
  ackMs: { p50: number; p99: number; max: number };
  visibleMs: { p50: number; p99: number; max: number };
}

export interface LoadSummary {
  phases: PhaseSummary[];
  maxRssMb: number;
}

/** batches sent but not yet acknowledged, at most: beyond it the API is not keeping up, and more would only queue in the client */
const MAX_IN_FLIGHT = 64;

const quantiles = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]);
  return { p50: at(0.5), p99: at(0.99), max: s.length === 0 ? NaN : s[s.length - 1] };
};

/** the i-th event of the load: ten per new customer, a mix of types the read models all fold */
function envelopeAt(run: string, i: number): Record<string, unknown> {
  const customer = { identifiers: [{ kind: 'email', value: `load-${run}-${Math.floor(i / 10)}@example.com` }] };
  const common = { eventId: randomUUID(), occurredAt: new Date(Date.now() - 1000).toISOString(), source: 'bench-load', customer };
  if (i % 3 === 0)
    return {
      ...common,
      type: 'contact.handled',
      channel: 'phone',
      data: { direction: 'inbound', handleSeconds: 240, resolved: i % 2 === 0 },
    };
  if (i % 3 === 1)
    return {
      ...common,
      type: 'purchase.completed',
      channel: 'web',
      data: { orderId: `o-${run}-${i}`, amount: 20, currency: 'EUR', items: 1 },
    };
  return { ...common, type: 'survey.answered', channel: 'email', data: { nps: i % 11 } };
}

async function main() {
  const [baseUrl, apiKey, rateArg, batchArg] = process.argv.slice(2);
  const rate = Number(rateArg);
  const batchSize = Number(batchArg);
  const intervalMs = (1000 * batchSize) / rate;
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  const run = randomUUID().slice(0, 8);

  interface Phase {
    name: string;
    startedAt: number;
    endedAt?: number;
    sent: number;
    acked: number;
    skipped: number;
    failures: Record<string, number>;
    ack: number[];
    visible: number[];
  }
  const phases: Phase[] = [];
  const begin = (name: string) => {
    const now = performance.now();
    const last = phases.at(-1);
    if (last) last.endedAt = now;
    phases.push({ name, startedAt: now, sent: 0, acked: 0, skipped: 0, failures: {}, ack: [], visible: [] });
  };
  begin('before');
  const fail = (phase: Phase, status: number | string) => (phase.failures[status] = (phase.failures[status] ?? 0) + 1);

  let next = 0;
  let unacked = 0;
  const flying = new Set<Promise<void>>();
  const sendBatch = async (phase: Phase) => {
    const events = Array.from({ length: batchSize }, () => envelopeAt(run, next++));
    const sent = performance.now();
    try {
      unacked++;
      const res = await fetch(`${baseUrl}/v1/events:batch`, { method: 'POST', headers, body: JSON.stringify({ events }) }).finally(
        () => unacked--,
      );
      const body = (await res.json()) as { results?: { customerId: string; position: number }[] };
      if (res.status !== 200 || !body.results) return void fail(phase, res.status);
      phase.ack.push(performance.now() - sent);
      phase.acked += events.length;
      const last = body.results.reduce((a, b) => (b.position > a.position ? b : a));
      // the API waits (up to 5 s) for the projector to commit the position; a 503 says it has not yet: ask again
      for (;;) {
        const view = await fetch(`${baseUrl}/v1/customers/${last.customerId}?minPosition=${last.position}`, { headers });
        await view.arrayBuffer();
        if (view.status === 200) break;
        if (view.status !== 503) return void fail(phase, view.status);
      }
      phase.visible.push(performance.now() - sent);
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      fail(phase, cause?.code ?? (e as Error).name);
    }
  };

  const started = performance.now();
  let stopping = false;
  const tick = () => {
    if (stopping) return;
    const phase = phases.at(-1)!;
    if (unacked >= MAX_IN_FLIGHT) phase.skipped++;
    else {
      phase.sent++;
      const p = sendBatch(phase).finally(() => flying.delete(p));
      flying.add(p);
    }
    ticks++;
    // on schedule from the start, not from the last tick: timer delays do not lower the rate
    setTimeout(tick, Math.max(0, started + ticks * intervalMs - performance.now()));
  };
  let ticks = 0;
  tick();

  process.on('message', (m: { phase?: string; stop?: boolean }) => {
    if (m.phase) begin(m.phase);
    if (!m.stop) return;
    stopping = true;
    const ended = performance.now();
    phases.at(-1)!.endedAt = ended;
    void Promise.all([...flying]).then(() => {
      const summary: LoadSummary = {
        maxRssMb: process.resourceUsage().maxRSS / 1024,
        phases: phases.map((p) => ({
          phase: p.name,
          seconds: ((p.endedAt ?? ended) - p.startedAt) / 1000,
          batchesSent: p.sent,
          eventsAcked: p.acked,
          batchesSkipped: p.skipped,
          failures: p.failures,
          ackMs: quantiles(p.ack),
          visibleMs: quantiles(p.visible),
        })),
      };
      process.send!({ summary }, () => process.exit(0));
    });
  });
  process.send!({ started: true });
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
