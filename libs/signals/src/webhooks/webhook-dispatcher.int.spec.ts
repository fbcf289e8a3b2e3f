import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';
import { appendBandChange, eventually, startReceiver } from '../../../../test/support/webhook-receiver';
import { WebhookDispatcher, type WebhookDispatchConfig, type WebhookLogger } from './webhook-dispatcher';
import { WebhookStore, type WebhookDelivery } from './webhook.store';

jest.setTimeout(60_000);

const SECRET = 'a-webhook-secret-of-at-least-32-characters';
const CONFIG: WebhookDispatchConfig = {
  allowedHosts: ['127.0.0.1'],
  maxAttempts: 3,
  retryInitialMs: 100,
  retryMaxMs: 2_000,
  timeoutMs: 20_000,
  pollMs: 20,
  batchSize: 100,
};

describe('webhook dispatcher (real SQLite log, real HTTP receivers)', () => {
  let dir: string;
  let platform: Platform;
  let store: WebhookStore;
  const logged: { message: string; fields?: Record<string, unknown> }[] = [];
  const logger: WebhookLogger = {
    warn: (message, fields) => logged.push({ message, fields }),
    error: (message, fields) => logged.push({ message, fields }),
  };
  const closers: (() => Promise<void> | void)[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cem-webhooks-'));
    platform = openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent' }));
    store = new WebhookStore(join(dir, 'webhooks.db'), 'NORMAL');
    logged.length = 0;
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    store.close();
    await platform.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const dispatcher = (config: Partial<WebhookDispatchConfig> = {}, s = store, deps = {}) => {
    const d = new WebhookDispatcher(platform.store, s, { ...CONFIG, ...config }, logger, deps);
    d.start();
    closers.push(() => d.stop());
    return d;
  };
  const receiver = async (answer?: Parameters<typeof startReceiver>[0]) => {
    const r = await startReceiver(answer);
    closers.push(() => r.close());
    return r;
  };
  const create = async (url: string, s = store) =>
    s.create({ url, secret: SECRET, eventTypes: ['customer.churn-risk-changed'] }, await platform.store.headPosition());
  const only = (webhookId: string): WebhookDelivery | undefined => store.deliveries(webhookId, { limit: 10 }).items[0];

  it('delivers an activated segment entry to a webhook subscribed to customer.segment-entered; a held-back one (no consent) is not delivered', async () => {
    const r = await receiver();
    const webhook = store.create(
      { url: r.url, secret: SECRET, eventTypes: ['customer.segment-entered'] },
      await platform.store.headPosition(),
    );
    dispatcher();
    const entered = (customerId: string, activated: boolean) =>
      platform.store.appendToStream(
        `customer-${customerId}`,
        [
          {
            eventId: randomUUID(),
            type: 'segment.entered',
            data: { segmentId: 'vip', customerId, version: 1, ordinal: 1, asOf: '2026-11-20T09:15:00.000Z', activated },
            metadata: { schemaVersion: 1, occurredAt: '2026-11-20T09:15:00.000Z', customerId, source: 'cem.segments' },
          },
        ],
        { expectedRevision: 'any' },
      );
    await entered('11111111-1111-5111-8111-111111111111', false);
    await entered('22222222-2222-5222-8222-222222222222', true);
    await eventually('a delivery', () => r.requests.length === 1);
    await eventually('delivered', () => only(webhook.id)?.status === 'delivered');
    expect(store.deliveries(webhook.id, { limit: 10 }).items).toHaveLength(1);
    expect(JSON.parse(r.requests[0].body)).toMatchObject({
      type: 'customer.segment-entered',
      customerId: '22222222-2222-5222-8222-222222222222',
      data: { segmentId: 'vip', version: 1, asOf: '2026-11-20T09:15:00.000Z' },
    });
  });

  it('POSTs the band change as JSON signed with X-Signature = hex HMAC-SHA256(secret, timestamp + "." + body); no personal data beyond the customer id', async () => {
    // a customer known by an email address: it may not reach the receiver
    const [ingested] = await platform.ingestion.ingest([
      {
        eventId: '4e0b3b52-2a3c-4d6f-8d2e-0f5c1a9b7e61',
        type: 'web.visited',
        occurredAt: '2026-01-05T10:00:00Z',
        source: 'web',
        channel: 'web',
        customer: { identifiers: [{ kind: 'email', value: 'maria.lopez@example.com' }] },
        data: { url: 'https://shop.example.com/account' },
      },
    ]);
    const customerId = ingested.customerId;
    const r = await receiver();
    const webhook = await create(r.url);
    dispatcher();
    const appended = await appendBandChange(platform.store, customerId, 'high', 'medium');
    await eventually('a delivery', () => r.requests.length === 1);
    const req = r.requests[0];
    const timestamp = req.headers['x-timestamp'] as string;
    const expected = createHmac('sha256', SECRET).update(`${timestamp}.${req.body}`).digest('hex');
    expect(req.method).toBe('POST');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-signature']).toBe(expected);
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(600);
    expect(req.headers['x-event-type']).toBe('customer.churn-risk-changed');
    const body = JSON.parse(req.body) as Record<string, unknown>;
    expect(req.headers['x-delivery-id']).toBe(body.deliveryId);
    expect(body).toEqual({
      deliveryId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      webhookId: webhook.id,
      schema: 'cem.customer-signal',
      schemaVersion: 1,
      signalId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      type: 'customer.churn-risk-changed',
      customerId,
      occurredAt: '2026-11-20T09:15:00.000Z',
      source: { eventId: appended.eventId, eventType: 'churn-risk.changed', position: appended.position },
      data: {
        fromBand: 'medium',
        band: 'high',
        probability: 0.72,
        asOf: '2026-11-20T09:15:00.000Z',
        model: { name: 'churn-risk-prior', version: 0 },
        topFactor: 'days_since_last_touch',
      },
    });
    expect(req.body).not.toMatch(/maria|lopez|example\.com/i);
    await eventually('delivered', () => only(webhook.id)?.status === 'delivered');
    expect(only(webhook.id)).toMatchObject({ status: 'delivered', attempts: 1, responseCode: 200, lastError: null });
  });

  it('a receiver that fails twice (503) then answers 200: three attempts with the same delivery id, spaced by the growing backoff, then delivered', async () => {
    const r = await receiver((n) => (n <= 2 ? 503 : 200));
    const webhook = await create(r.url);
    dispatcher();
    await appendBandChange(platform.store, 'c-2', 'critical');
    const d = await eventually('delivered', () => only(webhook.id)?.status === 'delivered' && only(webhook.id));
    expect(d).toMatchObject({ status: 'delivered', attempts: 3, responseCode: 200, lastError: null });
    expect(r.requests).toHaveLength(3);
    expect(new Set(r.requests.map((q) => q.headers['x-delivery-id']))).toEqual(new Set([d.deliveryId]));
    expect(new Set(r.requests.map((q) => q.body)).size).toBe(1);
    // backoff: at least 100 ms before the 2nd attempt, at least 200 ms before the 3rd (lower bounds only)
    expect(r.requests[1].at - r.requests[0].at).toBeGreaterThanOrEqual(95);
    expect(r.requests[2].at - r.requests[1].at).toBeGreaterThanOrEqual(195);
  });

  it('a receiver that always fails ends failed after maxAttempts with the last error; a 4xx fails at once; 429 is retried', async () => {
    const down = await receiver(() => 500);
    const refusing = await receiver(() => 400);
    const busy = await receiver((n) => (n === 1 ? 429 : 204));
    const [a, b, c] = [await create(down.url), await create(refusing.url), await create(busy.url)];
    dispatcher();
    await appendBandChange(platform.store, 'c-3', 'high');
    await eventually('all settled', () => [a, b, c].every((w) => only(w.id) && only(w.id)!.status !== 'pending'));
    expect(only(a.id)).toMatchObject({
      status: 'failed',
      attempts: 3,
      responseCode: 500,
      lastError: 'HTTP 500',
      lastAttemptAt: expect.any(String),
    });
    expect(down.requests).toHaveLength(3);
    expect(only(b.id)).toMatchObject({ status: 'failed', attempts: 1, responseCode: 400, lastError: 'HTTP 400' });
    expect(only(c.id)).toMatchObject({ status: 'delivered', attempts: 2, responseCode: 204 });
    expect(logged.some((l) => l.message === 'webhook delivery failed' && l.fields?.webhookId === a.id)).toBe(true);
    expect(JSON.stringify(logged)).not.toContain(SECRET);
  });

  it('a receiver that does not answer delays only its own webhook; the timeout counts as a failed attempt', async () => {
    const dead = await receiver(() => 'hang');
    const live = await receiver();
    const slow = await create(dead.url);
    const fast = await create(live.url);
    dispatcher({ timeoutMs: 4_000, maxAttempts: 1 });
    await appendBandChange(platform.store, 'c-4', 'high');
    await appendBandChange(platform.store, 'c-5', 'high');
    await eventually(
      'both delivered to the live receiver',
      () => store.deliveries(fast.id, { limit: 10, status: 'delivered' }).items.length === 2,
    );
    expect(dead.requests).toHaveLength(1);
    expect(store.deliveries(slow.id, { limit: 10, status: 'pending' }).items).toHaveLength(2);
    await eventually('the dead receiver timed out', () => store.deliveries(slow.id, { limit: 10, status: 'failed' }).items.length === 2);
    expect(store.deliveries(slow.id, { limit: 10 }).items[1]).toMatchObject({ lastError: 'no answer within 4000 ms', responseCode: null });
  });

  it('after a restart nothing delivered is sent again; a request cut off by a crash is resent with the same delivery id', async () => {
    let hold = true;
    const r = await receiver((n) => (n === 1 && hold ? 'hang' : 200));
    const file = join(dir, 'crash.db');
    const first = new WebhookStore(file, 'NORMAL');
    const webhook = await create(r.url, first);
    const crashed = new WebhookDispatcher(platform.store, first, { ...CONFIG, timeoutMs: 1_000 }, logger);
    crashed.start();
    await appendBandChange(platform.store, 'c-6', 'high');
    await eventually('the first request', () => r.requests.length === 1);
    // the process "dies" with the request in flight: its store is gone, nothing of the attempt is recorded
    // (the cut-off request times out after 1 s and finds no store to write to)
    first.close();
    hold = false;
    const stopping = crashed.stop();

    const second = new WebhookStore(file, 'NORMAL');
    closers.push(() => second.close());
    const restarted = new WebhookDispatcher(platform.store, second, { ...CONFIG }, logger);
    restarted.start();
    await eventually('resent and delivered', () => second.deliveries(webhook.id, { limit: 5 }).items[0]?.status === 'delivered');
    expect(r.requests).toHaveLength(2);
    expect(r.requests[1].headers['x-delivery-id']).toBe(r.requests[0].headers['x-delivery-id']);
    expect(r.requests[1].body).toBe(r.requests[0].body);
    await restarted.stop();
    await stopping;

    // a third start, one more event: only the new one is sent
    const again = new WebhookDispatcher(platform.store, second, { ...CONFIG }, logger);
    again.start();
    closers.push(() => again.stop());
    await appendBandChange(platform.store, 'c-7', 'medium');
    await again.whenEnqueued();
    await eventually('the new one delivered', () => second.deliveries(webhook.id, { limit: 5, status: 'delivered' }).items.length === 2);
    expect(r.requests).toHaveLength(3);
    expect(new Set(r.requests.map((q) => q.headers['x-delivery-id'])).size).toBe(2);
    expect(second.deliveries(webhook.id, { limit: 5 }).items.map((d) => d.attempts)).toEqual([1, 1]);
  });

  it('a webhook gets only the band changes recorded after it was created', async () => {
    await appendBandChange(platform.store, 'c-8', 'high');
    const r = await receiver();
    const d = dispatcher();
    await d.whenEnqueued();
    const webhook = await create(r.url);
    await appendBandChange(platform.store, 'c-9', 'critical');
    await d.whenEnqueued();
    await eventually('delivered', () => only(webhook.id)?.status === 'delivered');
    expect(store.deliveries(webhook.id, { limit: 10 }).items.map((x) => x.customerId)).toEqual(['c-9']);
  });

  it('a host name that resolves to a private address is refused at delivery unless listed (SSRF), without a request', async () => {
    const r = await receiver();
    const webhook = store.create({ url: 'http://hooks.example.test/x', secret: SECRET, eventTypes: ['customer.churn-risk-changed'] }, 0);
    dispatcher({ allowedHosts: [] }, store, { resolve: async () => ['10.1.2.3'] });
    await appendBandChange(platform.store, 'c-10', 'high');
    await eventually('failed', () => only(webhook.id)?.status === 'failed');
    expect(only(webhook.id)?.lastError).toMatch(/private/);
    expect(r.requests).toHaveLength(0);
  });
});
