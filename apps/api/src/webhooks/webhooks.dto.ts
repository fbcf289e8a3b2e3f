import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import {
  DELIVERY_STATUSES,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_SECRET_MAX_LENGTH,
  WEBHOOK_SECRET_MIN_LENGTH,
  WEBHOOK_URL_MAX_LENGTH,
  type DeliveryStatus,
  type WebhookEventType,
} from '@cem/signals';
import { IntegerQuery } from '../customers/customers.dto';

/** POST /v1/webhooks (validated by webhookProblems in libs/signals: 400 naming each field). */
export class CreateWebhookDto {
  @ApiProperty({
    description: 'http or https; its host must be public or listed in WEBHOOK_ALLOWED_HOSTS',
    example: 'https://hooks.example.com/cem',
    maxLength: WEBHOOK_URL_MAX_LENGTH,
    format: 'uri',
  })
  url!: string;

  @ApiProperty({
    description: 'the HMAC-SHA256 key of X-Signature; write-only (never answered)',
    example: '3f9c1b7e2d8a4f6091c5e7b3a2d4f6e8c0b1a3d5',
    minLength: WEBHOOK_SECRET_MIN_LENGTH,
    maxLength: WEBHOOK_SECRET_MAX_LENGTH,
    writeOnly: true,
  })
  secret!: string;

  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES, isArray: true, minItems: 1, uniqueItems: true, example: ['customer.churn-risk-changed'] })
  eventTypes!: WebhookEventType[];
}

export class WebhookDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'https://hooks.example.com/cem' }) url!: string;
  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES, isArray: true }) eventTypes!: WebhookEventType[];
  @ApiProperty({ description: 'signals of events after this log position are delivered (the head when it was created)', example: 41200 })
  fromPosition!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class WebhookListDto {
  @ApiProperty({ type: [WebhookDto] }) items!: WebhookDto[];
}

export class WebhookDeliveryDto {
  @ApiProperty({ format: 'uuid', description: 'the X-Delivery-Id header: the same on every attempt' }) deliveryId!: string;
  @ApiProperty({ example: 'customer.churn-risk-changed' }) eventType!: string;
  @ApiProperty({ format: 'uuid' }) signalId!: string;
  @ApiProperty({ format: 'uuid' }) customerId!: string;
  @ApiProperty({ enum: DELIVERY_STATUSES }) status!: DeliveryStatus;
  @ApiProperty({ example: 3 }) attempts!: number;
  @ApiProperty({ type: String, nullable: true, example: 'HTTP 503' }) lastError!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) lastAttemptAt!: string | null;
  @ApiProperty({ type: Number, nullable: true, example: 200 }) responseCode!: number | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'while pending: when the next attempt is due' })
  nextAttemptAt!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) deliveredAt!: string | null;
}

export class WebhookDeliveryListDto {
  @ApiProperty({ type: [WebhookDeliveryDto] }) items!: WebhookDeliveryDto[];
  @ApiProperty({ type: String, nullable: true, description: 'pass as `cursor` for the next (older) page; null on the last page' })
  nextCursor!: string | null;
}

export class WebhookDeliveriesQueryDto {
  @ApiPropertyOptional({ enum: DELIVERY_STATUSES })
  @IsOptional()
  @IsIn(DELIVERY_STATUSES as unknown as string[])
  status?: DeliveryStatus;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, description: 'nextCursor of the previous page' })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(1)
  cursor?: number;
}
