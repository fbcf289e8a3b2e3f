import type { EventMetadata } from '@cem/domain';

/** A stored event as projections see it: payload upcast to the latest version of its type. */
export interface ProjectedRecord {
  position: number;
  eventId: string;
  type: string;
  streamId: string;
  revision: number;
  data: unknown;
  metadata: EventMetadata;
  recordedAt: string;
}
