import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { StoreRefusedError, StoreUnavailableError } from '@cem/event-store';
import { IngestConflictError, IngestValidationError } from '@cem/ingestion';
import { PROJECTION_LAGGING_RETRY_AFTER_S, ProjectionLaggingError } from './projection-lagging.error';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  errors?: unknown[];
}

/** Maps every failure to one JSON shape: `{ statusCode, error, message, errors? }`. Never echoes input. */
export function toErrorBody(exception: unknown): { status: number; body: ErrorBody; headers?: Record<string, string> } {
  if (exception instanceof IngestValidationError) {
    return {
      status: 422,
      body: {
        statusCode: 422,
        error: 'validation_failed',
        message: 'the request was refused whole; nothing was written',
        errors: capEchoes(exception.errors),
      },
    };
  }
  if (exception instanceof IngestConflictError) {
    return {
      status: 409,
      body: {
        statusCode: 409,
        error: 'event_id_conflict',
        message: 'an eventId was already recorded with different content; nothing was written',
        errors: capEchoes(exception.errors),
      },
    };
  }
  if (exception instanceof StoreUnavailableError) {
    return {
      status: 503,
      body: {
        statusCode: 503,
        error: 'store_unavailable',
        message: 'the event store is unavailable; nothing was acknowledged, retry later',
      },
      headers: { 'retry-after': '5' },
    };
  }
  if (exception instanceof StoreRefusedError) {
    // permanent until an operator acts (a deleted stream, missing rights): a 500 that says why, not a retry hint
    return {
      status: 500,
      body: {
        statusCode: 500,
        error: 'store_refused',
        message: `the event store refused the operation (${exception.reason}); nothing was acknowledged and a retry will not help until an operator acts (docs/eventstoredb.md)`,
      },
    };
  }
  if (exception instanceof ProjectionLaggingError) {
    return {
      status: 503,
      body: { statusCode: 503, error: 'projection_lagging', message: exception.message },
      headers: { 'retry-after': String(PROJECTION_LAGGING_RETRY_AFTER_S) },
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const res = exception.getResponse();
    // Nest hands Fastify's own errors (body parser, limits) over as an HttpException with a plain message
    if (typeof res === 'string') return fromFastify(status, res);
    const r = (typeof res === 'object' && res !== null ? res : { message: String(res) }) as Record<string, unknown>;
    const raw = Array.isArray(r.message) ? r.message.join('; ') : String(r.message ?? exception.message);
    // Nest's 404 for an unknown route says "Cannot GET <url>": the query string may carry an identifier
    const message = status === 404 ? withoutQuery(raw) : raw;
    return {
      status,
      body: {
        statusCode: status,
        error: String(r.error ?? 'error')
          .toLowerCase()
          .replace(/\s+/g, '_'),
        message,
        ...(r.errors ? { errors: capEchoes(r.errors as unknown[]) } : {}),
      },
    };
  }
  const statusCode = (exception as { statusCode?: number })?.statusCode;
  if (statusCode && statusCode >= 400 && statusCode < 500) return fromFastify(statusCode, String((exception as Error).message));
  return { status: 500, body: { statusCode: 500, error: 'internal_error', message: 'internal error' } };
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, body, headers } = toErrorBody(exception);
    // log the kind of failure only: bodies and messages may carry personal data. A lagging read
    // model is an answer, not a fault (readiness and the lag metrics report it): not logged, so
    // callers cannot flood the log with it
    if (status === 500)
      this.logger.error({ msg: 'request failed', status, error: (exception as Error)?.name, stack: (exception as Error)?.stack });
    else if (status > 500 && !(exception instanceof ProjectionLaggingError))
      this.logger.warn({ msg: 'request failed', status, error: (exception as Error)?.name });
    if (headers) for (const [k, v] of Object.entries(headers)) reply.header(k, v);
    reply.status(status).send(body);
  }
}

function fromFastify(status: number, message: string): { status: number; body: ErrorBody } {
  const known: Record<number, [string, string]> = {
    400: /JSON/i.test(message) ? ['malformed_json', 'the body is not valid JSON'] : ['bad_request', message],
    404: ['not_found', withoutQuery(message)],
    413: ['payload_too_large', 'the body is larger than the limit (INGEST_MAX_BODY_BYTES)'],
    415: ['unsupported_media_type', 'send Content-Type: application/json'],
  };
  const [error, text] = known[status] ?? ['bad_request', message];
  return { status, body: { statusCode: status, error, message: text } };
}

/** The longest eventId echoed back (a UUID has 36 characters); longer ones are cut. */
export const MAX_ECHOED_EVENT_ID = 40;
/** The longest other text of an error entry (a field path, a reason naming a property) echoed back. */
export const MAX_ECHOED_TEXT = 200;

const cap = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}…` : s);

/** Error entries name the event, field and reason; values a caller sent (an eventId, a property name) are cut short. */
export function capEchoes(errors: unknown[]): unknown[] {
  return errors.map((e) => {
    if (e === null || typeof e !== 'object') return typeof e === 'string' ? cap(e, MAX_ECHOED_TEXT) : e;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) {
      out[k] = typeof v === 'string' ? cap(v, k === 'eventId' ? MAX_ECHOED_EVENT_ID : MAX_ECHOED_TEXT) : v;
    }
    return out;
  });
}

/** A message naming a URL ("Cannot GET /x?email=...", "Route GET:/x?y not found"), without the query string and cut short. */
export function withoutQuery(message: string): string {
  return cap(message.replace(/\?\S*/g, ''), MAX_ECHOED_TEXT);
}
