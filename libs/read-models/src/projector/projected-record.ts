import { isTouchpointType, type EventMetadata, type EventType, type PayloadOf, type TouchpointType } from '@cem/domain';

interface RecordEnvelope {
  position: number;
  eventId: string;
  streamId: string;
  revision: number;
  metadata: EventMetadata;
  recordedAt: string;
}

/**
 * A stored event as projections see it: payload upcast to the latest version of its type, and
 * typed by the catalogue, so a handler narrows `data` by switching on `type` without casts. The log
 * holds only catalogue types (the write side validates them, the EventStoreDB adapter drops the
 * server's own `$` events); a handler's `default` branch still ignores a type it does not know, so
 * an event written by a newer version of the platform never breaks an older projector.
 */
export type ProjectedRecord<T extends EventType = EventType> = {
  [K in T]: RecordEnvelope & { type: K; data: PayloadOf<K> };
}[T];

/** Compile-time exhaustiveness: a switch over every event type ends here with `type` narrowed to never. */
export function unhandledType(type: never): void {
  void type;
}

/** Narrows a record to the touch-point types (what integrations send), payload included. */
export const isTouchpointRecord = (record: ProjectedRecord): record is ProjectedRecord<TouchpointType> => isTouchpointType(record.type);
