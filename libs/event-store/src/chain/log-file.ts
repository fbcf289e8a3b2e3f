import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { chainLink, GENESIS_HASH, type ChainedFields, type ChainHead } from './log-chain';

/**
 * The NDJSON log file of `cem export-log` / `cem import-log`. Line 1 is a header; then one event per
 * line in log order with its link number and link hash; the last line names the head the file ends
 * at (written last, so a store that does not keep the chain can be exported in one pass, and a cut
 * file has no end line):
 *
 *   {"format":"cem-log","version":1,"exportedAt":"...","store":"sqlite"}
 *   {"seq":1,"position":1,"eventId":"...","streamId":"...","revision":0,"type":"...","data":{...},"metadata":{...},"recordedAt":"...","hash":"..."}
 *   {"end":{"seq":1,"position":1,"hash":"..."}}
 *
 * `position` is the event's position in the exporting store, for people; the chain does not cover it.
 */
export const LOG_FILE_FORMAT = 'cem-log';
export const LOG_FILE_VERSION = 1;

export interface LogFileHeader {
  format: typeof LOG_FILE_FORMAT;
  version: number;
  exportedAt: string;
  store: string;
}

export interface LogFileEvent {
  seq: number;
  position: number;
  eventId: string;
  streamId: string;
  revision: number;
  type: string;
  data: unknown;
  metadata: Record<string, unknown>;
  recordedAt: string;
  hash: string;
}

/** The last line: the head the file ends at. */
export function logFileEndLine(head: ChainHead): string {
  return JSON.stringify({ end: head });
}

/** One event line, written from the stored JSON text as is (no parse and re-serialise on export). */
export function logFileLine(e: ChainedFields & { seq: number; position: number }, hash: string): string {
  return (
    `{"seq":${e.seq},"position":${e.position},"eventId":${JSON.stringify(e.eventId)},"streamId":${JSON.stringify(e.streamId)},` +
    `"revision":${e.revision},"type":${JSON.stringify(e.type)},"data":${e.dataJson},"metadata":${e.metadataJson},` +
    `"recordedAt":${JSON.stringify(e.recordedAt)},"hash":"${hash}"}`
  );
}

/** Why a log file cannot be imported; `line` is 1-based (the header is line 1). */
export class LogFileError extends Error {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = 'LogFileError';
  }
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const HEX_HASH = /^[0-9a-f]{64}$/;

function parseHeader(text: string | undefined): LogFileHeader {
  if (text === undefined) throw new LogFileError(1, 'the file is empty (expected a cem-log header line)');
  let h: Partial<LogFileHeader>;
  try {
    h = JSON.parse(text);
  } catch {
    throw new LogFileError(1, 'the header is not JSON');
  }
  if (h?.format !== LOG_FILE_FORMAT)
    throw new LogFileError(1, `not a ${LOG_FILE_FORMAT} file (header "format" is ${JSON.stringify(h?.format)})`);
  if (h.version !== LOG_FILE_VERSION)
    throw new LogFileError(1, `version ${String(h.version)} is not supported (this build reads ${LOG_FILE_VERSION})`);
  return h as LogFileHeader;
}

function parseEvent(text: string, line: number): LogFileEvent {
  let e: LogFileEvent;
  try {
    e = JSON.parse(text);
  } catch {
    throw new LogFileError(line, 'not JSON');
  }
  if (e === null || typeof e !== 'object') throw new LogFileError(line, 'not a JSON object');
  const fail = (field: string, why: string) => {
    throw new LogFileError(line, `"${field}" ${why}`);
  };
  if (!Number.isInteger(e.seq)) fail('seq', 'must be a whole number');
  if (typeof e.eventId !== 'string' || e.eventId === '') fail('eventId', 'must be a non-empty string');
  if (typeof e.streamId !== 'string' || e.streamId === '') fail('streamId', 'must be a non-empty string');
  if (!Number.isInteger(e.revision) || e.revision < 0) fail('revision', 'must be a whole number >= 0');
  if (typeof e.type !== 'string' || e.type === '') fail('type', 'must be a non-empty string');
  if (!('data' in e)) fail('data', 'is missing');
  if (e.metadata === null || typeof e.metadata !== 'object' || Array.isArray(e.metadata)) fail('metadata', 'must be an object');
  if (typeof e.recordedAt !== 'string' || !ISO_INSTANT.test(e.recordedAt)) fail('recordedAt', 'must be an ISO-8601 instant');
  if (typeof e.hash !== 'string' || !HEX_HASH.test(e.hash)) fail('hash', 'must be 64 hex digits');
  return e;
}

/** The chain fields of a file event, serialised the way the stores serialise them. */
export function chainedFieldsOf(e: LogFileEvent): ChainedFields {
  return {
    eventId: e.eventId,
    streamId: e.streamId,
    revision: e.revision,
    type: e.type,
    dataJson: JSON.stringify(e.data ?? null),
    metadataJson: JSON.stringify(e.metadata ?? {}),
    recordedAt: e.recordedAt,
  };
}

/**
 * Reads a log file, checking as it goes that every line is well formed, numbered in order and
 * chains from the line before, and at the end that the end line names the last link (a cut file
 * has no end line). Throws LogFileError at the first problem. Events come out in batches, so a
 * caller that must write nothing from a bad file reads it through once before writing.
 */
export async function* readLogFile(path: string, batchSize = 5000): AsyncGenerator<LogFileEvent[], LogFileHeader & { head: ChainHead }> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let header: LogFileHeader | undefined;
  let end: ChainHead | undefined;
  let lineNo = 0;
  let previous: Buffer = GENESIS_HASH;
  let seq = 0;
  let batch: LogFileEvent[] = [];
  for await (const text of lines) {
    lineNo++;
    if (lineNo === 1) {
      header = parseHeader(text);
      continue;
    }
    if (text.trim() === '') continue;
    if (end) throw new LogFileError(lineNo, 'text after the end line');
    if (text.startsWith('{"end":')) {
      end = parseEnd(text, lineNo);
      if (end.seq !== seq || end.hash !== previous.toString('hex'))
        throw new LogFileError(
          lineNo,
          `the end line names head #${end.seq} ${end.hash.slice(0, 12)}..., but the events end at #${seq} ${previous.toString('hex').slice(0, 12)}...`,
        );
      continue;
    }
    const e = parseEvent(text, lineNo);
    if (e.seq !== seq + 1) throw new LogFileError(lineNo, `"seq" is ${e.seq}, expected ${seq + 1}: an event is missing or repeated`);
    const link = chainLink(previous, e.seq, chainedFieldsOf(e));
    if (link.toString('hex') !== e.hash)
      throw new LogFileError(
        lineNo,
        `event #${e.seq} (${e.eventId}) does not chain: its hash does not match its content and the line before`,
      );
    previous = link;
    seq = e.seq;
    batch.push(e);
    if (batch.length >= batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (!header) throw new LogFileError(1, 'the file is empty (expected a cem-log header line)');
  if (!end) throw new LogFileError(lineNo, `no end line after event #${seq}: the file is cut`);
  if (batch.length > 0) yield batch;
  return { ...header, head: end };
}

function parseEnd(text: string, line: number): ChainHead {
  let end: ChainHead | undefined;
  try {
    end = (JSON.parse(text) as { end?: ChainHead }).end;
  } catch {
    throw new LogFileError(line, 'not JSON');
  }
  if (!end || !Number.isInteger(end.seq) || end.seq < 0 || typeof end.hash !== 'string' || !HEX_HASH.test(end.hash))
    throw new LogFileError(line, 'the end line has no valid head ({seq, position, hash})');
  return end;
}
