import { chainLink, GENESIS_HASH, verifyLog, SqliteEventStore, type EventData } from '@cem/event-store';
import { contentHash } from '@cem/event-store/content-hash';
import { decodeEventId } from '@cem/event-store/sqlite/event-id';
import { customerIdOfStream } from '@cem/domain';
import { EncryptingEventStore, isSealed, mapPath, personalPathsOf, REMOVED } from '@cem/privacy';
import { performOpsAction, type OpsActor } from './ops-actions';
import type { Platform } from './platform';

/** The key-store setting that marks a run in progress (see encryptExisting). */
const RUN_SETTING = 'encrypt-existing-run';
const PLAINTEXT_BEFORE = 'plaintext-before-position';

export interface EncryptExistingProgress {
  phase: 'encrypt' | 'rechain';
  /** the log position reached in this phase */
  position: number;
  /** where the phase ends */
  until: number;
  /** events re-written so far */
  rewritten: number;
}

export interface EncryptExistingReport {
  /** events looked at (up to the position where encryption was switched on) */
  scanned: number;
  /** events whose plaintext personal values were sealed with their customer's key */
  encrypted: number;
  /** events of customers erased before: their plaintext personal values were removed */
  scrubbed: number;
  /** first position whose chain link was recomputed (0: none) */
  rechainedFrom: number;
  /** chain head before (as verified at the start) and after */
  headBefore: { seq: number; hash: string };
  headAfter: { seq: number; hash: string };
  /** true when this run completed one that was interrupted */
  resumed: boolean;
}

/** Refused before anything was changed; `field` names what to fix. */
export class EncryptExistingRefusedError extends Error {
  constructor(
    readonly field: 'EVENT_STORE' | 'configuration' | 'log',
    readonly code: 'not-available' | 'chain-broken',
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'EncryptExistingRefusedError';
  }
}

interface RunMarker {
  /** the first position the run may re-write: links from here on are recomputed */
  firstPosition: number;
  /** the last position holding plaintext (encryption was switched on after it) */
  lastPosition: number;
  headBefore: { seq: number; hash: string };
}

interface Row {
  position: number;
  event_id: Buffer | string;
  stream_id: string;
  type: string;
  data: string;
  metadata: string;
}

/**
 * `cem encrypt-existing`: the one sanctioned rewrite of the embedded event log. Events written before
 * encryption was switched on hold their personal values (the catalogue's paths, the identifiers) in
 * plaintext; this seals them with their customer's data key exactly as a new append would (same
 * sealed form, key id and content digest), and removes them from events of customers erased since.
 * Event ids, streams, revisions, positions, types and recorded-at times stay; only `data`, `metadata`
 * and the idempotency hash of those rows change.
 *
 * The hash chain covers the stored bytes, so it is re-chained: the run first verifies the whole chain
 * (a broken chain is refused: re-chaining would hide the break), records the head it verified, then
 * re-writes the events page by page (one transaction each) and finally recomputes every link from
 * the first re-written event to the head in one transaction (appends wait for it; they read the tip in
 * their own transaction, so they chain on the new links). The ops event of the run records the head
 * before and after: a head anchored or checkpoint signed before the run no longer matches (its events
 * were re-written), and the ops event is the record that connects the two. `cem log verify-log`
 * passes afterwards.
 *
 * Resumable: a marker in the key store (written before the first re-write, removed after the
 * re-chaining) says a run is in progress; killed at any point, the next run skips the verification
 * (its own partial re-write breaks the chain), re-writes what is still plaintext and re-chains from
 * the recorded position. Between the first re-write and the end, verify-log reports the log altered.
 */
