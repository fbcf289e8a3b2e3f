import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { NestFactory } from '@nestjs/core';
import { EventBus } from '@nestjs/cqrs';
import type { Kysely } from 'kysely';
import type { EventStore } from '@cem/event-store';
import type { ReadModel } from '../kit/read-model';
import type { Projection } from './projection';
import { DEFAULT_BATCHES_PER_TRANSACTION, ProjectionLane, WriteTurns } from './projection-lane';
import { DEFAULT_BATCH_SIZE } from './projector';
import { ProjectorModule } from './projector.module';
import { SharedLogPages } from './shared-log-pages';

export interface RangeProgress {
  readModel: string;
  /** the read model's position in this copy */
  position: number;
  /** where this run stops */
  to: number;
  /** events projected by this run so far (all read models) */
  events: number;
}

export interface ProjectRangeOptions {
  store: EventStore;
  /** the write connection of the copy to project into */
  db: Kysely<any>;
  dataDir?: string;
  readModels: readonly ReadModel[];
  /** last log position to project (inclusive): the copy's checkpoints end exactly there */
  to: number;
  batchSize?: number;
  onProgress?: (p: RangeProgress) => void;
}

/**
 * Projects the log into a copy of the read models (a verify's scratch copy, a rebuild's shadow)
 * from each read model's checkpoint in that copy up to exactly `to`, with the projector's own lanes
 * (same code, same batches, same checkpoint in the same transaction). They share the copy's one
 * write connection, so they take turns of one whole transaction each (the batches of a
 * transaction, see ProjectionLane), and read the log through SharedLogPages: each page is read and
 * decoded once for all of them (one after the other, each read model read the whole log). Stops
 * there instead of following the log: a copy compared with another must be at the same position.
 * Interrupted (even by kill -9), a second run resumes from the checkpoints the first committed.
 * Returns each read model's position.
 */
export async function projectRange(options: ProjectRangeOptions): Promise<Map<string, number>> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const context = await NestFactory.createApplicationContext(
    ProjectorModule.register({ store: options.store, db: options.db, dataDir: options.dataDir, readModels: options.readModels }),
    { logger: false, abortOnError: false },
  );
  const reached = new Map<string, number>();
  const log = new SharedLogPages(options.store, DEFAULT_BATCHES_PER_TRANSACTION + 1);
  const turns: { model: ReadModel; lane: ProjectionLane; reader: ReturnType<SharedLogPages['reader']>; position: number }[] = [];
  let events = 0;
  try {
    // the module's factory wires the awaiting publisher of the projections into the bus
    const eventBus = context.get(EventBus);
    for (const model of options.readModels) {
      const projection = context.get<Projection>(model.projection as never, { strict: false });
      // a copy of another version (a shadow resumed by a newer build) is simply projected again
      const lane = new ProjectionLane(model, projection, options.db, eventBus, new WriteTurns(), {
        batchSize,
        onVersionChange: 'rebuild-in-place',
      });
      const position = await lane.open();
      reached.set(model.name, position);
      if (position < options.to) turns.push({ model, lane, reader: log.reader(position, batchSize), position });
    }
    while (turns.length > 0) {
      const turn = turns[0];
      // one transaction of this read model: its lane commits once its batches fill it (or at `to`)
      let done = false;
      try {
        for (;;) {
          const batch = (await turn.reader.next()).filter((e) => e.position <= options.to);
          if (batch.length === 0) {
            done = true;
            break;
          }
          turn.position = batch[batch.length - 1].position;
          const last = turn.position >= options.to || batch.length < batchSize;
          const committed = await turn.lane.handle(batch, { headReached: last });
          events += batch.length;
          options.onProgress?.({ readModel: turn.model.name, position: turn.position, to: options.to, events });
          // the embedded store reads synchronously: give timers a turn (the rebuild's heartbeat,
          // which saves its progress and tells others it is alive; HTTP in the API's worker host)
          await yieldToEventLoop();
          if (turn.position >= options.to) done = true;
          if (done || committed !== undefined) break;
        }
        if (done) await turn.lane.flush();
      } catch (e) {
        await turn.lane.abort();
        throw e;
      }
      turns.shift();
      if (!done) turns.push(turn);
      else {
        turn.reader.close();
        reached.set(turn.model.name, turn.position);
      }
    }
  } finally {
    for (const turn of turns) turn.reader.close();
    await context.close();
  }
  return reached;
}
