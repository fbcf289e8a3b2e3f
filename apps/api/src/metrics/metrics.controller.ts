import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Registry } from 'prom-client';
import { Roles } from '../auth/roles.decorator';
import { METRICS_REGISTRY } from './metrics.token';

@ApiTags('operations')
@ApiSecurity('api-key')
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(METRICS_REGISTRY) private readonly registry: Registry) {}

  @Get()
  @Roles('ops')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiProduces('text/plain')
  @ApiOperation({ summary: 'Prometheus metrics: ingest counts and errors, HTTP latency, projection lag in events and seconds (role: ops)' })
  async metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
