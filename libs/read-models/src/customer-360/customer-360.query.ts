import type { Kysely } from 'kysely';
import { PLAIN_IDENTIFIER_INDEX, type Identifier, type IdentifierIndex } from '@cem/domain';
import { PLAIN_STORED_VALUES, type StoredValues } from '@cem/privacy';
import { decodeCursor, encodeCursor, type Page } from '../kit/cursor';
import type { C360CustomersTable, Customer360Tables } from './customer-360.schema';
import { fromMoneyUnits, subMoneyUnits, type Customer360State, type MergeRecord, type MoneyState } from './customer-360.state';
import { openStates, openTimeline } from './stored-identifiers';
import { lifecycleStage, lifecycleStageSql, npsCategory, type LifecycleStage, type NpsCategory, type ValueSegment } from './lifecycle';

export interface Customer360View {
  customerId: string;
  /** the instant the time-dependent parts (stage, case ages) were evaluated at */
  asOf: string;
  /** last log position reflected in this view */
  position: number;
  lifecycleStage: LifecycleStage;
  valueSegment: ValueSegment;
  identifiers: Record<string, string[]>;
  registeredAt: string | null;
  firstSeenAt: string | null;
  lastSeenAt: string | null;
  eventCount: number;
  channels: Record<string, number>;
  types: Record<string, number>;
  lifetimeValue: { currency: string; purchased: number; refunded: number; net: number }[];
  purchases: number;
  refunds: number;
  cancelledOrders: number;
  lastPurchaseAt: string | null;
  scores: {
    nps: { score: number; category: NpsCategory; at: string } | null;
    csat: { score: number; at: string } | null;
    ces: { score: number; at: string } | null;
  };
  openCases: {
    caseId: string;
    openedAt: string;
    ageDays: number;
    category?: string;
    priority?: string;
    /** the latest assignment and work status (in-progress, waiting...), when the source records them */
    assignee?: string;
    team?: string;
    workStatus?: string;
    escalations: number;
    reopens: number;
  }[];
  complaints: { count: number; lastAt: string | null };
  subscriptions: {
    subscriptionId: string;
    plan?: string;
    status: string;
    startedAt?: string;
    statusAt: string;
    monthlyAmount?: number;
    currency?: string;
  }[];
  consents: Record<string, { granted: boolean; at: string }>;
  profile: Record<string, unknown>;
  merges: MergeRecord[];
}

export type CustomerLookup =
  { kind: 'found'; view: Customer360View } | { kind: 'merged'; customerId: string; survivorId: string } | { kind: 'not-found' };

export interface CustomerSummary {
  customerId: string;
  lifecycleStage: LifecycleStage;
  valueSegment: ValueSegment;
  firstSeenAt: string | null;
  lastSeenAt: string | null;
  eventCount: number;
  netValue: number;
  nps: number | null;
  npsCategory: NpsCategory | null;
  openCases: number;
}

export const CUSTOMER_SORTS = [
  'lastSeenAt',
  '-lastSeenAt',
  'firstSeenAt',
  '-firstSeenAt',
  'netValue',
  '-netValue',
  'eventCount',
  '-eventCount',
] as const;
export type CustomerSort = (typeof CUSTOMER_SORTS)[number];
const SORT_COLUMNS = {
  lastSeenAt: 'last_seen_at',
  firstSeenAt: 'first_seen_at',
  netValue: 'net_value',
  eventCount: 'event_count',
} as const;

export interface CustomerSearch {
  /** only this customer (e.g. the one an identifier resolved to) */
  customerId?: string;
  valueSegment?: ValueSegment;
  lifecycleStage?: LifecycleStage;
  npsCategory?: NpsCategory;
  lastSeenFrom?: string;
  lastSeenTo?: string;
  sort?: CustomerSort;
  limit?: number;
  cursor?: string;
}

export interface TimelineEntry {
  position: number;
  eventId: string;
  type: string;
  occurredAt: string;
  channel: string | null;
  source: string;
  agentId: string | null;
  correlationId: string | null;
  /** the customer whose stream recorded it (another id when it came with a merge) */
  streamCustomerId: string;
  data: unknown;
}

const DAY_MS = 86_400_000;

