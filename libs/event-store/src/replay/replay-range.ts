import type { EventStore, RecordedEvent } from '../port';

/**
 * A range of the global log to replay: by position (both ends inclusive) or by recorded time
 * (from inclusive, to exclusive). Without an end, up to the head when the replay starts.
 */
export type ReplayRange = { by: 'position'; from: number; to?: number } | { by: 'time'; from: string; to?: string };

/** The range cannot be replayed; `option` names the command-line option at fault. */
export class ReplayRangeError extends Error {
  override name = 'ReplayRangeError';
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`${option}: ${reason}`);
  }
}

/** Checks the range against the log as it is now; returns the head position the replay stops at. */
export async function checkReplayRange(store: EventStore, range: ReplayRange, now: Date): Promise<number> {
  const head = await store.headPosition();
  if (range.by === 'position') {
    if (range.to !== undefined && range.from > range.to)
      throw new ReplayRangeError('--from-position', `${range.from} is after --to-position ${range.to} (inverted range)`);
    if (range.from > head) throw new ReplayRangeError('--from-position', `${range.from} is beyond the head of the log (position ${head})`);
    if (range.to !== undefined && range.to > head)
      throw new ReplayRangeError('--to-position', `${range.to} is beyond the head of the log (position ${head})`);
  } else {
    const from = Date.parse(range.from);
    if (range.to !== undefined && from >= Date.parse(range.to))
      throw new ReplayRangeError('--from-time', `${range.from} is not before --to-time ${range.to} (inverted or empty range)`);
    if (from > now.getTime()) throw new ReplayRangeError('--from-time', `${range.from} is in the future: beyond the head of the log`);
    if (range.to !== undefined && Date.parse(range.to) > now.getTime())
      throw new ReplayRangeError('--to-time', `${range.to} is in the future: beyond the head of the log`);
  }
  return head;
}

/**
 * The events of the range in log order, page by page. A time range is filtered on recorded-at over
 * the whole log up to the head: recorded-at follows the log order only as far as the writers' clocks
 * agree, so the walk does not stop at the first event past the end.
 */
export async function* replayRange(store: EventStore, range: ReplayRange, head: number, pageSize = 5000): AsyncGenerator<RecordedEvent[]> {
  let after = range.by === 'position' ? range.from - 1 : 0;
  const last = range.by === 'position' && range.to !== undefined ? range.to : head;
  const from = range.by === 'time' ? Date.parse(range.from) : 0;
  const to = range.by === 'time' && range.to !== undefined ? Date.parse(range.to) : Infinity;
  for (;;) {
    const page = await store.readAll({ after, maxCount: pageSize });
    if (page.length === 0) return;
    const inRange = page.filter((e) => {
      if (e.position > last) return false;
      if (range.by === 'position') return true;
      const t = Date.parse(e.recordedAt);
      return t >= from && t < to;
    });
    if (inRange.length > 0) yield inRange;
    after = page[page.length - 1].position;
    if (after >= last) return;
  }
}
