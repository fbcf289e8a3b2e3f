import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { deterministicUuid } from '@cem/domain';
import type { EventStore, RecordedEvent } from '@cem/event-store';
import { CheckpointedSubscriber, toProjectedRecord, type ProjectedRecord } from '@cem/read-models';
import { churnRiskSignalOf, segmentSignalOf } from '../derive';
import type { CustomerSignal } from '../signal.schema';
import { hostOf, isListedHost, isNonPublicAddress, type WebhookHostPolicy } from './webhook-policy';
import { WEBHOOK_HEADERS, webhookSignature } from './webhook-signature';
import type { AttemptOutcome, NewDelivery, Webhook, WebhookDelivery, WebhookStore } from './webhook.store';

/** What the dispatcher reads of the configuration (WEBHOOK_* variables, validated by libs/config). */
export interface WebhookDispatchConfig extends WebhookHostPolicy {
  /** attempts per delivery before it is marked failed */
  maxAttempts: number;
  /** delay before the second attempt; doubles per attempt up to retryMaxMs */
  retryInitialMs: number;
  retryMaxMs: number;
  /** one request's time limit (a receiver slower than this is retried) */
  timeoutMs: number;
  /** how often due deliveries are looked for */
  pollMs: number;
  /** log events per enqueue batch */
  batchSize: number;
}

/** The logging the dispatcher does: webhook ids, delivery ids, status codes, error kinds; never a secret or a body. */
export interface WebhookLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface WebhookDispatcherDeps {
  now?: () => number;
  /** the addresses of a host name (DNS); tests pass their own */
  resolve?: (host: string) => Promise<string[]>;
}

/** The deterministic id of a delivery: one signal to one webhook; the same on every attempt and after a restart. */
export const deliveryIdOf = (webhookId: string, signalId: string): string => deterministicUuid('cem.webhook-delivery', webhookId, signalId);

/** The signal a stored event yields for webhooks, if any: band changes of the churn re-scoring, activated segment entries and exits. */
function webhookSignalOf(record: ProjectedRecord): CustomerSignal | undefined {
  if (record.type === 'churn-risk.changed') return churnRiskSignalOf(record);
  if (record.type === 'segment.entered' || record.type === 'segment.left') return segmentSignalOf(record);
  return undefined;
}

/** A 2xx is delivered; 408, 429 and 5xx are retried; other 4xx (and a redirect, never followed) fail at once. */
export function classifyResponse(status: number): 'delivered' | 'retry' | 'failed' {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'failed';
}

/** Delay after the n-th failed attempt (n >= 1): initial x 2^(n-1), capped. */
export const backoffMs = (attempts: number, config: Pick<WebhookDispatchConfig, 'retryInitialMs' | 'retryMaxMs'>): number =>
  Math.min(config.retryInitialMs * 2 ** Math.min(attempts - 1, 30), config.retryMaxMs);

