import { BlockList, isIP } from 'node:net';
import type { SignalType } from '../signal.schema';

/** The signal types a webhook can subscribe to (more will follow: milestones, lifecycle stages). */
export const WEBHOOK_EVENT_TYPES = [
  'customer.churn-risk-changed',
  'customer.segment-entered',
  'customer.segment-left',
] as const satisfies readonly SignalType[];
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const WEBHOOK_SECRET_MIN_LENGTH = 32;
export const WEBHOOK_SECRET_MAX_LENGTH = 256;
export const WEBHOOK_URL_MAX_LENGTH = 2048;

/** Where webhooks may point (WEBHOOK_ALLOWED_HOSTS). */
export interface WebhookHostPolicy {
  /**
   * Host names or IP literals, or `*.example.com` for every subdomain. Empty: any host whose
   * addresses are public. A listed host is allowed even when private (e.g. an in-house receiver).
   */
  allowedHosts: readonly string[];
}

export interface WebhookInput {
  url: string;
  secret: string;
  eventTypes: string[];
}

export interface FieldProblem {
  field: string;
  reason: string;
}

/**
 * Addresses a webhook must not reach unless its host is listed explicitly: loopback, private,
 * link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, unique-local, multicast and
 * unspecified. Requests there are how SSRF reads internal services.
 */
const NON_PUBLIC = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NON_PUBLIC.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  NON_PUBLIC.addSubnet(net, bits, 'ipv6');

/** true for an address in a loopback, private, link-local or otherwise non-public range (IPv4-mapped IPv6 included). */
export function isNonPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return NON_PUBLIC.check(mapped[1], 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** The URL's host as compared with the allow-list: lower case, IPv6 without brackets. */
export const hostOf = (url: URL): string => url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');

/** true when WEBHOOK_ALLOWED_HOSTS names the host (exactly, or by a `*.` suffix pattern). */
export function isListedHost(host: string, policy: WebhookHostPolicy): boolean {
  return policy.allowedHosts.some((h) => (h.startsWith('*.') ? host.endsWith(h.slice(1)) && host.length > h.length - 1 : host === h));
}

/** Why the URL may not be a webhook target, or null. DNS names are checked again at each delivery (see the dispatcher). */
export function webhookUrlProblem(raw: string, policy: WebhookHostPolicy): string | null {
  if (raw.length > WEBHOOK_URL_MAX_LENGTH) return `must be at most ${WEBHOOK_URL_MAX_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must be an http or https URL, not ${url.protocol.replace(':', '')}`;
  // a password in the URL would come back in every answer that shows the URL: the secret is the credential
  if (url.username || url.password) return 'must not carry a user name or password';
  if (url.hash) return 'must not have a #fragment';
  const host = hostOf(url);
  if (policy.allowedHosts.length > 0) {
    return isListedHost(host, policy) ? null : 'host is not in WEBHOOK_ALLOWED_HOSTS';
  }
  if (isIP(host) !== 0 && isNonPublicAddress(host))
    return 'points at a loopback, private or link-local address (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)';
  if (host === 'localhost' || host.endsWith('.localhost'))
    return 'points at localhost (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)';
  return null;
}

/** Every problem of a webhook definition, each naming its field; empty when it may be stored. */
export function webhookProblems(input: Partial<Record<keyof WebhookInput, unknown>>, policy: WebhookHostPolicy): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (typeof input.url !== 'string' || input.url === '') problems.push({ field: 'url', reason: 'is required: an http or https URL' });
  else {
    const p = webhookUrlProblem(input.url, policy);
    if (p) problems.push({ field: 'url', reason: p });
  }
  if (typeof input.secret !== 'string' || input.secret === '')
    problems.push({ field: 'secret', reason: `is required: at least ${WEBHOOK_SECRET_MIN_LENGTH} characters` });
  else if (input.secret.length < WEBHOOK_SECRET_MIN_LENGTH)
    problems.push({ field: 'secret', reason: `must be at least ${WEBHOOK_SECRET_MIN_LENGTH} characters` });
  else if (input.secret.length > WEBHOOK_SECRET_MAX_LENGTH)
    problems.push({ field: 'secret', reason: `must be at most ${WEBHOOK_SECRET_MAX_LENGTH} characters` });
  else if (!/^[\x21-\x7e]+$/.test(input.secret)) problems.push({ field: 'secret', reason: 'must be printable ASCII without spaces' });
  if (!Array.isArray(input.eventTypes) || input.eventTypes.length === 0)
    problems.push({ field: 'eventTypes', reason: `is required: a non-empty list of ${WEBHOOK_EVENT_TYPES.join(', ')}` });
  else {
    input.eventTypes.forEach((t, i) => {
      if (typeof t !== 'string' || !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t))
        problems.push({ field: `eventTypes[${i}]`, reason: `unknown event type; one of ${WEBHOOK_EVENT_TYPES.join(', ')}` });
    });
    if (new Set(input.eventTypes).size !== input.eventTypes.length) problems.push({ field: 'eventTypes', reason: 'lists a type twice' });
  }
  return problems;
}
