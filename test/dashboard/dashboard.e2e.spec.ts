/// <reference lib="dom" />
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { describeWithChromium } from '../support/chromium';
import { finished, REPO_ROOT, runTs } from '../support/run-ts';

/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a real API
 * process on seeded data: sign-in, every view with data, charts with marks on their canvas, filters,
 * customer lookup, role-based views, a refused key. Screenshots go to test-artifacts/dashboard/.
 */
const KEYS = {
  ingest: 'dash-ingest-key-0123456789',
  analyst: 'dash-analyst-key-0123456789',
  ops: 'dash-ops-key-0123456789',
  both: 'dash-analyst-ops-key-0123456789',
};
const ARTEFACTS = join(REPO_ROOT, 'test-artifacts', 'dashboard');
const CUSTOMERS = 120;
/** Okabe-Ito blue: the first series of every chart */
const FIRST_SERIES = '#0072B2';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, tries = 300): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Pixels of a colour on a chart's canvas: the marks uPlot drew (grid and axes are grey). */
async function marksOf(page: Page, chartId: string, hex = FIRST_SERIES): Promise<number> {
  return page.$eval(
    `#${chartId} canvas`,
    (canvas, colour) => {
      const c = canvas as HTMLCanvasElement;
      const { data } = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 100 && Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40) n++;
      }
      return n;
    },
    hex,
  );
}