/** Builds the 360 view of a stored state at `nowMs`. */
export function toView(
  state: Customer360State,
  row: Pick<C360CustomersTable, 'value_segment' | 'last_position'>,
  nowMs: number,
): Customer360View {
  const netOf = (m: MoneyState) => fromMoneyUnits(subMoneyUnits(m.purchased, m.refunded));
  const activeSubscriptions = Object.values(state.subscriptions).filter((s) => s.status === 'active').length;
  return {
    customerId: state.customerId,
    asOf: new Date(nowMs).toISOString(),
    position: row.last_position,
    lifecycleStage: lifecycleStage(
      {
        lastSeenAt: state.lastSeenAt,
        firstCommercialAt: state.firstCommercialAt,
        lastWinAt: state.lastWinAt,
        lastCancelAt: state.lastCancelAt,
        activeSubscriptions,
        npsCategory: state.nps ? npsCategory(state.nps.value) : null,
        lastComplaintAt: state.lastComplaintAt,
      },
      nowMs,
    ),
    valueSegment: row.value_segment as ValueSegment,
    identifiers: state.identifiers,
    registeredAt: state.registeredAt,
    firstSeenAt: state.firstSeenAt,
    lastSeenAt: state.lastSeenAt,
    eventCount: state.eventCount,
    channels: state.channels,
    types: state.types,
    lifetimeValue: Object.keys(state.money)
      .sort()
      .map((currency) => {
        const m = state.money[currency];
        return { currency, purchased: fromMoneyUnits(m.purchased), refunded: fromMoneyUnits(m.refunded), net: netOf(m) };
      }),
    purchases: state.purchases,
    refunds: state.refunds,
    cancelledOrders: state.cancelledOrders,
    lastPurchaseAt: state.lastPurchaseAt,
    scores: {
      nps: state.nps ? { score: state.nps.value, category: npsCategory(state.nps.value), at: state.nps.at } : null,
      csat: state.csat ? { score: state.csat.value, at: state.csat.at } : null,
      ces: state.ces ? { score: state.ces.value, at: state.ces.at } : null,
    },
    openCases: Object.entries(state.cases)
      .filter(([, c]) => c.status === 'open')
      .map(([caseId, c]) => ({
        caseId,
        openedAt: c.openedAt,
        ageDays: Math.max(0, Math.floor((nowMs - Date.parse(c.openedAt)) / DAY_MS)),
        category: c.category,
        priority: c.priority,
        assignee: c.assignee,
        team: c.team,
        workStatus: c.workStatus,
        escalations: c.escalations,
        reopens: c.reopens,
      }))
      .sort((a, b) => (a.openedAt < b.openedAt ? -1 : a.openedAt > b.openedAt ? 1 : a.caseId < b.caseId ? -1 : 1)),
    complaints: { count: state.complaints, lastAt: state.lastComplaintAt },
    subscriptions: Object.keys(state.subscriptions)
      .sort()
      .map((subscriptionId) => {
        const s = state.subscriptions[subscriptionId];
        return {
          subscriptionId,
          plan: s.plan,
          status: s.status,
          startedAt: s.startedAt,
          statusAt: s.statusAt,
          monthlyAmount: s.monthlyAmount,
          currency: s.currency,
        };
      }),
    consents: Object.fromEntries(Object.entries(state.consents).map(([k, c]) => [k, { granted: c.value, at: c.at }])),
    profile: Object.fromEntries(Object.entries(state.profile).map(([k, p]) => [k, p.value])),
    merges: state.merges,
  };
}

/** The queries of the customer-360 read model. `now` decides stage and case ages. */
export class Customer360Queries {
  constructor(
    private readonly db: Kysely<Customer360Tables>,
    private readonly now: () => number = Date.now,
    private readonly identifierIndex: IdentifierIndex = PLAIN_IDENTIFIER_INDEX,
    /** the identifiers of documents and timeline rows are opened with the customer's key (privacy on) */
    private readonly storedValues: StoredValues = PLAIN_STORED_VALUES,
  ) {}

  async byId(customerId: string, nowMs = this.now()): Promise<CustomerLookup> {
    const row = await this.db
      .selectFrom('c360_customers')
      .select(['customer_id', 'merged_into', 'value_segment', 'last_position', 'doc'])
      .where('customer_id', '=', customerId)
      .executeTakeFirst();
    if (!row) return { kind: 'not-found' };
    if (row.merged_into) return { kind: 'merged', customerId, survivorId: row.merged_into };
    const state = JSON.parse(row.doc) as Customer360State;
    await openStates([state], this.storedValues);
    return { kind: 'found', view: toView(state, row, nowMs) };
  }

  /**
   * The live customer holding a normalised identifier, looked up by its index key (the blind index
   * hashes the query). With the blind index, a miss is looked up in plain too: a copy projected before
   * privacy was switched on keeps serving until `cem rebuild customer-360` switches in a blind-keyed
   * one (READ_MODEL_VERSION_CHANGE=hold), and lookups must not fail meanwhile.
   */
  async customerIdOf(identifier: Identifier): Promise<string | undefined> {
    const byValue = async (value: string) =>
      (
        await this.db
          .selectFrom('c360_identifiers')
          .select('customer_id')
          .where('kind', '=', identifier.kind)
          .where('value', '=', value)
          .executeTakeFirst()
      )?.customer_id;
    const found = await byValue(identifierIndexValue(this.identifierIndex, identifier));
    return found ?? (this.identifierIndex.mode === 'blind' ? byValue(identifier.value) : undefined);
  }

