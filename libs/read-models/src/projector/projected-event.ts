import type { ProjectionBatch } from './projection';
import type { ProjectedRecord } from './projected-record';

export type { ProjectedRecord };

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
