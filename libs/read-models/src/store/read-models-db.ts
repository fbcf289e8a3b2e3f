import type { TablesOf } from '../kit/read-model';
import type { READ_MODELS } from '../read-models';

/** The checkpoint of each read model: the position of the last event its lane handled. */
export interface ProjectionCheckpointsTable {
  projection: string;
  position: number;
  /** the read model's version the rows were projected with (see ReadModel.version) */
  version: number;
}

export interface CheckpointTables {
  projection_checkpoints: ProjectionCheckpointsTable;
}

/** Every table of the read-model store, as Kysely sees it: the checkpoints plus each read model's. */
export type ReadModelsDb = CheckpointTables & TablesOf<typeof READ_MODELS>;