describeWithChromium('dashboard at /app in Chromium', (executablePath) => {
  let api: ChildProcess | undefined;
  let browser: Browser;
  let base: string;
  let dataDir: string;
  let manifest!: { people: { identifiers: { kind: string; value: string }[] }[] };
  const problems: string[] = [];

  jest.setTimeout(60_000);

  beforeAll(async () => {
    // the page as `npm run build` makes it (esbuild: well under a second)
    execFileSync(process.execPath, ['apps/dashboard/build.mjs'], { cwd: REPO_ROOT, stdio: 'pipe' });
    mkdirSync(ARTEFACTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'cem-dashboard-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    api = runTs('apps/api/src/main.ts', {
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      SQLITE_SYNCHRONOUS: 'NORMAL',
      API_KEYS: `ingest:${KEYS.ingest},analyst:${KEYS.analyst},ops:${KEYS.ops},analyst+ops:${KEYS.both}`,
    });
    let apiErr = '';
    api.stderr?.on('data', (d) => (apiErr += d));
    await waitFor('the API to start', async () => {
      if (api?.exitCode !== null) throw new Error(`the API exited: ${apiErr}`);
      return (await fetch(`${base}/health/live`)).ok || undefined;
    });
    const manifestFile = join(dataDir, 'manifest.json');
    await finished(
      runTs('seeds/src/main.ts', {}, [
        '--customers',
        String(CUSTOMERS),
        '--url',
        base,
        '--api-key',
        KEYS.ingest,
        '--manifest',
        manifestFile,
        '--quiet',
      ]),
    );
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    // a programme target, drawn on the NPS chart with its status
    const created = await fetch(`${base}/v1/targets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS.analyst}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        targetId: 'nps-2026',
        name: 'NPS of 10',
        metric: 'nps',
        direction: 'at-least',
        threshold: 10,
        bucket: 'month',
        startDate: '2026-01-01',
        dueDate: '2026-12-31',
      }),
    });
    expect(created.status).toBe(201);
    await waitFor('the projections to catch up', async () => {
      const r = await fetch(`${base}/health/ready`);
      const body = (await r.json()) as { projections: { lagEvents: number } };
      return r.ok && body.projections.lagEvents === 0 ? true : undefined;
    });
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (api && api.exitCode === null) {
      api.kill('SIGTERM');
      await new Promise((r) => api!.once('exit', r));
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** A fresh tab (own sessionStorage); CSP violations and script errors are collected and fail the suite. */
  async function openPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/the server responded with a status of 40[13]/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${base}/app`);
    return page;
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  afterEach(() => {
    const seen = problems.splice(0);
    expect(seen).toEqual([]);
  });

  it('serves the page with a strict Content-Security-Policy and no inline script or style', async () => {
    const redirect = await fetch(`${base}/app`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    const response = await fetch(`${base}/app/`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await response.text();
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=/i);
    expect(html).not.toMatch(/https?:\/\//);
    // CORS unchanged: no cross-origin grant on the page or the API
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses a bad key with a message and keeps it out of the URL', async () => {
    const page = await openPage();
    await signIn(page, 'not-a-key-0123456789');
    await page.locator('#sign-in .status.error').waitFor();
    expect(await page.locator('#sign-in .status.error').textContent()).toMatch(/refused.*unknown or revoked/);
    expect(page.url()).not.toContain('not-a-key');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.screenshot({ path: join(ARTEFACTS, 'sign-in-refused.png') });
    await page.context().close();
  });

  it('signs in and draws the overview: charts with marks, targets with their status, a table behind each chart', async () => {
    const page = await openPage();
    await signIn(page, KEYS.analyst);
    await page.locator('#chart-nps canvas').waitFor();
    expect(page.url()).not.toContain(KEYS.analyst);
    expect(await page.evaluate(() => sessionStorage.getItem('cem.apiKey'))).toBe(KEYS.analyst);
    expect(await marksOf(page, 'chart-nps')).toBeGreaterThan(50);
    expect(await marksOf(page, 'chart-contacts')).toBeGreaterThan(50);
    // the target: its threshold line (vermillion) and its status
    expect(await marksOf(page, 'chart-nps', '#D55E00')).toBeGreaterThan(20);
    await expect(page.locator('.target-list li').first().textContent()).resolves.toMatch(/NPS of 10/);
    expect(await page.locator('.target-list .badge').first().textContent()).toMatch(/^(on-track|at-risk|off-track|met|missed)/);
    // every chart has its table; contacts are whole numbers from the seeded data
    const charts = await page.locator('#overview-charts figure').count();
    expect(await page.locator('#overview-charts figure details table').count()).toBe(charts);
    const contacts = await page.locator('#chart-contacts details tbody td').allTextContents();
    expect(contacts.filter((t) => Number(t) > 0).length).toBeGreaterThan(3);
    await page.screenshot({ path: join(ARTEFACTS, 'overview.png'), fullPage: false });
    await page.context().close();
  });

  it('a filter changes the data shown: sliced by channel, then one segment', async () => {
    const page = await openPage();
    await signIn(page, KEYS.analyst);
    await page.locator('#chart-contacts canvas').waitFor();
    const headers = async () => page.locator('#chart-contacts thead th').allTextContents();
    expect(await headers()).toEqual(['Bucket', 'Contacts']);
    const total = await page.locator('#chart-contacts details tbody').textContent();
    await page.getByLabel('Slice by', { exact: true }).selectOption('channel');
    await page.locator('[role=status]', { hasText: 'sliced by channel' }).waitFor();
    const sliced = await headers();
    expect(sliced.length).toBeGreaterThan(2);
    expect(sliced).toEqual(expect.arrayContaining(['phone']));
    await page.getByLabel('Slice by', { exact: true }).selectOption('');
    await page.getByLabel('Segment filter', { exact: true }).selectOption('none');
    await page.locator('[role=status]', { hasText: 'segment:none' }).waitFor();
    expect(await page.locator('#chart-contacts details tbody').textContent()).not.toBe(total);
    await page.getByLabel('Bucket', { exact: true }).selectOption('week');
    await page.locator('[role=status]', { hasText: 'by week' }).waitFor();
    expect(await page.locator('#chart-contacts details tbody tr').count()).toBeGreaterThan(40);
    await page.context().close();
  });

  it('a key without the ops role sees no Operations view; an ingest-only key is told there is nothing to show', async () => {
    const page = await openPage();
    await signIn(page, KEYS.analyst);
    await page.locator('#nav-overview').waitFor();
    expect(await page.locator('#nav a').allTextContents()).not.toContain('Operations');
    await page.goto(`${base}/app/#operations`);
    await page.locator('#view-overview').waitFor();
    expect(await page.locator('#view-operations').count()).toBe(0);
    await page.context().close();

    const ingest = await openPage();
    await signIn(ingest, KEYS.ingest);
    await ingest.locator('[role=alert]').waitFor();
    expect(await ingest.locator('[role=alert]').textContent()).toMatch(/neither the analyst nor the ops role/);
    expect(await ingest.locator('#nav a').count()).toBe(0);
    await ingest.context().close();
  });

  it('is usable from the keyboard: tab to the views, Enter opens one', async () => {
    const page = await openPage();
    await page.keyboard.type(KEYS.analyst); // the key field has focus on load
    await page.keyboard.press('Enter');
    await page.locator('#nav-overview').waitFor();
    await page.locator('#nav-overview').focus();
    await page.keyboard.press('Enter');
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('view-title');
    await page.context().close();
  });

  it("churn risk: bands over time, the at-risk list filtered, sorted and downloaded as CSV, a customer's factors", async () => {
    const page = await openPage();
    await signIn(page, KEYS.analyst);
    await page.locator('#nav-churn').click();
    await page.locator('#chart-churn-bands canvas').waitFor();
    expect(await marksOf(page, 'chart-churn-bands')).toBeGreaterThan(50);
    await page.locator('#at-risk-table tbody tr').first().waitFor();
    expect(await page.locator('#at-risk-table tbody tr').count()).toBeGreaterThan(10);

    // filter: only the critical band, checked against the API itself
    const critical = (await (
      await fetch(`${base}/v1/churn-risk?band=critical&limit=1000`, { headers: { authorization: `Bearer ${KEYS.analyst}` } })
    ).json()) as { items: { customerId: string }[] };
    expect(critical.items.length).toBeGreaterThan(0);
    await page.getByLabel('Band', { exact: true }).selectOption('critical');
    await page
      .locator('#churn-list ~ [role=status], [role=status]', { hasText: `${critical.items.length} customers on page 1` })
      .first()
      .waitFor();
    const bands = await page.locator('#at-risk-table tbody tr td:nth-child(3)').allTextContents();
    expect(new Set(bands)).toEqual(new Set(['critical']));

    // sort by value at risk (highest first), on the page
    await page.locator('button[data-sort="valueAtRisk"]').click();
    const values = (await page.locator('#at-risk-table tbody tr td:nth-child(4)').allTextContents()).map((t) =>
      Number(t.replace(/,/g, '')),
    );
    expect(values).toEqual([...values].sort((a, b) => b - a));
    expect(await page.locator('th[aria-sort="descending"]').count()).toBe(1);

    // CSV: every critical customer once, with its header line
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#ch-csv').click()]);
    expect(download.suggestedFilename()).toBe('churn-risk.csv');
    const csv = readFileSync((await download.path())!, 'utf8')
      .trim()
      .split(/\r?\n/);
    expect(csv[0]).toMatch(/customerId/);
    expect(csv.length - 1).toBe(critical.items.length);
    for (const { customerId } of critical.items) expect(csv.some((line) => line.includes(customerId))).toBe(true);

    // a customer's factors: bars and readable reasons
    await page
      .locator('#at-risk-table tbody tr')
      .first()
      .getByRole('button', { name: /Factors of/ })
      .click();
    await page.locator('#chart-churn-factors canvas').waitFor();
    expect((await marksOf(page, 'chart-churn-factors', '#D55E00')) + (await marksOf(page, 'chart-churn-factors'))).toBeGreaterThan(50);
    expect(await page.locator('#churn-factors .reasons li').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTEFACTS, 'churn-risk.png'), fullPage: true });
    await page.context().close();
  });

  it('journey: the milestone funnel and time to milestone by cohort', async () => {
    const page = await openPage();
    await signIn(page, KEYS.analyst);
    await page.locator('#nav-journey').click();
    await page.locator('#chart-funnel canvas').waitFor();
    expect(await marksOf(page, 'chart-funnel')).toBeGreaterThan(50);
    expect(await page.locator('#chart-funnel details tbody tr').count()).toBe(4);
    await page.locator('#chart-time-to-milestone canvas').waitFor();
    expect(await marksOf(page, 'chart-time-to-milestone')).toBeGreaterThan(20);
    const cohorts = await page.locator('#chart-time-to-milestone details tbody tr').count();
    expect(cohorts).toBeGreaterThan(3);
    // one milestone: its p50 and p90 by cohort
    await page.getByLabel('Milestone (time to it)').selectOption('onboarded');
    await page.locator('#chart-time-to-milestone figcaption', { hasText: /^Days to/ }).waitFor();
    expect(await page.locator('#chart-time-to-milestone thead th').allTextContents()).toEqual(['Bucket', 'p50 days', 'p90 days']);
    await page.screenshot({ path: join(ARTEFACTS, 'journey.png'), fullPage: true });
    await page.context().close();
  });

  it('customer: the lookup finds a seeded customer, with the 360, risk, milestones, merges and a paged timeline', async () => {
    const page = await openPage();
    await signIn(page, KEYS.analyst);
    await page.locator('#nav-customer').click();
    const person = manifest.people.find((p) => p.identifiers.some((i) => i.kind === 'crm'))!;
    const crm = person.identifiers.find((i) => i.kind === 'crm')!;
    await page.getByLabel('Identifier (kind:value) or customer id').fill(`crm:${crm.value}`);
    await page.keyboard.press('Enter');
    await page.locator('#customer-360').waitFor();
    expect(page.url()).not.toContain(crm.value);
    expect(await page.locator('#view-customer').textContent()).toContain(crm.value);
    await page.locator('#customer-timeline tbody tr').first().waitFor();
    const first = await page.locator('#customer-timeline tbody').textContent();
    expect(await page.locator('#customer-timeline tbody tr').count()).toBeGreaterThan(0);
    await page.locator('#customer-milestones tbody tr').first().waitFor();
    expect(await page.locator('#customer-milestones tbody tr').count()).toBe(4);
    await page.locator('#customer-risk #chart-churn-factors').waitFor();
    await page.locator('#customer-merges').waitFor();
    if (await page.locator('#timeline-next').isEnabled()) {
      await page.locator('#timeline-next').click();
      await page.locator('#customer-timeline [role=status]', { hasText: 'Events 21' }).waitFor();
      expect(await page.locator('#customer-timeline tbody').textContent()).not.toBe(first);
    }
    await page.screenshot({ path: join(ARTEFACTS, 'customer.png'), fullPage: true });

    // an unknown identifier: the API's 404, said
    await page.getByLabel('Identifier (kind:value) or customer id').fill('crm:NO-SUCH-CUSTOMER');
    await page.keyboard.press('Enter');
    await page.locator('#view-customer .status.error').waitFor();
    expect(await page.locator('#view-customer .status.error').textContent()).toMatch(/No customer found/);
    // the browser logs that expected 404 of the lookup: not a problem of the page
    const expected = problems.findIndex((p) => p.includes('status of 404'));
    expect(expected).toBeGreaterThanOrEqual(0);
    problems.splice(expected, 1);
    await page.context().close();
  });

  it('operations (role ops): projection status and lag, ingestion and error counts', async () => {
    const page = await openPage();
    await signIn(page, KEYS.both);
    await page.locator('#nav-operations').click();
    await page.locator('#chart-ops-lag').waitFor();
    expect(await page.locator('#ops-health table').last().locator('tbody tr').count()).toBeGreaterThanOrEqual(5);
    await page.locator('#chart-ops-outcomes canvas').waitFor();
    expect(await marksOf(page, 'chart-ops-outcomes')).toBeGreaterThan(50);
    // no rebuild has run on this fresh data directory: the section says so
    expect(await page.locator('#ops-rebuilds').textContent()).toMatch(/No rebuild yet/);
    const ingested = await page.locator('#ops-rates dd').first().textContent();
    expect(Number(ingested)).toBeGreaterThan(CUSTOMERS);
    await page.screenshot({ path: join(ARTEFACTS, 'operations.png'), fullPage: true });
    await page.context().close();

    // an ops-only key sees Operations and nothing of the analysts'
    const ops = await openPage();
    await signIn(ops, KEYS.ops);
    await ops.locator('#view-operations').waitFor();
    expect(await ops.locator('#nav a').allTextContents()).toEqual(['Operations']);
    await ops.context().close();
  });
});
