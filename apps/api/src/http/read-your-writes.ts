import { UnprocessableEntityException } from '@nestjs/common';
import type { Platform } from '@cem/platform';
import type { ReadModelName, ReadSide } from '@cem/read-models';
import { ProjectionLaggingError } from './projection-lagging.error';

const READ_YOUR_WRITES_TIMEOUT_MS = 5000;

/**
 * `?minPosition=` of every read: waits (up to 5 s) until `readModel` has handled that log position.
 * A position past the head was never returned by an ingest call: refused (422) rather than waited for.
 */
export async function waitForPosition(
  platform: Platform,
  readSide: ReadSide,
  minPosition: number | undefined,
  readModel: ReadModelName,
): Promise<void> {
  if (minPosition === undefined) return;
  const head = await platform.store.headPosition();
  if (minPosition > head) {
    throw new UnprocessableEntityException({
      error: 'validation_failed',
      message: 'invalid query parameters',
      errors: [{ field: 'minPosition', reason: `beyond the head of the log (${head}): pass a position an ingest call returned` }],
    });
  }
  if (!(await readSide.whenCaughtUp(minPosition, READ_YOUR_WRITES_TIMEOUT_MS, [readModel])))
    throw new ProjectionLaggingError(readModel, minPosition);
}
