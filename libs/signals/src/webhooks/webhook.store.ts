import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { prepareOwnerOnlySqliteFile } from '@cem/event-store/sqlite/owner-only';
import type { WebhookEventType } from './webhook-policy';

/** A configured webhook. The secret is read by the dispatcher only: never logged, never answered. */
export interface Webhook {
  id: string;
  url: string;
  secret: string;
  eventTypes: WebhookEventType[];
  /** events at or before this log position are not delivered (they happened before the webhook existed) */
  fromPosition: number;
  createdAt: string;
}

export type WebhookView = Omit<Webhook, 'secret'>;

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** One signal to one webhook: the delivery log's row. */
export interface WebhookDelivery {
  deliveryId: string;
  webhookId: string;
  eventType: string;
  signalId: string;
  customerId: string;
  /** log position of the source event */
  position: number;
  /** the exact JSON sent on every attempt */
  body: string;
  status: DeliveryStatus;
  attempts: number;
  /** epoch ms of the next attempt while pending */
  nextAttemptAt: number | null;
  lastAttemptAt: string | null;
  lastError: string | null;
  responseCode: number | null;
  createdAt: string;
  deliveredAt: string | null;
}

/** A delivery as the enqueue step records it (pending, no attempt yet). */
export type NewDelivery = Pick<WebhookDelivery, 'deliveryId' | 'webhookId' | 'eventType' | 'signalId' | 'customerId' | 'position' | 'body'>;

export interface AttemptOutcome {
  status: DeliveryStatus;
  at: number;
  nextAttemptAt: number | null;
  responseCode: number | null;
  error: string | null;
}

interface WebhookRow {
  id: string;
  url: string;
  secret: string;
  event_types: string;
  from_position: number;
  created_at: string;
}
interface DeliveryRow {
  delivery_id: string;
  webhook_id: string;
  event_type: string;
  signal_id: string;
  customer_id: string;
  position: number;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number | null;
  last_attempt_at: string | null;
  last_error: string | null;
  response_code: number | null;
  created_at: string;
  delivered_at: string | null;
}

/** Refused: the store already holds the most webhooks allowed. */
export class WebhookLimitError extends Error {
  constructor(readonly max: number) {
    super(`at most ${max} webhooks`);
    this.name = 'WebhookLimitError';
  }
}

/** Schema versions, append-only: each entry runs once (PRAGMA user_version counts them). */
const MIGRATIONS = [
  `CREATE TABLE webhooks (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     secret TEXT NOT NULL,
     event_types TEXT NOT NULL,
     from_position INTEGER NOT NULL,
     created_at TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE webhook_deliveries (
     seq INTEGER PRIMARY KEY,
     delivery_id TEXT NOT NULL,
     webhook_id TEXT NOT NULL,
     event_type TEXT NOT NULL,
     signal_id TEXT NOT NULL,
     customer_id TEXT NOT NULL,
     position INTEGER NOT NULL,
     body TEXT NOT NULL,
     status TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER,
     last_attempt_at TEXT,
     last_error TEXT,
     response_code INTEGER,
     created_at TEXT NOT NULL,
     delivered_at TEXT,
     UNIQUE (webhook_id, delivery_id)
   );
   CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, status, next_attempt_at, seq);
   CREATE TABLE webhook_checkpoint (name TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;`,
];

const toWebhook = (r: WebhookRow): Webhook => ({
  id: r.id,
  url: r.url,
  secret: r.secret,
  eventTypes: JSON.parse(r.event_types) as WebhookEventType[],
  fromPosition: r.from_position,
  createdAt: r.created_at,
});
const toDelivery = (r: DeliveryRow): WebhookDelivery => ({
  deliveryId: r.delivery_id,
  webhookId: r.webhook_id,
  eventType: r.event_type,
  signalId: r.signal_id,
  customerId: r.customer_id,
  position: r.position,
  body: r.body,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  lastAttemptAt: r.last_attempt_at,
  lastError: r.last_error,
  responseCode: r.response_code,
  createdAt: r.created_at,
  deliveredAt: r.delivered_at,
});

/**
 * The webhooks' own SQLite file (`<DATA_DIR>/webhooks.db`, owner-only: it holds the secrets):
 * the configured webhooks, the delivery log (one row per signal and webhook, the outbox the
 * dispatcher works from) and the dispatcher's checkpoint in the event log. The api (CRUD) and the
 * process that runs the dispatcher may be two processes on the same file (WAL).
 */
export class WebhookStore {
  private readonly db: Database.Database;

