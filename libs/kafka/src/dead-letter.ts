import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { FieldError } from '@cem/domain';

/**
 * Why a message was dead-lettered:
 * - `malformed`: no value, or not JSON;
 * - `oversized`: larger than KAFKA_MAX_MESSAGE_BYTES;
 * - `validation`: the envelope failed edge validation (field errors);
 * - `processing`: valid, but ingestion rejected it with a non-transient error after bounded attempts.
 */
export type DeadLetterReason = 'malformed' | 'oversized' | 'validation' | 'processing';
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = ['malformed', 'oversized', 'validation', 'processing'];

/** A comma-separated list of reasons (e.g. a `--reason` option); throws naming the unknown ones. */
export function parseDeadLetterReasons(list: string): DeadLetterReason[] {
  const reasons = list
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const unknown = reasons.filter((r) => !DEAD_LETTER_REASONS.includes(r as DeadLetterReason));
  if (unknown.length > 0) throw new Error(`unknown dead-letter reason ${unknown.join(', ')} (known: ${DEAD_LETTER_REASONS.join(', ')})`);
  return reasons as DeadLetterReason[];
}

export interface DeadLetterError {
  reason: DeadLetterReason;
  /** one line, no payload values */
  message: string;
  errors: FieldError[];
}

/** Headers added to a dead-lettered message; the value and key are the original bytes, unchanged. */
export const DLQ_HEADERS = {
  error: 'dlq.error',
  reason: 'dlq.reason',
  sourceTopic: 'dlq.source.topic',
  sourcePartition: 'dlq.source.partition',
  sourceOffset: 'dlq.source.offset',
  sourceTimestamp: 'dlq.source.timestamp',
  failedAt: 'dlq.failed.at',
  groupId: 'dlq.group.id',
  attempts: 'dlq.attempts',
} as const;
/** Set on a message re-driven from the dead-letter topic: `<dlq topic>/<partition>/<offset>` (kept if it fails again). */
export const REDRIVEN_FROM_HEADER = 'redriven.from';

export interface DeadLetterSource {
  topic: string;
  partition: number;
  message: KafkaMessage;
}

const isDlqHeader = (name: string): boolean => name.startsWith('dlq.');

/** The dead-letter record for a failed message: original key, value and headers plus the dlq.* headers. */
export function toDeadLetterMessage(
  src: DeadLetterSource,
  error: DeadLetterError,
  ctx: { groupId: string; attempts: number; now: Date },
): Message {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(src.message.headers ?? {})) {
    if (!isDlqHeader(name) && value !== undefined) headers[name] = value;
  }
  headers[DLQ_HEADERS.error] = JSON.stringify(error);
  headers[DLQ_HEADERS.reason] = error.reason;
  headers[DLQ_HEADERS.sourceTopic] = src.topic;
  headers[DLQ_HEADERS.sourcePartition] = String(src.partition);
  headers[DLQ_HEADERS.sourceOffset] = src.message.offset;
  headers[DLQ_HEADERS.sourceTimestamp] = src.message.timestamp;
  headers[DLQ_HEADERS.failedAt] = ctx.now.toISOString();
  headers[DLQ_HEADERS.groupId] = ctx.groupId;
  headers[DLQ_HEADERS.attempts] = String(ctx.attempts);
  return { key: src.message.key, value: src.message.value, headers };
}

/** A dead-letter record as read back from the dead-letter topic. */
export interface DeadLetterRecord {
  dlqPartition: number;
  dlqOffset: string;
  key: Buffer | null;
  /** the original bytes */
  value: Buffer | null;
  error: DeadLetterError;
  source: { topic: string; partition: number; offset: string; timestamp: string };
  failedAt: string;
  groupId: string;
  attempts: number;
  /** the original message's own headers (dlq.* removed) */
  originalHeaders: IHeaders;
}

const headerText = (headers: IHeaders | undefined, name: string): string | undefined => {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
};

export function parseDeadLetter(partition: number, message: KafkaMessage): DeadLetterRecord {
  const h = message.headers;
  let error: DeadLetterError;
  try {
    error = JSON.parse(headerText(h, DLQ_HEADERS.error) ?? '') as DeadLetterError;
  } catch {
    error = {
      reason: (headerText(h, DLQ_HEADERS.reason) as DeadLetterReason) ?? 'processing',
      message: 'unreadable dlq.error header',
      errors: [],
    };
  }
  const originalHeaders: IHeaders = {};
  for (const [name, value] of Object.entries(h ?? {})) if (!isDlqHeader(name) && value !== undefined) originalHeaders[name] = value;
  return {
    dlqPartition: partition,
    dlqOffset: message.offset,
    key: message.key,
    value: message.value,
    error,
    source: {
      topic: headerText(h, DLQ_HEADERS.sourceTopic) ?? '',
      partition: Number(headerText(h, DLQ_HEADERS.sourcePartition) ?? -1),
      offset: headerText(h, DLQ_HEADERS.sourceOffset) ?? '',
      timestamp: headerText(h, DLQ_HEADERS.sourceTimestamp) ?? '',
    },
    failedAt: headerText(h, DLQ_HEADERS.failedAt) ?? '',
    groupId: headerText(h, DLQ_HEADERS.groupId) ?? '',
    attempts: Number(headerText(h, DLQ_HEADERS.attempts) ?? 0),
    originalHeaders,
  };
}
