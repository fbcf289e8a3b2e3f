import { createHmac, timingSafeEqual } from 'node:crypto';

/** Headers of every webhook request (docs/webhooks.md, "Verifying a delivery"). */
export const WEBHOOK_HEADERS = {
  signature: 'x-signature',
  timestamp: 'x-timestamp',
  deliveryId: 'x-delivery-id',
  eventType: 'x-event-type',
} as const;

/** Hex HMAC-SHA256 over `timestamp + "." + body` with the webhook's secret. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** What a receiver does: recompute and compare in constant time (the receiver also bounds the timestamp's age). */
export function verifyWebhookSignature(secret: string, timestamp: string, body: string, signature: string): boolean {
  const expected = Buffer.from(webhookSignature(secret, timestamp, body), 'hex');
  const given = Buffer.from(signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
