import type { ProjectedRecord } from '../projector/projected-record';

/*
 * A customer's membership history in each analyst-defined segment, as the segment.entered /
 * segment.left events in the log say: spans [entered, left) between their evaluation instants
 * (`asOf`). What the experience metrics slice an event by: the segments whose span holds the
 * event's occurredAt (docs/experience-metrics.md, "Analyst segments"). Pure: no storage, no clock.
 */

/** Milliseconds since the epoch: [entered, left), left null while still in. Sorted, not overlapping. */
export type Span = [number, number | null];

export interface SegmentSpans {
  /** the ordinal of the latest change folded (a change at or below it is an older one: ignored, as the segments read model does) */
  ordinal: number;
  spans: Span[];
}

/** Per segment id. Empty object: never in any segment. */
export type MembershipSpans = Record<string, SegmentSpans>;

export type SegmentChangeRecord = ProjectedRecord<'segment.entered' | 'segment.left'>;

export const isSegmentChange = (record: ProjectedRecord): record is SegmentChangeRecord =>
  record.type === 'segment.entered' || record.type === 'segment.left';

/** Folds one entry or exit; false when it changes nothing (an older or repeated change). */
export function foldSegmentChange(spans: MembershipSpans, record: SegmentChangeRecord): boolean {
  const d = record.data;
  const current = spans[d.segmentId];
  if (current && d.ordinal <= current.ordinal) return false;
  const at = Date.parse(d.asOf);
  const list = current?.spans ?? [];
  const open = list.length > 0 && list[list.length - 1][1] === null ? list[list.length - 1] : undefined;
  if (record.type === 'segment.entered') {
    if (!open) list.push([at, null]);
  } else if (open) {
    if (at > open[0]) open[1] = at;
    else list.pop(); // left at (or before) the instant it entered: it was never in
  }
  spans[d.segmentId] = { ordinal: d.ordinal, spans: list };
  return true;
}

/** Sorted, overlapping and touching spans joined. */
function normalised(list: Span[]): Span[] {
  const sorted = [...list].sort((a, b) => a[0] - b[0]);
  const out: Span[] = [];
  for (const [start, end] of sorted) {
    const last = out[out.length - 1];
    if (last && (last[1] === null || start <= last[1])) {
      if (last[1] !== null && (end === null || end > last[1])) last[1] = end;
    } else out.push([start, end]);
  }
  return out;
}

/**
 * A merge: the survivor was in a segment at an instant when either customer was (the segments
 * read model's rule: membership follows the survivor, the next evaluation re-checks it). The
 * merged-away customer keeps nothing.
 */
export function absorbSegmentSpans(survivor: MembershipSpans, merged: MembershipSpans): void {
  for (const [segmentId, from] of Object.entries(merged)) {
    const into = survivor[segmentId];
    survivor[segmentId] = into
      ? { ordinal: Math.max(into.ordinal, from.ordinal), spans: normalised([...into.spans, ...from.spans]) }
      : { ordinal: from.ordinal, spans: from.spans.map(([a, b]) => [a, b] as Span) };
  }
  for (const segmentId of Object.keys(merged)) delete merged[segmentId];
}

const EMPTY: readonly string[] = Object.freeze([]);

/** The segments the customer was in at `atMs` (ids sorted); the same empty array when none. */
export function segmentsAt(spans: MembershipSpans, atMs: number): readonly string[] {
  let out: string[] | undefined;
  for (const segmentId in spans) {
    for (const [start, end] of spans[segmentId].spans)
      if (start <= atMs && (end === null || atMs < end)) {
        (out ??= []).push(segmentId);
        break;
      }
  }
  return out ? out.sort() : EMPTY;
}

export const hasSpans = (spans: MembershipSpans): boolean => {
  for (const _ in spans) return true;
  return false;
};