const defaultResolve = async (host: string): Promise<string[]> => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Delivers signals to configured webhooks, in two steps that share the webhooks' SQLite file:
 *
 * 1. **Enqueue** (a worker of the platform's CheckpointedSubscriber, from its own checkpoint): each
 *    batch of the log is turned into signals, and every webhook subscribed to a signal's type gets
 *    a pending row in the delivery log, in the same transaction as the new checkpoint. Nothing is
 *    lost across a restart and nothing is queued twice (deterministic delivery id).
 * 2. **Send**: per webhook, one request at a time, the oldest due delivery: a signed JSON POST.
 *    A receiver that answers 5xx/408/429 or does not answer in time is retried with exponential
 *    backoff up to maxAttempts; a 4xx fails at once. Webhooks are independent: a slow or dead
 *    receiver only delays its own queue. A process killed mid-request sends that delivery again
 *    after restart, with the same delivery id (at least once; receivers dedupe on X-Delivery-Id).
 */
export class WebhookDispatcher {
  private readonly subscriber: CheckpointedSubscriber;
  private readonly busy = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private stopping = false;
  /** aborts requests in flight on stop: they stay pending and are sent again (same delivery id) after restart */
  private aborting = new AbortController();
  private readonly now: () => number;
  private readonly resolve: (host: string) => Promise<string[]>;

  constructor(
    private readonly store: EventStore,
    private readonly webhooks: WebhookStore,
    private readonly config: WebhookDispatchConfig,
    private readonly logger: WebhookLogger,
    deps: WebhookDispatcherDeps = {},
  ) {
    this.now = deps.now ?? Date.now;
    this.resolve = deps.resolve ?? defaultResolve;
    this.subscriber = new CheckpointedSubscriber(
      store,
      {
        name: 'webhooks',
        open: async () => this.webhooks.checkpoint(),
        handle: async (events) => this.enqueueBatch(events),
        flush: async () => undefined,
        abort: async () => undefined,
      },
      {
        batchSize: config.batchSize,
        retryDelayMs: 500,
        maxRetryDelayMs: 30_000,
        logger: {
          error: (m: unknown) =>
            this.logger.error('webhook enqueue batch failed; retrying from the checkpoint', m as Record<string, unknown>),
        },
      },
    );
  }

  get health() {
    return this.subscriber.health;
  }

  start(): void {
    this.stopping = false;
    this.aborting = new AbortController();
    this.subscriber.start();
    const tick = () => {
      this.sendDue();
      this.timer = setTimeout(tick, this.config.pollMs);
      this.timer.unref();
    };
    tick();
  }

  /** Stops enqueueing and sending; a request in flight is cut off and left pending (sent again after restart). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.aborting.abort();
    await this.subscriber.stop();
    await Promise.all(this.busy.values());
  }

  /** Resolves once every event up to `position` (default: the log's head now) is in the delivery log. */
  async whenEnqueued(position?: number, timeoutMs = 60_000): Promise<boolean> {
    return this.subscriber.whenCaughtUp(position ?? (await this.store.headPosition()), timeoutMs);
  }

  private async enqueueBatch(events: readonly RecordedEvent[]): Promise<number> {
    const signals = events.flatMap((e) => {
      const s = webhookSignalOf(toProjectedRecord(e));
      return s ? [s] : [];
    });
    const last = events[events.length - 1].position;
    const added = this.webhooks.enqueue(last, (webhooks) => {
      const due: NewDelivery[] = [];
      for (const s of signals)
        for (const w of webhooks)
          if (s.source.position > w.fromPosition && (w.eventTypes as string[]).includes(s.type))
            due.push({
              deliveryId: deliveryIdOf(w.id, s.signalId),
              webhookId: w.id,
              eventType: s.type,
              signalId: s.signalId,
              customerId: s.customerId,
              position: s.source.position,
              body: JSON.stringify({ deliveryId: deliveryIdOf(w.id, s.signalId), webhookId: w.id, ...s }),
            });
      return due;
    });
    if (added > 0) this.sendDue();
    return last;
  }

  /** Starts draining every webhook that has no request in flight. */
  private sendDue(): void {
    if (this.stopping) return;
    let webhooks: Webhook[];
    try {
      webhooks = this.webhooks.list();
    } catch (e) {
      // a busy or unavailable store: the next tick tries again
      this.logger.error('webhooks could not be read', { error: (e as Error)?.name });
      return;
    }
    for (const w of webhooks) {
      if (this.busy.has(w.id)) continue;
      const drain = this.drain(w)
        .catch((e: unknown) => this.logger.error('webhook delivery loop failed', { webhookId: w.id, error: (e as Error)?.name }))
        .finally(() => this.busy.delete(w.id));
      this.busy.set(w.id, drain);
    }
  }

  private async drain(webhook: Webhook): Promise<void> {
    for (;;) {
      if (this.stopping) return;
      const delivery = this.webhooks.nextDue(webhook.id, this.now());
      if (!delivery) return;
      const outcome = await this.attempt(webhook, delivery);
      // cut off by stop(): not an attempt the receiver answered; the delivery stays as it was
      if (this.stopping) return;
      this.webhooks.recordAttempt(webhook.id, delivery.deliveryId, outcome);
      if (outcome.status === 'failed')
        this.logger.warn('webhook delivery failed', {
          webhookId: webhook.id,
          deliveryId: delivery.deliveryId,
          attempts: delivery.attempts + 1,
          responseCode: outcome.responseCode,
          error: outcome.error,
        });
    }
  }

  /** One signed POST of a delivery, and what it means for the delivery log. */
  private async attempt(webhook: Webhook, delivery: WebhookDelivery): Promise<AttemptOutcome> {
    const attempts = delivery.attempts + 1;
    const retryOrFail = (responseCode: number | null, error: string): AttemptOutcome => {
      const at = this.now();
      return attempts >= this.config.maxAttempts
        ? { status: 'failed', at, nextAttemptAt: null, responseCode, error }
        : { status: 'pending', at, nextAttemptAt: at + backoffMs(attempts, this.config), responseCode, error };
    };
    const refused = await this.targetRefused(webhook.url).catch(
      (e: unknown) => `could not resolve the host (${(e as { code?: string })?.code ?? 'error'})`,
    );
    if (refused?.startsWith('could not resolve')) return retryOrFail(null, refused);
    if (refused) return { status: 'failed', at: this.now(), nextAttemptAt: null, responseCode: null, error: refused };

    const timestamp = String(Math.floor(this.now() / 1000));
    try {
      const response = await fetch(webhook.url, {
        method: 'POST',
        body: delivery.body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.config.timeoutMs), this.aborting.signal]),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'cem-webhooks/1',
          [WEBHOOK_HEADERS.timestamp]: timestamp,
          [WEBHOOK_HEADERS.signature]: webhookSignature(webhook.secret, timestamp, delivery.body),
          [WEBHOOK_HEADERS.deliveryId]: delivery.deliveryId,
          [WEBHOOK_HEADERS.eventType]: delivery.eventType,
        },
      });
      // the answer's body is not read: only its status counts
      await response.body?.cancel().catch(() => undefined);
      const kind = classifyResponse(response.status);
      const at = this.now();
      if (kind === 'delivered') return { status: 'delivered', at, nextAttemptAt: null, responseCode: response.status, error: null };
      const error =
        response.status >= 300 && response.status < 400
          ? `HTTP ${response.status} (redirects are not followed)`
          : `HTTP ${response.status}`;
      if (kind === 'failed') return { status: 'failed', at, nextAttemptAt: null, responseCode: response.status, error };
      return retryOrFail(response.status, error);
    } catch (e) {
      const name = (e as Error)?.name;
      const cause = (e as { cause?: { code?: string } })?.cause?.code;
      const error =
        name === 'TimeoutError' ? `no answer within ${this.config.timeoutMs} ms` : `request failed (${cause ?? name ?? 'error'})`;
      return retryOrFail(null, error);
    }
  }

  /**
   * Why the URL's host may not be reached now, or undefined. A host listed in
   * WEBHOOK_ALLOWED_HOSTS is trusted; any other name is resolved before each attempt and refused
   * when an address is loopback, private or link-local (a DNS name pointed at an internal address
   * after the webhook was stored).
   */
  private async targetRefused(raw: string): Promise<string | undefined> {
    const url = new URL(raw);
    const host = hostOf(url);
    if (isListedHost(host, this.config)) return undefined;
    if (this.config.allowedHosts.length > 0) return 'host is no longer in WEBHOOK_ALLOWED_HOSTS';
    const addresses = isIP(host) !== 0 ? [host] : await this.resolve(host);
    if (addresses.length === 0 || addresses.some(isNonPublicAddress))
      return 'host resolves to a loopback, private or link-local address (not in WEBHOOK_ALLOWED_HOSTS)';
    return undefined;
  }
}
