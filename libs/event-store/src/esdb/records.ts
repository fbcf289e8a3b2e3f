import type { AllStreamResolvedEvent, ResolvedEvent } from '@eventstore/db-client';
import type { RecordedEvent } from '../port';
import { fromEsdbMetadata } from './naming';

/** The port's view of a recorded event (empty for a link whose target is gone). */
export function toRecorded(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent[] {
  const e = resolved.event;
  if (!e) return [];
  return [
    {
      eventId: e.id,
      type: e.type,
      streamId: e.streamId,
      revision: Number(e.revision),
      position: e.position ? Number(e.position.commit) : Number(resolved.commitPosition ?? -1),
      data: e.isJson ? e.data : Buffer.from(e.data as Uint8Array).toString('base64'),
      metadata: fromEsdbMetadata(e.metadata),
      recordedAt: e.created.toISOString(),
    },
  ];
}
