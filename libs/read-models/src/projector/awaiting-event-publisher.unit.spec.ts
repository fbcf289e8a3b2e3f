import type { IEventHandler } from '@nestjs/cqrs';
import { AwaitingEventPublisher } from './awaiting-event-publisher';

class Happened {
  constructor(readonly n: number) {}
}
class Other {}

describe('AwaitingEventPublisher', () => {
  it('resolves only after every handler finished, calling them in registration order', async () => {
    const log: string[] = [];
    const slow: IEventHandler<Happened> = {
      async handle(e) {
        await new Promise((r) => setTimeout(r, 20));
        log.push(`slow ${e.n}`);
      },
    };
    const fast: IEventHandler<Happened> = { handle: (e) => void log.push(`fast ${e.n}`) };
    const publisher = new AwaitingEventPublisher();
    publisher.register(Happened, slow);
    publisher.register(Happened, fast);
    await publisher.publishAll([new Happened(1), new Happened(2)]);
    expect(log).toEqual(['slow 1', 'fast 1', 'slow 2', 'fast 2']);
  });

  it('calls only the handlers registered for the event class', async () => {
    const seen: unknown[] = [];
    const publisher = new AwaitingEventPublisher();
    publisher.register(Happened, { handle: (e) => void seen.push(e) });
    await publisher.publish(new Other());
    expect(seen).toEqual([]);
  });

  it('hands an event addressed to one projection (a batch of its lane) to that projection only; unaddressed events and handlers without a name get everything', async () => {
    const seen: string[] = [];
    const projection = (projectionName: string): IEventHandler & { projectionName: string } => ({
      projectionName,
      handle: (e: { batch?: { projectionName: string } }) => void seen.push(`${projectionName} <- ${e.batch?.projectionName ?? 'anyone'}`),
    });
    const publisher = new AwaitingEventPublisher();
    for (const name of ['a', 'b', 'c']) publisher.register(Happened, projection(name));
    publisher.register(Happened, { handle: () => void seen.push('unnamed') });
    await publisher.publish(Object.assign(new Happened(1), { batch: { projectionName: 'b' } }));
    await publisher.publish(new Happened(2));
    expect(seen).toEqual(['b <- b', 'unnamed', 'a <- anyone', 'b <- anyone', 'c <- anyone', 'unnamed']);
  });
});
