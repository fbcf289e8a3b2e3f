import type { FastifyInstance } from 'fastify';

interface RouteMethods {
  pattern: RegExp;
  methods: Set<string>;
  /** no parameter: `/v1/segments/dry-run` rather than `/v1/segments/:id` */
  literal: boolean;
}

/** A Fastify route url (`/v1/customers/:id`, `/v1/events::batch`) as a regular expression over paths. */
function pathPattern(url: string): RegExp {
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const source = url
    .split('/')
    .map((segment) => {
      // `::` is a literal colon in Fastify's route syntax; a single `:` starts a parameter
      const parts = segment.split('::');
      return parts.map((part) => (part.startsWith(':') ? '[^/]+' : literal(part))).join(':');
    })
    .join('/');
  return new RegExp(`^${source}/?$`);
}

/**
 * 405 with an exact `Allow` for a method a path does not serve (404 stays for paths nobody serves),
 * decided in onRequest, before anything reads the body. Routes are collected as they are
 * registered, so this must be installed before the app registers its routes (before app.init()).
 */
export function installMethodCheck(fastify: FastifyInstance): void {
  const routes: RouteMethods[] = [];
  fastify.addHook('onRoute', (route) => {
    if (route.url.includes('*')) return;
    const methods = [route.method].flat().map((m) => String(m).toUpperCase());
    const existing = routes.find((r) => r.pattern.source === pathPattern(route.url).source);
    if (existing) for (const m of methods) existing.methods.add(m);
    else routes.push({ pattern: pathPattern(route.url), methods: new Set(methods), literal: !/(^|\/|[^:]):[^:]/.test(route.url) });
  });
  fastify.addHook('onRequest', async (request, reply) => {
    if (!request.is404) return;
    const path = request.url.split('?')[0];
    // a path with a route of its own (`/v1/segments/dry-run`) is that resource, whatever a parametric
    // sibling (`/v1/segments/:id`) would also match: its Allow lists only what is documented for it
    const matching = routes.filter((r) => r.pattern.test(path));
    const literal = matching.filter((r) => r.literal);
    const allowed = new Set<string>();
    for (const r of literal.length > 0 ? literal : matching) for (const m of r.methods) allowed.add(m);
    if (allowed.size === 0) {
      // nobody serves this path: 404 now, before a body of an unusual method is looked at
      await reply.code(404).send({ statusCode: 404, error: 'not_found', message: 'no such resource' });
      return;
    }
    await reply
      .code(405)
      .header('allow', [...allowed].sort().join(', '))
      .send({ statusCode: 405, error: 'method_not_allowed', message: `this resource does not support ${request.method.slice(0, 20)}` });
  });
}
