import type { RecordedEvent } from '@cem/event-store';
import { streamCustomerIdOf } from './customer-log';

/** One event of a customer's audit trail: who, when (occurred and recorded), where from, and where it is stored. */
export interface AuditEntry {
  position: number;
  eventId: string;
  type: string;
  schemaVersion: number | null;
  occurredAt: string | null;
  recordedAt: string;
  source: string | null;
  channel: string | null;
  agentId: string | null;
  correlationId: string | null;
  causationId: string | null;
  streamId: string;
  revision: number;
  /** the customer whose stream holds it (a customer merged into the audited one, or the audited one) */
  streamCustomerId: string | null;
  /** identifiers the sender named (personal data) */
  identifiers: unknown[];
  /** the payload as stored, not upcast: what was recorded is what is audited */
  data: unknown;
}

export interface AuditTrail {
  customerId: string;
  /** customers merged into it, whose streams the trail includes */
  mergedIds: string[];
  generatedAt: string;
  /** the position of the last event in the whole log when the trail was read */
  headPosition: number;
  /** events in this page (or the whole trail), in recorded order (log position) */
  events: AuditEntry[];
  /** total events of the customer */
  total: number;
  /** pass as `after` for the next page; absent on the last page */
  nextAfter?: number;
}

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

export function auditEntryOf(e: RecordedEvent): AuditEntry {
  const m = (e.metadata ?? {}) as Record<string, unknown>;
  return {
    position: e.position,
    eventId: e.eventId,
    type: e.type,
    schemaVersion: typeof m.schemaVersion === 'number' ? m.schemaVersion : null,
    occurredAt: text(m.occurredAt),
    recordedAt: e.recordedAt,
    source: text(m.source),
    channel: text(m.channel),
    agentId: text(m.agentId),
    correlationId: text(m.correlationId),
    causationId: text(m.causationId),
    streamId: e.streamId,
    revision: e.revision,
    streamCustomerId: streamCustomerIdOf(e) ?? null,
    identifiers: Array.isArray(m.identifiers) ? m.identifiers : [],
    data: e.data ?? null,
  };
}

export interface AuditPage {
  /** only events after this log position (the previous page's nextAfter) */
  after?: number;
  /** most events in the answer */
  limit?: number;
}

/**
 * The audit trail of a customer's log (readCustomerLog), a page at a time: events in log order,
 * so a reader sees them in the order the platform recorded them, system events included.
 */
export function auditTrailOf(
  log: { customerId: string; mergedIds: string[]; events: readonly RecordedEvent[] },
  context: { generatedAt: number; headPosition: number },
  page: AuditPage = {},
): AuditTrail {
  const after = page.after ?? 0;
  const remaining = log.events.filter((e) => e.position > after);
  const limit = page.limit ?? remaining.length;
  const events = remaining.slice(0, limit).map(auditEntryOf);
  return {
    customerId: log.customerId,
    mergedIds: log.mergedIds,
    generatedAt: new Date(context.generatedAt).toISOString(),
    headPosition: context.headPosition,
    events,
    total: log.events.length,
    ...(remaining.length > limit && events.length > 0 ? { nextAfter: events[events.length - 1].position } : {}),
  };
}
