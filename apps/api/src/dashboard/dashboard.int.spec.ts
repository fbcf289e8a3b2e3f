import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApi, type ApiHarness } from '../../../../test/support/api-harness';
import { DASHBOARD_CSP } from './dashboard';

/** The static page at /app (the browser tests in test/dashboard drive the real build). */
describe('the dashboard page at /app', () => {
  describe('built', () => {
    let api: ApiHarness;
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'cem-dashboard-files-'));
      writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>');
      writeFileSync(join(dir, 'app.js'), 'void 0;');
      api = await startApi({}, { dashboardDir: dir });
    });
    afterAll(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const get = (url: string) => api.app.inject({ method: 'GET', url });

    it('redirects /app to /app/ and serves index.html there with the strict headers', async () => {
      const redirect = await get('/app');
      expect(redirect.statusCode).toBe(301);
      expect(redirect.headers.location).toBe('/app/');
      const page = await get('/app/');
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['content-security-policy']).toBe(DASHBOARD_CSP);
      expect(DASHBOARD_CSP).not.toMatch(/unsafe-|\*/);
      expect(page.headers['x-content-type-options']).toBe('nosniff');
      expect(page.headers['referrer-policy']).toBe('no-referrer');
      expect(page.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('serves the bundle, and nothing outside its folder', async () => {
      expect((await get('/app/app.js')).statusCode).toBe(200);
      for (const url of ['/app/../package.json', '/app/%2e%2e/package.json', '/app/missing.js']) {
        const res = await get(url);
        expect(res.statusCode).toBe(404);
        expect(res.body).not.toContain('cem-platform');
      }
    });

    it('needs no key (the page holds no data; its calls carry the key)', async () => {
      expect((await get('/app/')).statusCode).toBe(200);
      expect((await get('/v1/me')).statusCode).toBe(401);
    });
  });

  it('answers 503 saying how to build it when it is not built', async () => {
    const api = await startApi({}, { dashboardDir: join(tmpdir(), 'cem-no-such-dashboard') });
    try {
      for (const url of ['/app', '/app/', '/app/app.js']) {
        const res = await api.app.inject({ method: 'GET', url });
        expect(res.statusCode).toBe(503);
        expect(res.json()).toMatchObject({ error: 'dashboard_not_built', message: expect.stringContaining('npm run build') });
      }
    } finally {
      await api.close();
    }
  });
});
