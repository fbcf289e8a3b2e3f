import { join, resolve } from 'node:path';
import { webhooksConfig, type AppConfig, type WebhooksConfig } from '@cem/config';
import type { EventStore } from '@cem/event-store';
import { WebhookDispatcher, type WebhookLogger } from './webhook-dispatcher';
import { WebhookStore } from './webhook.store';

/** How often the dispatcher looks for due deliveries (a new signal wakes it at once). */
const POLL_MS = 1_000;

/**
 * A process's webhooks: the store (`<DATA_DIR>/webhooks.db`) the ops endpoints write, and, in the
 * process that runs the projector (the api on the embedded default, or apps/projector), the
 * dispatcher that delivers. Close it before the event store.
 */
export class WebhooksRuntime {
  readonly store: WebhookStore;
  readonly config: WebhooksConfig;
  readonly dispatcher?: WebhookDispatcher;

  constructor(options: { config: AppConfig; eventStore: EventStore; dispatch: boolean; logger: WebhookLogger }) {
    this.config = webhooksConfig(options.config);
    this.store = new WebhookStore(join(resolve(options.config.DATA_DIR), 'webhooks.db'), options.config.SQLITE_SYNCHRONOUS);
    if (options.dispatch) {
      this.dispatcher = new WebhookDispatcher(
        options.eventStore,
        this.store,
        { ...this.config, pollMs: POLL_MS, batchSize: 1_000 },
        options.logger,
      );
      this.dispatcher.start();
    }
  }

  async close(): Promise<void> {
    await this.dispatcher?.stop();
    this.store.close();
  }
}
