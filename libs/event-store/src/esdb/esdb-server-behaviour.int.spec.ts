import { randomUUID } from 'node:crypto';
import { BACKWARDS, END, ErrorType, EventStoreDBClient, jsonEvent, NO_STREAM, type ResolvedEvent } from '@eventstore/db-client';
import { EsdbDouble } from '../../../../test/support/esdb-double';

/**
 * The server's own behaviour that the adapter's guarantees rest on, through the raw client (no
 * adapter, no reservation streams): on the gRPC double, and on a real server when
 * ESDB_CONNECTION_STRING is set. Tests that need to break the server (restart it, make it not ready)
 * run on the double only and say so when skipped on a real one.
 */
interface Target {
  client: EventStoreDBClient;
  double?: EsdbDouble;
  close(): Promise<void>;
}

function serverBehaviour(name: string, open: () => Promise<Target>): void {
  describe(`EventStoreDB server behaviour: ${name}`, () => {
    let t: Target;
    beforeEach(async () => (t = await open()));
    afterEach(async () => t.close());

    const stream = () => `server-${randomUUID()}`;
    const event = (pad = 0, id = randomUUID()) => jsonEvent({ id, type: 'thing.happened', data: { pad: 'x'.repeat(pad) } });
    const read = async (s: string) => {
      const out: ResolvedEvent[] = [];
      for await (const e of t.client.readStream(s, { requiresLeader: true })) out.push(e);
      return out;
    };
    const onDouble = (what: string, reason: string, fn: () => Promise<void>) =>
      it(what, async () => {
        if (!t.double) return console.log(`skipped on a real server: ${what} (${reason})`);
        await fn();
      });

    it('refuses an append over the default MaxAppendSize (1 MiB) with MaximumAppendSizeExceeded, writing nothing', async () => {
      const s = stream();
      const err = await t.client.appendToStream(s, [event(600_000), event(600_000)]).catch((e) => e);
      expect(err).toMatchObject({ type: ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED, maxAppendSize: 1024 * 1024 });
      await expect(read(s)).rejects.toMatchObject({ type: ErrorType.STREAM_NOT_FOUND });
      await t.client.appendToStream(s, [event(500_000), event(500_000)]); // just under: accepted
      expect(await read(s)).toHaveLength(2);
    });

    it('recognises a repeated append by its event ids, with an exact revision and with any (while it remembers)', async () => {
      const s = stream();
      const [a, b] = [event(), event()];
      await t.client.appendToStream(s, [a, b], { expectedRevision: NO_STREAM });
      const exact = await t.client.appendToStream(s, [a, b], { expectedRevision: NO_STREAM });
      expect(exact.nextExpectedRevision).toBe(1n);
      const any = await t.client.appendToStream(s, [b], { expectedRevision: 'any' });
      expect(any.nextExpectedRevision).toBe(1n);
      expect(await read(s)).toHaveLength(2);
    });

    onDouble(
      'forgets any-revision repeats after a restart or failover, but never exact-revision ones',
      'needs to restart the server',
      async () => {
        const s = stream();
        const a = event();
        await t.client.appendToStream(s, [a], { expectedRevision: NO_STREAM });
        t.double!.forgetIdempotency();
        await t.client.appendToStream(s, [a], { expectedRevision: NO_STREAM }); // still recognised
        expect(await read(s)).toHaveLength(1);
        await t.client.appendToStream(s, [a], { expectedRevision: 'any' }); // written again
        expect(await read(s)).toHaveLength(2);
      },
    );

    it('lets a no_stream append recreate a soft-deleted stream, past the old revisions', async () => {
      const s = stream();
      await t.client.appendToStream(s, [event(), event()], { expectedRevision: NO_STREAM });
      await t.client.deleteStream(s);
      await expect(read(s)).rejects.toMatchObject({ type: ErrorType.STREAM_NOT_FOUND });
      const again = await t.client.appendToStream(s, [event()], { expectedRevision: NO_STREAM });
      expect(again.nextExpectedRevision).toBe(2n);
      expect((await read(s)).map((e) => e.event!.revision)).toEqual([2n]);
    });

    it('refuses appends and reads on a tombstoned stream with stream-deleted, for good', async () => {
      const s = stream();
      await t.client.appendToStream(s, [event()]);
      await t.client.tombstoneStream(s);
      await expect(t.client.appendToStream(s, [event()], { expectedRevision: 'any' })).rejects.toMatchObject({
        type: ErrorType.STREAM_DELETED,
      });
      await expect(t.client.appendToStream(s, [event()], { expectedRevision: NO_STREAM })).rejects.toMatchObject({
        type: ErrorType.STREAM_DELETED,
      });
      await expect(read(s)).rejects.toMatchObject({ type: ErrorType.STREAM_DELETED });
    });

    it('hides events beyond $maxCount from reads', async () => {
      const s = stream();
      const ids = [event(), event(), event()];
      await t.client.appendToStream(s, ids);
      await t.client.setStreamMetadata(s, { maxCount: 1 });
      const left = await read(s);
      expect(left.map((e) => e.event!.id)).toEqual([ids[2].id]);
      const [last] = await (async () => {
        const out: ResolvedEvent[] = [];
        for await (const e of t.client.readStream(s, { direction: BACKWARDS, fromRevision: END, maxCount: 1 })) out.push(e);
        return out;
      })();
      expect(last.event!.revision).toBe(2n);
    });

    onDouble(
      'answers "not ready" through BatchAppend as a status the client turns into an UnknownError without a code',
      'a real server cannot be made not ready by a test',
      async () => {
        t.double!.faults.notReady = 1;
        const err = await t.client.appendToStream(stream(), [event()]).catch((e) => e);
        expect(err).toMatchObject({ type: ErrorType.UNKNOWN, code: undefined });
        expect(err.message).toMatch(/Server Is Not Ready/);
      },
    );
  });
}

serverBehaviour('the gRPC double', async () => {
  const double = new EsdbDouble();
  const client = EventStoreDBClient.connectionString(await double.start());
  return { client, double, close: async () => (await client.dispose(), double.stop()) };
});

const real = process.env.ESDB_CONNECTION_STRING;
if (real) {
  serverBehaviour(`a real server (${real.replace(/\/\/[^@/]*@/, '//***@')})`, async () => {
    const client = EventStoreDBClient.connectionString(real);
    return { client, close: () => client.dispose() };
  });
} else {
  const reason = 'ESDB_CONNECTION_STRING is not set (e.g. esdb://127.0.0.1:2113?tls=false, see infra/eventstoredb/docker-compose.yml)';
  console.log(`skipped: EventStoreDB server behaviour against a real server: ${reason}`);
  describe.skip(`EventStoreDB server behaviour: a real server (skipped: ${reason})`, () => {
    it('needs ESDB_CONNECTION_STRING', () => expect(real).toBeDefined());
  });
}
