import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** Where the page is served: the dashboard's own path, outside the API's /v1 and /docs. */
export const DASHBOARD_PATH = '/app';

/**
 * The page's Content-Security-Policy: its own scripts, styles, fonts and JSON calls only (same origin),
 * no inline script or style, no plugin, no framing, no form posting elsewhere. Charts draw on canvas
 * (uPlot); CSV downloads are blob: URLs the page makes, images are the page's own or data: URIs.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "font-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The built page (`npm run build` writes it to dist/dashboard, next to the compiled API). Found from
 * the repository root whether the API runs compiled (dist/apps/api/...) or from source (tests).
 */
export function defaultDashboardDir(from = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'dashboard');
}

/**
 * Serves the dashboard's static files at /app with strict security headers. The page is public (it
 * holds no data); every JSON call it makes carries the API key and goes through the same endpoints as
 * any client. Without a build the path answers 503 saying how to build it, rather than a bare 404.
 */
export async function installDashboard(app: NestFastifyApplication, dir: string): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onSend', async (request, reply, payload) => {
    const path = request.url.split('?')[0];
    if (path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`)) {
      reply.header('content-security-policy', DASHBOARD_CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      reply.header('x-frame-options', 'DENY');
      reply.header('cross-origin-opener-policy', 'same-origin');
      // the page is small and changes with every build: revalidate (ETag) rather than serve a stale copy
      reply.header('cache-control', 'no-cache');
    }
    return payload;
  });
  if (!existsSync(join(dir, 'index.html'))) {
    const notBuilt = {
      statusCode: 503,
      error: 'dashboard_not_built',
      message: 'the dashboard page is not built: run `npm run build` (it writes dist/dashboard)',
    };
    for (const url of [DASHBOARD_PATH, `${DASHBOARD_PATH}/*`]) fastify.get(url, async (_request, reply) => reply.code(503).send(notBuilt));
    return;
  }
  // `/app` redirects to `/app/` so the page's relative asset URLs resolve under the prefix
  fastify.get(DASHBOARD_PATH, async (_request, reply) => reply.redirect(`${DASHBOARD_PATH}/`, 301));
  await app.register(fastifyStatic, {
    root: dir,
    prefix: `${DASHBOARD_PATH}/`,
    decorateReply: false,
    index: 'index.html',
    dotfiles: 'deny',
    schemaHide: true,
  });
}
