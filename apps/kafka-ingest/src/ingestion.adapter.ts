import type { TouchpointCommand } from '@cem/domain';
import { commandContentHash, IngestConflictError, type EventError, type IngestionPort, type IngestionService } from '@cem/ingestion';

/**
 * The shared ingestion service (the one HTTP uses) seen through the ingestion port: the same DTO
 * validation per message, and an all-or-nothing idempotent append of the valid commands.
 * IngestConflictError carries per-index field errors, which the consumer uses to dead-letter exactly
 * the offending messages.
 */
export function ingestionPortFor(service: Pick<IngestionService, 'validate' | 'appendCommands'>): IngestionPort<TouchpointCommand> {
  return {
    validate: (raw) => service.validate(raw),
    append: async (commands) => {
      rejectInBatchConflicts(commands);
      await service.appendCommands(commands);
    },
  };
}

/**
 * The same eventId twice in one chunk with different content is a sender bug, as it is across
 * chunks (where the store reports it). It is checked here, with the store's notion of "same
 * content", so the consumer names it as the store would.
 */
function rejectInBatchConflicts(commands: TouchpointCommand[]): void {
  const first = new Map<string, { index: number; hash: string }>();
  const errors: EventError[] = [];
  commands.forEach((c, index) => {
    const hash = commandContentHash(c);
    const seen = first.get(c.eventId);
    if (!seen) first.set(c.eventId, { index, hash });
    else if (seen.hash !== hash)
      errors.push({ index, eventId: c.eventId, field: 'eventId', reason: 'was already recorded with different content' });
  });
  if (errors.length > 0) throw new IngestConflictError(errors);
}