  constructor(
    file: string,
    synchronous: 'FULL' | 'NORMAL' | 'OFF' = 'FULL',
    private readonly now: () => number = Date.now,
  ) {
    prepareOwnerOnlySqliteFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${synchronous}`);
    this.db.pragma('busy_timeout = 10000');
    // the api and apps/projector may open the file at the same moment: the version is read under the write lock
    this.db
      .transaction(() => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        for (let v = version; v < MIGRATIONS.length; v++) {
          this.db.exec(MIGRATIONS[v]);
          this.db.pragma(`user_version = ${v + 1}`);
        }
      })
      .immediate();
  }

  /**
   * Stores a validated webhook. It receives the signals of events after the log's head now, or
   * after the dispatcher's checkpoint if that is further on (read in the same transaction, so no
   * event is half-seen by a batch running at the same moment).
   */
  create(input: { url: string; secret: string; eventTypes: WebhookEventType[] }, headPosition: number, maxWebhooks = Infinity): Webhook {
    return this.db
      .transaction((): Webhook => {
        if (this.count() >= maxWebhooks) throw new WebhookLimitError(maxWebhooks);
        const webhook: Webhook = {
          id: randomUUID(),
          url: input.url,
          secret: input.secret,
          eventTypes: [...input.eventTypes],
          fromPosition: Math.max(headPosition, this.checkpoint()),
          createdAt: new Date(this.now()).toISOString(),
        };
        this.db
          .prepare('INSERT INTO webhooks (id, url, secret, event_types, from_position, created_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(webhook.id, webhook.url, webhook.secret, JSON.stringify(webhook.eventTypes), webhook.fromPosition, webhook.createdAt);
        return webhook;
      })
      .immediate();
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM webhooks').get() as { n: number }).n;
  }

  list(): Webhook[] {
    return (this.db.prepare('SELECT * FROM webhooks ORDER BY created_at, id').all() as WebhookRow[]).map(toWebhook);
  }

  get(id: string): Webhook | undefined {
    const row = this.db.prepare('SELECT * FROM webhooks WHERE id = ?').get(id) as WebhookRow | undefined;
    return row ? toWebhook(row) : undefined;
  }

  /** Deletes the webhook and its delivery log; false when there is no such webhook. */
  delete(id: string): boolean {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM webhook_deliveries WHERE webhook_id = ?').run(id);
      return this.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id).changes > 0;
    })();
  }

  checkpoint(): number {
    const row = this.db.prepare("SELECT position FROM webhook_checkpoint WHERE name = 'dispatcher'").get() as
      { position: number } | undefined;
    return row?.position ?? 0;
  }

  /**
   * One batch of the dispatcher, atomically: `build` sees the webhooks as they are inside the
   * transaction and returns the deliveries due; they are recorded (a delivery id already there is
   * kept as it is) together with the new checkpoint. Returns how many were new.
   */
  enqueue(position: number, build: (webhooks: Webhook[]) => NewDelivery[]): number {
    return this.db
      .transaction((): number => {
        const deliveries = build(this.list());
        const insert = this.db.prepare(
          `INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_type, signal_id, customer_id, position, body, status, attempts, next_attempt_at, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (webhook_id, delivery_id) DO NOTHING`,
        );
        const at = this.now();
        const created = new Date(at).toISOString();
        let added = 0;
        for (const d of deliveries)
          added += insert.run(d.deliveryId, d.webhookId, d.eventType, d.signalId, d.customerId, d.position, d.body, at, created).changes;
        this.db
          .prepare(
            "INSERT INTO webhook_checkpoint (name, position) VALUES ('dispatcher', ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position",
          )
          .run(position);
        return added;
      })
      .immediate();
  }

  /** The oldest pending delivery of a webhook whose next attempt is due at `now`. */
  nextDue(webhookId: string, now: number): WebhookDelivery | undefined {
    const row = this.db
      .prepare(
        "SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT 1",
      )
      .get(webhookId, now) as DeliveryRow | undefined;
    return row ? toDelivery(row) : undefined;
  }

  /** Records an attempt's outcome (a webhook deleted meanwhile: nothing to record). */
  recordAttempt(webhookId: string, deliveryId: string, outcome: AttemptOutcome): void {
    const at = new Date(outcome.at).toISOString();
    this.db
      .prepare(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?, next_attempt_at = ?, last_attempt_at = ?, last_error = ?,
           response_code = ?, delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END
         WHERE webhook_id = ? AND delivery_id = ? AND status = 'pending'`,
      )
      .run(outcome.status, outcome.nextAttemptAt, at, outcome.error, outcome.responseCode, outcome.status, at, webhookId, deliveryId);
  }

  /** The delivery log of a webhook, newest first; `before` is the `seq` cursor of the previous page. */
  deliveries(
    webhookId: string,
    options: { status?: DeliveryStatus; limit: number; before?: number },
  ): { items: (WebhookDelivery & { seq: number })[]; next: number | null } {
    const rows = this.db
      .prepare(
        `SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND (? IS NULL OR status = ?) AND (? IS NULL OR seq < ?)
         ORDER BY seq DESC LIMIT ?`,
      )
      .all(
        webhookId,
        options.status ?? null,
        options.status ?? null,
        options.before ?? null,
        options.before ?? null,
        options.limit + 1,
      ) as (DeliveryRow & { seq: number })[];
    const page = rows.slice(0, options.limit);
    return {
      items: page.map((r) => ({ ...toDelivery(r), seq: r.seq })),
      next: rows.length > options.limit ? page[page.length - 1].seq : null,
    };
  }

  close(): void {
    this.db.close();
  }
}
