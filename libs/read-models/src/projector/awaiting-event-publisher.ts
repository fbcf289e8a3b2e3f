import type { IEvent, IEventHandler, IEventPublisher } from '@nestjs/cqrs';

/**
 * An EventBus publisher that calls the handlers of an event itself, one after the other, and
 * returns a promise of their completion. The default publisher pushes events into an RxJS subject
 * and returns at once, so a caller could not know when a read model was written, and could store
 * a checkpoint for work not done yet. Handlers run in registration order: deterministic. The
 * projector registers each projection for the event class it handles (every projection handles
 * ProjectedEvent), so nothing depends on @nestjs/cqrs's private metadata.
 *
 * An event addressed to one projection (a ProjectedEvent names the read model whose lane projects
 * its batch) goes to that projection's handler only: the others would look at it and return (each
 * lane publishes every event; with six read models, 36 handler calls per event instead of 6).
 */
export class AwaitingEventPublisher implements IEventPublisher {
  private readonly handlers = new Map<Function, IEventHandler[]>();

  register(event: Function, handler: IEventHandler): void {
    const list = this.handlers.get(event) ?? [];
    list.push(handler);
    this.handlers.set(event, list);
  }

  async publish<T extends IEvent>(event: T): Promise<void> {
    const handlers = this.handlers.get((event as object).constructor);
    if (!handlers) return;
    const addressee = (event as { batch?: { projectionName?: unknown } }).batch?.projectionName;
    for (const handler of handlers) {
      const name = (handler as { projectionName?: unknown }).projectionName;
      if (addressee === undefined || name === undefined || name === addressee) await handler.handle(event);
    }
  }

  async publishAll<T extends IEvent>(events: T[]): Promise<void> {
    for (const event of events) await this.publish(event);
  }
}
