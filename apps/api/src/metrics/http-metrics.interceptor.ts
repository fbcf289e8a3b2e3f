import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';
import { catchError, tap, throwError, type Observable } from 'rxjs';
import { toErrorBody } from '../http/error.filter';
import { METRICS_REGISTRY } from './metrics.token';

/**
 * Request counts and durations by route (the route pattern, never the URL: ids and identifiers
 * are personal data), plus ingest outcomes read off the ingest endpoints' answers.
 */
@Injectable()
export class HttpMetricsInterceptor implements NestInterceptor {
  private readonly duration: Histogram;
  private readonly ingested: Counter;
  private readonly ingestErrors: Counter;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.duration = new Histogram({
      name: 'cem_http_request_duration_seconds',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    this.ingested = new Counter({
      name: 'cem_ingest_events_total',
      help: 'Events acknowledged by ingest, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.ingestErrors = new Counter({
      name: 'cem_ingest_errors_total',
      help: 'Ingest requests refused, by error',
      labelNames: ['error'],
      registers: [registry],
    });
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const route = request.routeOptions?.url ?? 'unknown';
    const ingest = route.startsWith('/v1/events');
    const stop = this.duration.startTimer({ route, method: request.method });
    return next.handle().pipe(
      tap((body) => {
        stop({ status: String(reply.statusCode) });
        if (!ingest) return;
        const results = (body as { results?: { duplicate: boolean }[] })?.results ?? [body as { duplicate: boolean }];
        for (const r of results) this.ingested.inc({ outcome: r?.duplicate ? 'duplicate' : 'recorded' });
      }),
      catchError((e: unknown) => {
        const { status, body } = toErrorBody(e);
        stop({ status: String(status) });
        if (ingest) this.ingestErrors.inc({ error: body.error });
        return throwError(() => e);
      }),
    );
  }
}
