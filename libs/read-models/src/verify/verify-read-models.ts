import { randomBytes } from 'node:crypto';
import type { EventStore } from '@cem/event-store';
import type { ReadModel } from '../kit/read-model';
import { readCheckpoint } from '../projector/checkpoints';
import { projectRange, type RangeProgress } from '../projector/project-range';
import type { ReadStoreLocation } from '../store/open-read-store';
import type { ReadStore } from '../store/read-store';
import { dropReadStoreCopy, openReadStoreCopy } from '../store/read-store-copy';
import { checksumReadModel, type ReadModelChecksum, type TableChecksum } from './read-model-checksum';

/** What `cem verify` found for one read model. */
export interface ReadModelVerdict {
  readModel: string;
  /** `equal`; `drift` (the rebuilt copy differs); `not-projected` (no live copy yet: nothing to compare) */
  status: 'equal' | 'drift' | 'not-projected';
  /** the log position both copies were compared at (the live copy's checkpoint when it was read) */
  position: number;
  /** the version the live copy was projected with, and this code's */
  liveVersion: number | null;
  codeVersion: number;
  live?: { checksum: string; tables: TableChecksum[] };
  rebuilt?: { checksum: string; tables: TableChecksum[] };
  /** tables whose checksums differ */
  driftTables: string[];
  /** customers whose rows differ (present in one copy only, or with other rows), sorted */
  driftCustomers: string[];
}

export interface VerifyOptions {
  store: EventStore;
  location: ReadStoreLocation;
  /** the live read store (read only here) */
  live: ReadStore;
  readModels: readonly ReadModel[];
  dataDir?: string;
  batchSize?: number;
  onProgress?: (p: RangeProgress & { phase: 'live-checksum' | 'rebuild' | 'rebuilt-checksum' }) => void;
}

/**
 * Proves each read model matches the log: reads the live copy's checkpoint and checksums it in one
 * read snapshot, rebuilds the read model from position 0 to exactly that checkpoint into a scratch
 * copy (a file or a schema of its own, dropped afterwards), checksums that the same way and compares,
 * table by table and customer by customer. The live copy keeps serving and being projected meanwhile.
 */
export async function verifyReadModels(options: VerifyOptions): Promise<ReadModelVerdict[]> {
  const scratchName = `cem_verify_${randomBytes(6).toString('hex')}`;
  const scratch = await openReadStoreCopy(options.location, scratchName, options.readModels);
  try {
    const verdicts: ReadModelVerdict[] = [];
    for (const model of options.readModels) {
      options.onProgress?.({ phase: 'live-checksum', readModel: model.name, position: 0, to: 0, events: 0 });
      const live = await liveSnapshot(options.live, model);
      if (!live) {
        verdicts.push({
          readModel: model.name,
          status: 'not-projected',
          position: 0,
          liveVersion: null,
          codeVersion: model.version,
          driftTables: [],
          driftCustomers: [],
        });
        continue;
      }
      await projectRange({
        store: options.store,
        db: scratch.db,
        dataDir: options.dataDir,
        readModels: [model],
        to: live.position,
        batchSize: options.batchSize,
        onProgress: (p) => options.onProgress?.({ phase: 'rebuild', ...p }),
      });
      options.onProgress?.({ phase: 'rebuilt-checksum', readModel: model.name, position: live.position, to: live.position, events: 0 });
      // the version this code's lane wrote (a projection may add its configuration to the model's)
      const codeVersion = (await readCheckpoint(scratch.db, model.name))?.version ?? model.version;
      const rebuilt = await checksumReadModel(scratch.db, scratch.kind, model, { perCustomer: true });
      verdicts.push(compare(model.name, live.position, live.version, codeVersion, live.checksum, rebuilt));
    }
    return verdicts;
  } finally {
    await scratch.close();
    await dropReadStoreCopy(options.location, scratchName);
  }
}

/** The live copy's checkpoint and checksum, read in one snapshot while the projector goes on writing. */
async function liveSnapshot(live: ReadStore, model: ReadModel) {
  const run = live.kind === 'postgres' ? live.db.transaction().setIsolationLevel('repeatable read') : live.db.transaction();
  return run.execute(async (trx) => {
    const checkpoint = await readCheckpoint(trx, model.name);
    if (!checkpoint) return undefined;
    const checksum = await checksumReadModel(trx, live.kind, model, { perCustomer: true });
    return { ...checkpoint, checksum };
  });
}

export function compare(
  readModel: string,
  position: number,
  liveVersion: number,
  codeVersion: number,
  live: ReadModelChecksum,
  rebuilt: ReadModelChecksum,
): ReadModelVerdict {
  const driftTables = live.tables.filter((t, i) => t.checksum !== rebuilt.tables[i]?.checksum).map((t) => t.table);
  const driftCustomers: string[] = [];
  const a = live.customers ?? new Map<string, string>();
  const b = rebuilt.customers ?? new Map<string, string>();
  for (const [id, digest] of a) if (b.get(id) !== digest) driftCustomers.push(id);
  for (const id of b.keys()) if (!a.has(id)) driftCustomers.push(id);
  driftCustomers.sort();
  return {
    readModel,
    status: live.checksum === rebuilt.checksum ? 'equal' : 'drift',
    position,
    liveVersion,
    codeVersion,
    live: { checksum: live.checksum, tables: live.tables },
    rebuilt: { checksum: rebuilt.checksum, tables: rebuilt.tables },
    driftTables,
    driftCustomers,
  };
}
