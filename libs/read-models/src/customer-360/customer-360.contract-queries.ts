import { customerIdOfStream, type Identifier } from '@cem/domain';
import type { RecordedEvent } from '@cem/event-store';
import type { Page } from '../kit/cursor';
import { CUSTOMER_SORTS, type Customer360Queries } from './customer-360.query';
import { LIFECYCLE_STAGES, VALUE_SEGMENTS } from './lifecycle';

/**
 * What the read-store contract suite asks the customer 360 on every store: every customer by id
 * (merged-away ones answer with their survivor), lookups by identifier, timelines paged both ways,
 * and the customer list under every sort, filter and page: the answers must be equal on SQLite and
 * PostgreSQL (text order, NULLs, keyset cursors, the lifecycle CASE).
 */
export async function customer360ContractQueries(q: Customer360Queries, log: readonly RecordedEvent[]): Promise<unknown> {
  const ids = [...new Set(log.map((e) => customerIdOfStream(e.streamId)).filter((id): id is string => id !== undefined))].sort();
  const identifiers = log
    .filter((e) => e.type === 'customer.registered')
    .flatMap((e) => (e.data as { identifiers?: Identifier[] }).identifiers ?? [])
    .slice(0, 60);
  const some = ids.filter((_, i) => i % 7 === 0);
  const instants = log.map((e) => (e.metadata as { occurredAt?: string }).occurredAt ?? '').sort();
  const [lastSeenFrom, lastSeenTo] = [instants[Math.floor(instants.length / 4)], instants[Math.floor((instants.length * 3) / 4)]];
  return {
    byId: await Promise.all(ids.map((id) => q.byId(id))),
    byIdentifier: await Promise.all(identifiers.map((i) => q.byIdentifier(i))),
    unknown: [await q.byId('no-such-customer'), await q.byIdentifier({ kind: 'email', value: 'nobody@example.com' })],
    timelines: await Promise.all(
      some.map(async (id) => ({
        asc: await allPages((cursor) => q.timeline(id, { limit: 3, cursor })),
        desc: await allPages((cursor) => q.timeline(id, { limit: 4, cursor, order: 'desc' })),
      })),
    ),
    sorted: await Promise.all(CUSTOMER_SORTS.map((sort) => allPages((cursor) => q.search({ sort, limit: 37, cursor })))),
    bySegment: await Promise.all(VALUE_SEGMENTS.map((valueSegment) => allPages((cursor) => q.search({ valueSegment, limit: 50, cursor })))),
    byStage: await Promise.all(
      LIFECYCLE_STAGES.map((lifecycleStage) => allPages((cursor) => q.search({ lifecycleStage, sort: 'netValue', limit: 50, cursor }))),
    ),
    byNps: await Promise.all(
      (['promoter', 'passive', 'detractor'] as const).map((npsCategory) =>
        allPages((cursor) => q.search({ npsCategory, limit: 50, cursor })),
      ),
    ),
    lastSeenWindow: await allPages((cursor) => q.search({ lastSeenFrom, lastSeenTo, sort: 'lastSeenAt', limit: 20, cursor })),
    one: await Promise.all(some.slice(0, 10).map((customerId) => q.search({ customerId }))),
  };
}

async function allPages<T>(page: (cursor?: string) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const p = await page(cursor);
    items.push(...p.items);
    cursor = p.nextCursor;
  } while (cursor !== undefined);
  return items;
}
