import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { AwaitingEventPublisher } from './awaiting-event-publisher';

class Happened {
  constructor(readonly n: number) {}
}
const log: string[] = [];

@EventsHandler(Happened)
class Slow implements IEventHandler<Happened> {
  async handle(e: Happened) {
    await new Promise((r) => setTimeout(r, 20));
    log.push(`slow ${e.n}`);
  }
}
@EventsHandler(Happened)
class Fast implements IEventHandler<Happened> {
  handle(e: Happened) {
    log.push(`fast ${e.n}`);
  }
}

describe('AwaitingEventPublisher', () => {
  it('resolves only after every handler finished, calling them in registration order', async () => {
    const publisher = new AwaitingEventPublisher();
    publisher.register(new Slow());
    publisher.register(new Fast());
    await publisher.publishAll([new Happened(1), new Happened(2)]);
    expect(log).toEqual(['slow 1', 'fast 1', 'slow 2', 'fast 2']);
  });

  it('refuses a class that is not an event handler', () => {
    expect(() => new AwaitingEventPublisher().register({ handle() {} })).toThrow(/not an @EventsHandler/);
  });
});
