import type { Type } from '@nestjs/common';
import type { IEventHandler } from '@nestjs/cqrs';
import type { Kysely, Migration } from 'kysely';
import type { IdentifierIndex } from '@cem/domain';
import type { StoredValues } from '@cem/privacy';
import type { RecordedEvent, StreamWrite } from '@cem/event-store';
import type { ProjectedEvent } from '../projector/projected-event';
import type { Projection } from '../projector/projection';

/** What a read model's queries get besides their tables. */
export interface QueryContext {
  /** the clock time-dependent answers (ages, stages) are evaluated at */
  now: () => number;
  /** CHURN_BAND_THRESHOLDS: the churn bands of the prior model (a fitted model carries its own) */
  churnBandThresholds?: readonly [number, number, number];
  /** how identifiers are keyed in an identifier index (see identifierIndexOfStore); absent: plain */
  identifierIndex?: IdentifierIndex;
  /** how identifiers are stored (see storedValuesOfStore); absent: plain */
  storedValues?: StoredValues;
}

/**
 * A view for analysts (SQL access, docs/sql.md): created by one of the read model's migrations,
 * described here so that PostgreSQL gets its comments and the read-only role its SELECT grant.
 * A stable contract: a column is never renamed or removed, only added (in a new migration).
 */
export interface SqlView {
  name: string;
  comment: string;
  /** every column of the view with its comment */
  columns: Readonly<Record<string, string>>;
}

/**
 * A read model as one slice: everything the platform needs to know about it, exported by its own
 * folder. The `READ_MODELS` list (read-models.ts) is the only place that names it: the store's
 * schema type, its migrations, the projector's lanes and the read side's queries are assembled
 * from that list.
 */
export interface ReadModel<Name extends string = string, Tables = any, Queries = unknown> {
  /** stable name: the key of its checkpoint, its lane, its entry in `ReadSide.queries` */
  readonly name: Name;
  /**
   * Bump it when the projection's output changes for the same events (a new rule, a new column
   * filled from old events): at the next start the lane empties the tables and rebuilds from
   * position 0, while the other read models keep serving.
   */
  readonly version: number;
  /** the tables it owns, in the order a rebuild empties them */
  readonly tables: readonly (keyof Tables & string)[];
  /**
   * Kysely migrations of its tables. Names are unique across the store (prefix them with the read
   * model's name); once released a migration is never edited, a new one is added.
   */
  readonly migrations: Readonly<Record<string, Migration>>;
  /** the @EventsHandler(ProjectedEvent) that projects it (a Nest provider: it may inject) */
  readonly projection: Type<Projection<any, Tables> & IEventHandler<ProjectedEvent>>;
  /** its query object over a read connection */
  queries(db: Kysely<Tables>, context: QueryContext): Queries;
  /** the analysts' views over its tables (created by its migrations), see SqlView */
  readonly sqlViews?: readonly SqlView[];
  /**
   * Sample queries the read-store contract suite runs on every store over the same projected `log`
   * (every query method, with its filters, sorts and pages): the answers (JSON) must be equal on
   * SQLite and PostgreSQL. See docs/read-models.md, "Portability".
   */
  /**
   * Events the read model reads that ingesting customer histories does not produce (e.g. targets
   * written through the API): the contract suite appends them to its log before projecting.
   */
  contractEvents?(): StreamWrite[];
  contractQueries?(queries: Queries, log: readonly RecordedEvent[]): Promise<unknown>;
}

/**
 * Declares a read model; `Tables` is its slice of the store's schema, e.g.
 * `export const customer360 = defineReadModel<Customer360Tables>()({ name: 'customer-360', ... })`.
 */
export const defineReadModel =
  <Tables>() =>
  <const Name extends string, Queries>(model: ReadModel<Name, Tables, Queries>): ReadModel<Name, Tables, Queries> =>
    model;

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** The tables of every read model of a list, as one Kysely schema type. */
export type TablesOf<L extends readonly ReadModel[]> = UnionToIntersection<TablesOfModel<L[number]>>;
type TablesOfModel<M> = M extends ReadModel<string, infer T, unknown> ? T : never;

/** The query objects of a list of read models, by name. */
export type QueriesOf<L extends readonly ReadModel[]> = { [M in L[number] as M['name']]: ReturnType<M['queries']> };
