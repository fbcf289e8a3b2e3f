import type { ShiftUnit } from '../convert/dates';

/**
 * The declarative mapping of an export onto touch-point events (JSON). See docs/backfill.md for the
 * reference and seeds/mappings/ for worked examples.
 */
export interface MappingSpec {
  /** free name of the mapping, shown in summaries */
  name: string;
  /** the envelope `source` of every event, and the namespace of the deterministic event ids */
  source: string;
  input: InputSpec;
  /** rows for which any condition fails are skipped (counted as filtered) */
  filter?: Condition[];
  /**
   * What identifies a row, for deterministic event ids: column names, `$line` (the line number) or
   * `$row` (the whole row's text). Default `["$row"]`: identical rows are the same fact.
   */
  key?: string[];
  /** other files joined by key: name -> lookup file (see LookupSpec) */
  lookups?: Record<string, LookupSpec>;
  events: EventRule[];
}

/**
 * A file whose rows are joined to the main file's by a key column. Indexed once per import in an
 * on-disk SQLite file in the import's folder, so memory does not grow with its size.
 */
export interface LookupSpec {
  /** path of the file, relative to the main file's folder (or absolute) */
  file: string;
  /** the key column of the lookup file */
  key: string;
  /** how the lookup file is read (default: csv with a header, comma-separated, utf-8) */
  input?: InputSpec;
  /**
   * several rows with one key: `error` (default: a row that needs that key is rejected), `first` or
   * `last` (file order), or `sum`: the looked-up column's values of every row of the key added up
   * exactly as decimals (read with `"type": "number"` or `"integer"`; a value that is not a number
   * rejects the row)
   */
  duplicates?: 'error' | 'first' | 'last' | 'sum';
}

export interface InputSpec {
  format: 'csv' | 'ndjson';
  /** csv: one character, or `whitespace` for columns aligned with runs of blanks */
  separator?: string;
  /** csv: quote character (default `"`); `""` doubles it inside a quoted field */
  quote?: string;
  /** csv: the first line names the columns (default true) */
  header?: boolean;
  /** csv: column names, required without a header; with a header they must match it */
  columns?: string[];
  /** text encoding of the file (default utf-8) */
  encoding?: 'utf-8' | 'latin1' | 'windows-1252' | 'utf-16le';
  /** csv: trim blanks around every cell (default true) */
  trim?: boolean;
}

/** A value: a JSON literal (a constant) or one of the objects below. */
export type ValueSpec = string | number | boolean | null | ValueObject;

export interface ValueObject {
  /** a constant */
  const?: unknown;
  /** the cell of this column (csv) or the value at this dotted path (ndjson); `path` is a synonym */
  column?: string;
  path?: string;
  /** a string with `{column}` placeholders; `{$line}` is the line number */
  template?: string;
  /** the cells of these columns joined with `separator` (default ""); empty cells are left out */
  concat?: string[];
  separator?: string;
  /** a column of another file's row, joined by key: `{"from": "payments", "key": "order_id", "column": "payment_type"}` */
  lookup?: { from: string; key: string; column: string };
  /** a list of identifiers (e.g. `identifiers.linked`'s `identifiers`), from several columns or a split column */
  identifiers?: IdentifierSpec[];
  /** string transforms applied in order to the text, before `nullValues`, `map` and `type` */
  transform?: TransformStep[];
  /** value table applied to the raw text before conversion: raw -> value */
  map?: Record<string, unknown>;
  /** conversion of the text (default string) */
  type?: 'string' | 'number' | 'integer' | 'boolean' | 'date';
  /** number: the decimal mark (default `.`) and the thousands separator to drop (default none) */
  decimal?: string;
  thousands?: string;
  /** date: `iso`, `epoch-ms`, `epoch-s` or a pattern such as `YYYYMMDD`; wall times read in `timeZone` */
  format?: string;
  timeZone?: string;
  /** date: calendar arithmetic, e.g. `{"months": {"column": "tenure", "type": "integer"}}` */
  add?: Partial<Record<ShiftUnit, ValueSpec>>;
  subtract?: Partial<Record<ShiftUnit, ValueSpec>>;
  /** cells that mean "no value" (default: the empty cell) */
  nullValues?: string[];
  /** used when there is no value; without it a missing value rejects the row unless `optional` */
  default?: unknown;
  optional?: boolean;
}

/**
 * One string transform. After a `split` the value is a list and later steps apply to each element.
 * `externalId` percent-encodes (UTF-8) every character an external id does not allow (blanks,
 * controls, non-ASCII) and `%` itself, so any printable id is accepted and re-runs give the same ids.
 */
export type TransformStep =
  | 'trim'
  | 'lower'
  | 'upper'
  | 'externalId'
  | { replace: string; with?: string }
  | { extract: string; group?: number | string; required?: boolean }
  | { split: string }
  | { prefix: string }
  | { suffix: string };

export interface Condition {
  column: string;
  equals?: string;
  notEquals?: string;
  in?: string[];
  notIn?: string[];
  /** a regular expression the cell must match */
  matches?: string;
  /** true: the cell must be empty; false: it must not be */
  empty?: boolean;
}

export interface IdentifierSpec {
  kind: ValueSpec;
  value: ValueSpec;
  /** an empty cell skips this identifier instead of rejecting the row */
  optional?: boolean;
}

export interface EventRule {
  /** distinguishes the events one row yields; part of their ids (default: the rule's index) */
  name?: string;
  /** this event is produced only when every condition holds */
  when?: Condition[];
  /**
   * The event is produced only for the first row (in file order) of each value of these columns,
   * e.g. `["case_id"]` for one `case.opened` per case; its id derives from those values.
   */
  firstOf?: string[];
  type: ValueSpec;
  schemaVersion?: number;
  occurredAt: ValueSpec;
  channel: ValueSpec;
  customer: IdentifierSpec[];
  agentId?: ValueSpec;
  correlationId?: ValueSpec;
  causationId?: ValueSpec;
  /** payload fields: a value, or a nested object of fields */
  data: Record<string, unknown>;
}
