import { StreamNotFoundError, type EventStore, type RecordedEvent } from '@cem/event-store';

/*
 * The write side of the versioned definitions the analyst API keeps one stream each of (segments,
 * targets): read the stream's latest event, decide (the domain's pure function), append with the
 * expected revision, so a change made at the same moment fails (WrongExpectedRevisionError: the
 * caller's 409) instead of being lost.
 */

/** The latest event of a definition's stream; undefined when the stream does not exist yet (revision -1). */
export async function latestOf(store: EventStore, streamId: string): Promise<RecordedEvent | undefined> {
  try {
    const [last] = await store.readStream(streamId, { direction: 'backwards', maxCount: 1 });
    return last;
  } catch (e) {
    if (e instanceof StreamNotFoundError) return undefined;
    throw e;
  }
}

/** Appends decided events after `revision` (-1: the stream must not exist yet); the position of the first. */
export async function appendDecided(
  store: EventStore,
  streamId: string,
  revision: number,
  events: readonly { eventId: string; type: string; data: unknown; metadata: object }[],
): Promise<number> {
  const appended = await store.appendToStream(
    streamId,
    events.map((e) => ({ eventId: e.eventId, type: e.type, data: e.data, metadata: { ...e.metadata } })),
    { expectedRevision: revision < 0 ? 'no_stream' : revision },
  );
  return appended.events[0].position;
}