export async function encryptExisting(
  platform: Platform,
  options: { batchSize?: number; onProgress?: (p: EncryptExistingProgress) => void } = {},
): Promise<EncryptExistingReport> {
  const log = platform.logStore;
  if (!(log instanceof SqliteEventStore))
    throw new EncryptExistingRefusedError(
      'EVENT_STORE',
      'not-available',
      'encrypt-existing re-writes the embedded event log only; EventStoreDB streams are append-only: follow docs/privacy.md (copy to new streams, truncate the old ones)',
    );
  const keys = platform.keys;
  const sealer = platform.store;
  if (!keys || !(sealer instanceof EncryptingEventStore))
    throw new EncryptExistingRefusedError(
      'configuration',
      'not-available',
      'encryption is not switched on: set PRIVACY_MASTER_KEY and PRIVACY_INDEX_SECRET (docs/privacy.md)',
    );
  const batchSize = options.batchSize ?? 500;
  const db = log.db;
  // the plaintext a re-written row held must not linger in freed space or the write-ahead log
  db.pragma('secure_delete = ON');

  let marker = parseMarker(keys.setting(RUN_SETTING));
  const resumed = marker !== undefined;
  if (!marker) {
    const verified = await verifyLog(log);
    if (!verified.ok)
      throw new EncryptExistingRefusedError(
        'log',
        'chain-broken',
        `the hash chain does not verify (${verified.problem.kind} at or before position ${'position' in verified.problem ? verified.problem.position : '?'}): investigate with cem log verify-log before re-writing anything`,
      );
    const recorded = keys.setting(PLAINTEXT_BEFORE);
    const lastPosition = recorded === undefined ? await log.headPosition() : Number(recorded);
    const first = db
      .prepare<[number], { position: number }>('SELECT min(position) AS position FROM event_log WHERE position <= ?')
      .get(lastPosition);
    marker = { firstPosition: first?.position ?? 0, lastPosition, headBefore: { seq: verified.head.seq, hash: verified.head.hash } };
    keys.setSetting(RUN_SETTING, JSON.stringify(marker));
  }

  // 1. re-write, page by page
  const page = db.prepare<[number, number, number], Row>(
    `SELECT e.position, e.event_id, s.stream_id, e.type, e.data, e.metadata
       FROM event_log e JOIN streams s ON s.stream_no = e.stream_no
      WHERE e.position > ? AND e.position <= ? ORDER BY e.position LIMIT ?`,
  );
  const update = db.prepare(
    'UPDATE event_log SET data = ?, metadata = ?, content_hash = ? WHERE position = ? AND data = ? AND metadata = ?',
  );
  let after = marker.firstPosition - 1;
  let scanned = 0;
  let encrypted = 0;
  let scrubbed = 0;
  for (;;) {
    const rows = page.all(after, marker.lastPosition, batchSize);
    if (rows.length === 0) break;
    scanned += rows.length;
    const plain = rows.filter(holdsPlaintext);
    const owners = new Map<Row, string>();
    for (const r of plain) {
      const customerId = customerOf(r);
      if (customerId !== undefined) owners.set(r, customerId);
    }
    const erased = new Set<string>();
    for (const id of new Set(owners.values())) if (await keys.isErased(id)) erased.add(id);
    const toSeal = [...owners].filter(([, id]) => !erased.has(id)).map(([r]) => r);
    const sealed = await sealer.seal(toSeal.map((r) => ({ streamId: r.stream_id, events: [eventOf(r)] })));
    const writes: { row: Row; event: EventData }[] = toSeal.map((row, i) => ({ row, event: sealed[i].events[0] }));
    for (const [row, id] of owners) if (erased.has(id)) writes.push({ row, event: scrub(eventOf(row)) });
    db.transaction(() => {
      for (const { row, event } of writes) {
        const changed = update.run(
          JSON.stringify(event.data),
          JSON.stringify(event.metadata),
          contentHash(event),
          row.position,
          row.data,
          row.metadata,
        );
        if (changed.changes !== 1)
          throw new Error(`event at position ${row.position} changed while it was being re-written; run encrypt-existing again`);
      }
    }).immediate();
    encrypted += toSeal.length;
    scrubbed += writes.length - toSeal.length;
    after = rows[rows.length - 1].position;
    options.onProgress?.({ phase: 'encrypt', position: after, until: marker.lastPosition, rewritten: encrypted + scrubbed });
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  // 2. re-chain from the first position the run may have re-written to the head, in one transaction
  const rechain = db.transaction(() => {
    const before = db
      .prepare<[number], { seq: number; hash: Buffer }>(
        'SELECT chain_seq AS seq, chain_hash AS hash FROM event_log WHERE position < ? AND chain_seq IS NOT NULL ORDER BY position DESC LIMIT 1',
      )
      .get(marker!.firstPosition);
    let previous = before?.hash ?? GENESIS_HASH;
    let seq = before?.seq ?? 0;
    const setLink = db.prepare('UPDATE event_log SET chain_seq = ?, chain_hash = ? WHERE position = ?');
    let cursor = marker!.firstPosition - 1;
    for (;;) {
      const rows = log.readChainRows(cursor, 5000);
      if (rows.length === 0) break;
      for (const r of rows) {
        seq++;
        previous = chainLink(previous, seq, r);
        setLink.run(seq, previous, r.position);
      }
      cursor = rows[rows.length - 1].position;
      options.onProgress?.({ phase: 'rechain', position: cursor, until: cursor, rewritten: encrypted + scrubbed });
    }
  });
  if (marker.firstPosition > 0) rechain.immediate();
  // secure_delete zeroes freed cells, yet copies of re-written rows survived in the file's pages in
  // tests: VACUUM writes the file afresh (a one-off cost proportional to the log's size)
  db.exec('VACUUM');
  db.pragma('wal_checkpoint(TRUNCATE)');
  const head = log.chainHead();
  keys.setSetting(PLAINTEXT_BEFORE, '0');
  keys.deleteSetting(RUN_SETTING);
  return {
    scanned,
    encrypted,
    scrubbed,
    rechainedFrom: marker.firstPosition,
    headBefore: marker.headBefore,
    headAfter: { seq: head.seq, hash: head.hash },
    resumed,
  };
}

/** encryptExisting recorded as an ops action (`action: encrypt-existing`, the figures, both heads). */
export async function encryptExistingAction(
  platform: Platform,
  request: { actor: OpsActor; batchSize?: number; onProgress?: (p: EncryptExistingProgress) => void },
): Promise<EncryptExistingReport> {
  const out = await performOpsAction(
    platform.store,
    { action: 'encrypt-existing', actor: request.actor, parameters: {} },
    async () => {
      const report = await encryptExisting(platform, request);
      return {
        result: 'ok' as const,
        outcome: `${report.encrypted} events encrypted, ${report.scrubbed} of erased customers scrubbed; chain head ${report.headBefore.seq}:${report.headBefore.hash} re-chained to ${report.headAfter.seq}:${report.headAfter.hash}`,
        figures: { scanned: report.scanned, encrypted: report.encrypted, scrubbed: report.scrubbed, rechainedFrom: report.rechainedFrom },
        report,
      };
    },
    (e) => (e instanceof EncryptExistingRefusedError ? 'refused' : 'failed'),
  );
  return out.report;
}

function parseMarker(text: string | undefined): RunMarker | undefined {
  return text === undefined ? undefined : (JSON.parse(text) as RunMarker);
}

function eventOf(r: Row): EventData {
  return { eventId: decodeEventId(r.event_id), type: r.type, data: JSON.parse(r.data), metadata: JSON.parse(r.metadata) };
}

function customerOf(r: Row): string | undefined {
  const id = (JSON.parse(r.metadata) as { customerId?: unknown }).customerId;
  return typeof id === 'string' && id !== '' ? id : customerIdOfStream(r.stream_id);
}

/** true when a personal value of the event is stored as it was given (not sealed) */
function holdsPlaintext(r: Row): boolean {
  const paths = personalPathsOf(r.type);
  let found = false;
  const look = (v: unknown) => {
    if (!isSealed(v)) found = true;
    return v;
  };
  for (const p of paths.data) mapPath(JSON.parse(r.data), p, look, 'data');
  for (const p of paths.metadata) mapPath(JSON.parse(r.metadata), p, look, 'metadata');
  return found;
}

/** the event of an erased customer without its personal values, marked as readers see erased events */
function scrub(e: EventData): EventData {
  const paths = personalPathsOf(e.type);
  const gone = () => REMOVED;
  const data = paths.data.reduce<unknown>((node, p) => mapPath(node, p, gone, 'data'), e.data);
  const metadata = paths.metadata.reduce<unknown>((node, p) => mapPath(node, p, gone, 'metadata'), e.metadata) as Record<string, unknown>;
  return { ...e, data, metadata: { ...metadata, personalDataErased: true } };
}
