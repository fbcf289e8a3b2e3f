import type { IEvent, IEventHandler, IEventPublisher } from '@nestjs/cqrs';

// the key @EventsHandler stores its event classes under (not exported by @nestjs/cqrs's index)
const EVENTS_HANDLER_METADATA = '__eventsHandler__';

/**
 * An EventBus publisher that calls the handlers of an event itself, one after the other, and
 * returns a promise of their completion. The default publisher pushes events into an RxJS subject
 * and returns at once, so a caller could not know when a read model was written, and could store
 * a checkpoint for work not done yet. Handlers run in registration order: deterministic.
 */
export class AwaitingEventPublisher implements IEventPublisher {
  private readonly handlers = new Map<Function, IEventHandler[]>();

  register(handler: IEventHandler): void {
    const events: Function[] = Reflect.getMetadata(EVENTS_HANDLER_METADATA, handler.constructor) ?? [];
    if (events.length === 0) throw new Error(`${handler.constructor.name} is not an @EventsHandler`);
    for (const event of events) {
      const list = this.handlers.get(event) ?? [];
      list.push(handler);
      this.handlers.set(event, list);
    }
  }

  async publish<T extends IEvent>(event: T): Promise<void> {
    const handlers = this.handlers.get((event as object).constructor);
    if (!handlers) return;
    for (const handler of handlers) await handler.handle(event);
  }

  async publishAll<T extends IEvent>(events: T[]): Promise<void> {
    for (const event of events) await this.publish(event);
  }
}
