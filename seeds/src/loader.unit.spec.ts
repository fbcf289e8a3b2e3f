import { SeedGenerator, type RawEnvelope } from './generator';
import { httpSink, HttpSinkError, load, type Sink } from './loader';

const response = (status: number, body: unknown) =>
  ({ status, ok: status >= 200 && status < 300, text: async () => JSON.stringify(body) }) as unknown as Response;

function fakeApi(script: (call: number, events: RawEnvelope[]) => Response) {
  const calls: { url: string; auth: string; events: RawEnvelope[]; bytes: number }[] = [];
  const fetchImpl = (async (url: string, init: RequestInit) => {
    const body = String(init.body);
    const events = (JSON.parse(body) as { events: RawEnvelope[] }).events;
    calls.push({ url, auth: (init.headers as Record<string, string>).authorization, events, bytes: Buffer.byteLength(body) });
    return script(calls.length, events);
  }) as unknown as typeof fetch;
  return { calls, fetchImpl };
}

const ok = (events: RawEnvelope[]) => response(200, { results: events.map((e) => ({ eventId: e.eventId, duplicate: false })) });

describe('seed loader', () => {
  it('posts batches to /v1/events:batch with the key, in generator order', async () => {
    const api = fakeApi((_, events) => ok(events));
    const gen = new SeedGenerator({ customers: 30, seed: 'loader' });
    const p = await load(gen, httpSink({ url: 'http://api.test:3000/', apiKey: 'k'.repeat(20), fetchImpl: api.fetchImpl }), {
      batchSize: 100,
    });
    expect(api.calls[0].url).toBe('http://api.test:3000/v1/events:batch');
    expect(api.calls[0].auth).toBe(`Bearer ${'k'.repeat(20)}`);
    expect(api.calls.every((c) => c.events.length <= 100)).toBe(true);
    const sent = api.calls.flatMap((c) => c.events.map((e) => e.eventId));
    expect(sent).toEqual([...new SeedGenerator({ customers: 30, seed: 'loader' }).envelopes()].map((e) => e.eventId));
    expect(p.envelopes).toBe(sent.length);
  });

  it('splits a batch over the body limit, retries 503 and stops on a 422 with the reason', async () => {
    const gen = new SeedGenerator({ customers: 30, seed: 'loader' });
    const batch = [...gen.envelopes()].slice(0, 200);
    const bigApi = fakeApi((_, events) => ok(events));
    await httpSink({ url: 'http://api.test', apiKey: 'x', fetchImpl: bigApi.fetchImpl, maxBodyBytes: 20_000 }).write(batch);
    expect(bigApi.calls.length).toBeGreaterThan(1);
    expect(bigApi.calls.every((c) => c.bytes <= 20_000)).toBe(true);
    expect(bigApi.calls.flatMap((c) => c.events)).toEqual(batch);

    const flaky = fakeApi((call, events) => (call < 3 ? response(503, { message: 'busy' }) : ok(events)));
    await httpSink({ url: 'http://api.test', apiKey: 'x', fetchImpl: flaky.fetchImpl }).write(batch.slice(0, 5));
    expect(flaky.calls).toHaveLength(3);

    const refusing = fakeApi(() =>
      response(422, { message: 'invalid', errors: [{ index: 3, field: 'occurredAt', reason: 'is more than 300 s in the future' }] }),
    );
    const failed = httpSink({ url: 'http://api.test', apiKey: 'x', fetchImpl: refusing.fetchImpl }).write(batch.slice(0, 5));
    await expect(failed).rejects.toThrow(HttpSinkError);
    await expect(failed).rejects.toThrow(/422.*occurredAt/);
    expect(refusing.calls).toHaveLength(1);
  });

  it('stops loading at the first refused batch', async () => {
    let writes = 0;
    const sink: Sink = {
      name: 'failing',
      write: async () => {
        if (++writes === 2) throw new Error('refused');
        return { duplicates: 0 };
      },
      close: async () => {},
    };
    await expect(load(new SeedGenerator({ customers: 50, seed: 'loader' }), sink, { batchSize: 50 })).rejects.toThrow('refused');
    expect(writes).toBe(2);
  });
});