  async byIdentifier(identifier: Identifier, nowMs = this.now()): Promise<CustomerLookup> {
    const customerId = await this.customerIdOf(identifier);
    return customerId ? this.byId(customerId, nowMs) : { kind: 'not-found' };
  }

  /** The customer's events by occurredAt (ties by log position), a page at a time. */
  async timeline(
    customerId: string,
    options: { limit?: number; cursor?: string; order?: 'asc' | 'desc' } = {},
  ): Promise<Page<TimelineEntry>> {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
    const desc = options.order === 'desc';
    let q = this.db
      .selectFrom('c360_timeline')
      .selectAll()
      .where('customer_id', '=', customerId)
      .orderBy('occurred_at', desc ? 'desc' : 'asc')
      .orderBy('position', desc ? 'desc' : 'asc')
      .limit(limit + 1);
    if (options.cursor) {
      const [at, pos] = decodeCursor(options.cursor, (p) => p.length === 2 && typeof p[0] === 'string' && Number.isInteger(p[1])) as [
        string,
        number,
      ];
      q = q.where((eb) => eb(eb.refTuple('occurred_at', 'position'), desc ? '<' : '>', eb.tuple(at, pos)));
    }
    const rows = await q.execute();
    const page = rows.slice(0, limit);
    const entries = page.map((r) => ({
      position: r.position,
      eventId: r.event_id,
      type: r.type,
      occurredAt: r.occurred_at,
      channel: r.channel,
      source: r.source,
      agentId: r.agent_id,
      correlationId: r.correlation_id,
      streamCustomerId: r.stream_customer_id,
      data: JSON.parse(r.data) as unknown,
    }));
    const items = await openTimeline(entries, this.storedValues);
    const last = page[page.length - 1];
    return rows.length > limit ? { items, nextCursor: encodeCursor([last.occurred_at, last.position]) } : { items };
  }

  /** Live customers matching the filters, sorted, a page at a time (keyset pagination). */
  async search(search: CustomerSearch = {}, nowMs = this.now()): Promise<Page<CustomerSummary>> {
    const limit = Math.min(Math.max(search.limit ?? 50, 1), 500);
    const sort = search.sort ?? '-lastSeenAt';
    const desc = sort.startsWith('-');
    const column = SORT_COLUMNS[(desc ? sort.slice(1) : sort) as keyof typeof SORT_COLUMNS];
    let q = this.db
      .selectFrom('c360_customers')
      .select((eb) => [
        'customer_id',
        'value_segment',
        'first_seen_at',
        'last_seen_at',
        'event_count',
        'net_value',
        'nps',
        'nps_category',
        'open_cases',
        lifecycleStageSql(eb, nowMs).as('stage'),
      ])
      .where('merged_into', 'is', null)
      .where(column, 'is not', null);
    if (search.customerId !== undefined) q = q.where('customer_id', '=', search.customerId);
    if (search.valueSegment) q = q.where('value_segment', '=', search.valueSegment);
    if (search.npsCategory) q = q.where('nps_category', '=', search.npsCategory);
    if (search.lastSeenFrom) q = q.where('last_seen_at', '>=', search.lastSeenFrom);
    if (search.lastSeenTo) q = q.where('last_seen_at', '<', search.lastSeenTo);
    if (search.lifecycleStage) {
      const stage = search.lifecycleStage;
      q = q.where((eb) => eb(lifecycleStageSql(eb, nowMs), '=', stage));
    }
    if (search.cursor) {
      const [value, id] = decodeCursor(search.cursor, (p) => p.length === 3 && p[0] === sort && typeof p[2] === 'string').slice(1) as [
        string | number,
        string,
      ];
      q = q.where((eb) => eb(eb.refTuple(column, 'customer_id'), desc ? '<' : '>', eb.tuple(value, id)));
    }
    const rows = await q
      .orderBy(column, desc ? 'desc' : 'asc')
      .orderBy('customer_id', desc ? 'desc' : 'asc')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    const items = page.map((r) => ({
      customerId: r.customer_id,
      lifecycleStage: r.stage as LifecycleStage,
      valueSegment: r.value_segment as ValueSegment,
      firstSeenAt: r.first_seen_at,
      lastSeenAt: r.last_seen_at,
      eventCount: r.event_count,
      netValue: r.net_value,
      nps: r.nps,
      npsCategory: r.nps_category as NpsCategory | null,
      openCases: r.open_cases,
    }));
    const last = page[page.length - 1] as (typeof rows)[number] | undefined;
    return rows.length > limit && last ? { items, nextCursor: encodeCursor([sort, last[column], last.customer_id]) } : { items };
  }
}

/**
 * The `value` column of `c360_identifiers` for an identifier: the identifier's value (plain) or the
 * blind key without its `kind:` prefix (the kind has its own column).
 */
export const identifierIndexValue = (index: IdentifierIndex, id: Identifier): string => index.keyOf(id).slice(id.kind.length + 1);
