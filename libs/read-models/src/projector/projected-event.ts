import type { EventMetadata } from '@cem/domain';
import type { ProjectionBatch } from './projection';

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

/**
 * What the projector publishes on the @nestjs/cqrs EventBus, once per stored event. It carries the
 * batch it belongs to, so a handler writes through the batch's transaction and state.
 */
export class ProjectedEvent {
  constructor(
    readonly record: ProjectedRecord,
    readonly batch: ProjectionBatch,
  ) {}
}
