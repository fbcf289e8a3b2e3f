import type { Customer360Tables } from '../customer-360/customer-360.schema';

/** The checkpoint of each projection: the position of the last event it handled. */
export interface ProjectionCheckpointsTable {
  projection: string;
  position: number;
}

/** Every table of the read-model store, as Kysely sees it. */
export interface ReadModelsDb extends Customer360Tables {
  projection_checkpoints: ProjectionCheckpointsTable;
}
