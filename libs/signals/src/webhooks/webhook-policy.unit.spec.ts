import { backoffMs, classifyResponse } from './webhook-dispatcher';
import { isNonPublicAddress, webhookProblems, webhookUrlProblem } from './webhook-policy';
import { verifyWebhookSignature, webhookSignature } from './webhook-signature';

const OPEN = { allowedHosts: [] };
const SECRET = 'x'.repeat(32);
const valid = { url: 'https://hooks.example.com/cem', secret: SECRET, eventTypes: ['customer.churn-risk-changed'] };

describe('webhook definitions', () => {
  it('accepts a public https URL with a 32-character secret and a known event type', () => {
    expect(webhookProblems(valid, OPEN)).toEqual([]);
  });

  it.each([
    ['ftp://hooks.example.com/x', 'must be an http or https URL, not ftp'],
    ['file:///etc/passwd', 'must be an http or https URL, not file'],
    ['hooks.example.com/x', 'must be an absolute http or https URL'],
    ['https://user:pw@hooks.example.com/x', 'must not carry a user name or password'],
    ['http://127.0.0.1:8080/x', 'points at a loopback, private or link-local address (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)'],
    [
      'http://169.254.169.254/latest/meta-data',
      'points at a loopback, private or link-local address (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)',
    ],
    ['http://10.0.0.7/x', 'points at a loopback, private or link-local address (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)'],
    ['http://[::1]/x', 'points at a loopback, private or link-local address (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)'],
    [
      'http://[::ffff:192.168.1.1]/x',
      'points at a loopback, private or link-local address (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)',
    ],
    ['http://localhost:3000/x', 'points at localhost (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)'],
    [`https://hooks.example.com/${'a'.repeat(2048)}`, 'must be at most 2048 characters'],
  ])('refuses %s by default: %s', (url, reason) => {
    expect(webhookUrlProblem(url, OPEN)).toBe(reason);
    expect(webhookProblems({ ...valid, url }, OPEN)).toEqual([{ field: 'url', reason }]);
  });

  it('with WEBHOOK_ALLOWED_HOSTS only listed hosts (exact or *.domain) are allowed, private ones included', () => {
    const policy = { allowedHosts: ['127.0.0.1', '*.partner.example'] };
    expect(webhookUrlProblem('http://127.0.0.1:9000/x', policy)).toBeNull();
    expect(webhookUrlProblem('https://crm.partner.example/x', policy)).toBeNull();
    expect(webhookUrlProblem('https://partner.example/x', policy)).toBe('host is not in WEBHOOK_ALLOWED_HOSTS');
    expect(webhookUrlProblem('https://evilpartner.example/x', policy)).toBe('host is not in WEBHOOK_ALLOWED_HOSTS');
    expect(webhookUrlProblem('https://hooks.example.com/x', policy)).toBe('host is not in WEBHOOK_ALLOWED_HOSTS');
  });

  it('names every bad field: missing or short secret, unknown or repeated event types, missing URL', () => {
    expect(webhookProblems({}, OPEN)).toEqual([
      { field: 'url', reason: 'is required: an http or https URL' },
      { field: 'secret', reason: 'is required: at least 32 characters' },
      {
        field: 'eventTypes',
        reason: 'is required: a non-empty list of customer.churn-risk-changed, customer.segment-entered, customer.segment-left',
      },
    ]);
    expect(webhookProblems({ ...valid, secret: 'short' }, OPEN)).toEqual([{ field: 'secret', reason: 'must be at least 32 characters' }]);
    expect(webhookProblems({ ...valid, secret: 'x'.repeat(257) }, OPEN)).toEqual([
      { field: 'secret', reason: 'must be at most 256 characters' },
    ]);
    expect(webhookProblems({ ...valid, eventTypes: ['customer.churn-risk-changed', 'order.shipped'] }, OPEN)).toEqual([
      {
        field: 'eventTypes[1]',
        reason: 'unknown event type; one of customer.churn-risk-changed, customer.segment-entered, customer.segment-left',
      },
    ]);
    expect(webhookProblems({ ...valid, eventTypes: ['customer.churn-risk-changed', 'customer.churn-risk-changed'] }, OPEN)).toEqual([
      { field: 'eventTypes', reason: 'lists a type twice' },
    ]);
    expect(webhookProblems({ ...valid, url: 42 }, OPEN)).toEqual([{ field: 'url', reason: 'is required: an http or https URL' }]);
  });

  it('knows the non-public ranges', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.1.1',
      '172.16.0.1',
      '192.168.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fd00::1',
      'fe80::1',
    ])
      expect(isNonPublicAddress(a)).toBe(true);
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '172.32.0.1']) expect(isNonPublicAddress(a)).toBe(false);
  });
});

describe('webhook delivery rules', () => {
  it('2xx delivered; 408, 429, 5xx retried; other 4xx and redirects failed', () => {
    expect([200, 204, 299].map(classifyResponse)).toEqual(['delivered', 'delivered', 'delivered']);
    expect([408, 429, 500, 503].map(classifyResponse)).toEqual(['retry', 'retry', 'retry', 'retry']);
    expect([301, 400, 401, 404, 410].map(classifyResponse)).toEqual(['failed', 'failed', 'failed', 'failed', 'failed']);
  });

  it('backs off exponentially from the initial delay, capped', () => {
    const c = { retryInitialMs: 1_000, retryMaxMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6, 60].map((n) => backoffMs(n, c))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
  });

  it('the signature is HMAC-SHA256 over timestamp "." body, verified in constant time', () => {
    // computed outside this code: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
    expect(webhookSignature('key', '1700000000', '{"a":1}')).toBe('a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03');
    const sig = webhookSignature(SECRET, '1700000000', '{}');
    expect(verifyWebhookSignature(SECRET, '1700000000', '{}', sig)).toBe(true);
    expect(verifyWebhookSignature(SECRET, '1700000001', '{}', sig)).toBe(false);
    expect(verifyWebhookSignature(SECRET, '1700000000', '{}', 'zz')).toBe(false);
  });
});
