import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { IngestionService } from '@cem/ingestion';
import type { RawEnvelope, SeedGenerator } from './generator';

/** Where generated batches go: the embedded ingestion service, the HTTP API or a file. */
export interface Sink {
  readonly name: string;
  /** accepts one batch (at most 1000 envelopes); returns how many the target acknowledged as already recorded */
  write(batch: RawEnvelope[]): Promise<{ duplicates: number }>;
  close(): Promise<void>;
}

export interface LoadProgress {
  envelopes: number;
  batches: number;
  duplicatesAcknowledged: number;
  elapsedMs: number;
  /** envelopes per second since the start */
  rate: number;
}

export interface LoadOptions {
  batchSize?: number;
  /** called about every `progressEveryMs` and once at the end */
  onProgress?: (p: LoadProgress, final: boolean) => void;
  progressEveryMs?: number;
  /** batches in flight at once (HTTP); 1 keeps the arrival order of the generator */
  concurrency?: number;
}

/** Streams the generator's batches into a sink. */
export async function load(gen: SeedGenerator, sink: Sink, options: LoadOptions = {}): Promise<LoadProgress> {
  const started = Date.now();
  const every = options.progressEveryMs ?? 2000;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  let lastReport = started;
  const p: LoadProgress = { envelopes: 0, batches: 0, duplicatesAcknowledged: 0, elapsedMs: 0, rate: 0 };
  const update = (final: boolean) => {
    p.elapsedMs = Date.now() - started;
    p.rate = p.elapsedMs > 0 ? Math.round((p.envelopes * 1000) / p.elapsedMs) : 0;
    options.onProgress?.(p, final);
  };
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  for (const batch of gen.batches(options.batchSize ?? 1000)) {
    if (failure) break;
    const task = sink.write(batch).then(
      ({ duplicates }) => {
        p.envelopes += batch.length;
        p.batches++;
        p.duplicatesAcknowledged += duplicates;
      },
      (e: unknown) => {
        failure ??= e;
      },
    );
    const tracked = task.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (Date.now() - lastReport >= every) {
      lastReport = Date.now();
      update(false);
    }
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  update(true);
  return p;
}

/** The same validated path HTTP uses: `IngestionService.ingest`, all or nothing per batch. */
export function ingestionSink(ingestion: IngestionService): Sink {
  return {
    name: 'embedded ingestion',
    async write(batch) {
      const results = await ingestion.ingest(batch);
      let duplicates = 0;
      for (const r of results) if (r.duplicate) duplicates++;
      return { duplicates };
    },
    async close() {},
  };
}

export class HttpSinkError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'HttpSinkError';
  }
}

export interface HttpSinkOptions {
  url: string;
  apiKey: string;
  /** retries of a batch on network errors, 429 and 5xx (safe: the API is idempotent by eventId) */
  retries?: number;
  /** a batch whose JSON body is larger is split in halves (the API's default limit is 1 MiB) */
  maxBodyBytes?: number;
  fetchImpl?: typeof fetch;
}

/** POSTs batches to `<url>/v1/events:batch` with the ingest key. */
export function httpSink(options: HttpSinkOptions): Sink {
  const endpoint = `${options.url.replace(/\/+$/, '')}/v1/events:batch`;
  const doFetch = options.fetchImpl ?? fetch;
  const retries = options.retries ?? 5;
  const maxBodyBytes = options.maxBodyBytes ?? 1_000_000;
  const sink: Sink = {
    name: `HTTP ${endpoint}`,
    async write(batch) {
      const body = JSON.stringify({ events: batch });
      if (batch.length > 1 && Buffer.byteLength(body) > maxBodyBytes) {
        const half = Math.ceil(batch.length / 2);
        const a = await sink.write(batch.slice(0, half));
        const b = await sink.write(batch.slice(half));
        return { duplicates: a.duplicates + b.duplicates };
      }
      for (let attempt = 0; ; attempt++) {
        let status: number | undefined;
        let payload: unknown;
        try {
          const res = await doFetch(endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` },
            body,
          });
          status = res.status;
          const text = await res.text();
          try {
            payload = JSON.parse(text);
          } catch {
            payload = text;
          }
          if (res.ok) {
            const results = (payload as { results?: { duplicate?: boolean }[] }).results ?? [];
            let duplicates = 0;
            for (const r of results) if (r.duplicate) duplicates++;
            return { duplicates };
          }
          if (status !== 429 && status < 500) {
            throw new HttpSinkError(`the API refused a batch: HTTP ${status} ${describe(payload)}`, status, payload);
          }
        } catch (e) {
          if (e instanceof HttpSinkError) throw e;
          if (attempt >= retries) throw new HttpSinkError(`POST ${endpoint} failed: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (status !== undefined && attempt >= retries)
          throw new HttpSinkError(`the API kept failing: HTTP ${status} ${describe(payload)}`, status, payload);
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    },
    async close() {},
  };
  return sink;
}

function describe(payload: unknown): string {
  if (payload && typeof payload === 'object') {
    const p = payload as { message?: unknown; errors?: unknown[] };
    const errors = Array.isArray(p.errors) ? ` ${JSON.stringify(p.errors.slice(0, 5))}` : '';
    return `${typeof p.message === 'string' ? p.message : ''}${errors}`;
  }
  return String(payload).slice(0, 500);
}

/** Writes one envelope per line. */
export function ndjsonSink(path: string): Sink {
  const out = createWriteStream(path, { encoding: 'utf8' });
  return {
    name: `file ${path}`,
    async write(batch) {
      let chunk = '';
      for (const e of batch) chunk += JSON.stringify(e) + '\n';
      if (!out.write(chunk)) await once(out, 'drain');
      return { duplicates: 0 };
    },
    async close() {
      out.end();
      await once(out, 'finish');
    },
  };
}
