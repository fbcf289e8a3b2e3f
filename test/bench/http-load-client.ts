/**
 * The HTTP ingest bench's load client, in a process of its own (started at a lower priority by
 * ingest.bench.ts), so the client's JSON encoding and socket work neither share the API's event loop
 * nor get confused with it in the figures:
 * `node http-load-client.js <baseUrl> <apiKey> <events> <batchSize> <eventsPerCustomer>`.
 * Generates its envelopes before the clock starts, posts them in batches with two requests in flight
 * (BENCH_HTTP_IN_FLIGHT: another number; the server always has the next batch while the client reads a reply) and prints one JSON line:
 * `{ events, seconds }`. Progress goes to stderr.
 */
import { makeEnvelopes } from './ingest.bench';
import { progress } from './report';

// stdout carries the result line only: progress (console.log when not on a terminal) goes to stderr
console.log = (...args: unknown[]) => console.error(...args);

async function main() {
  const [url, key, eventsArg, batchArg, perCustomerArg] = process.argv.slice(2);
  const events = Number(eventsArg);
  const batchSize = Number(batchArg);
  const envelopes = makeEnvelopes(events, Number(perCustomerArg));
  const bodies: string[] = [];
  for (let i = 0; i < envelopes.length; i += batchSize) bodies.push(JSON.stringify({ events: envelopes.slice(i, i + batchSize) }));
  const label = process.env.BENCH_CLIENT_LABEL ?? 'http ingest';
  const t0 = performance.now();
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await fetch(`${url}/v1/events:batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body,
      });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
      await res.arrayBuffer();
      done += batchSize;
      progress(label, Math.min(done, events), events, t0);
    }
  };
  // two by default (the rows of docs/benchmarks.md); more shows group commit forming groups
  const inFlight = Math.max(1, Number(process.env.BENCH_HTTP_IN_FLIGHT ?? 2));
  await Promise.all(Array.from({ length: inFlight }, worker));
  process.stdout.write(`${JSON.stringify({ events, seconds: (performance.now() - t0) / 1000 })}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
