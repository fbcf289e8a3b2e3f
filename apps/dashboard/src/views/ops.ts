import { getJson, getText } from '../api';
import { barChart, lineChart, tableOf } from '../charts';
import { clear, fmt, h, showError, showStatus, statusLine } from '../dom';
import { parsePrometheus, requestsByClass, sumBy } from '../prometheus';

/** How often the view samples /metrics and /health/ready while it is open. */
const EVERY_MS = 5_000;
/** Samples kept for the rate charts (ten minutes at one per 5 s). */
const KEEP = 120;

interface Ready {
  status: string;
  eventStore: { headPosition: number };
  projections: {
    projector: string;
    status: string;
    lagEvents: number;
    lagSeconds: number;
    readModels: { name: string; status: string; checkpoint: number; lagEvents: number; lagSeconds: number }[];
  };
}

interface Rebuild {
  id: string;
  readModels: string[];
  state: string;
  phase: string;
  startedAt: string;
  finishedAt: string | null;
  position: number;
  targetPosition: number;
  eventsPerSecond: number;
  etaSeconds: number | null;
  message: string | null;
}

interface Tick {
  at: number;
  ingested: number;
  ingestErrors: number;
  requests: number;
  errors4xx: number;
  errors5xx: number;
}

/** Projection status and lag (readiness), ingestion and error rates (the Prometheus metrics), sampled live. */
export function opsView(root: HTMLElement): void {
  const status = statusLine();
  const health = h('div', { id: 'ops-health' });
  const rates = h('div', { id: 'ops-rates' });
  const rebuilds = h('div', { id: 'ops-rebuilds' });
  root.append(status, h('h3', {}, 'Projections'), health, h('h3', {}, 'Rebuilds'), rebuilds, h('h3', {}, 'Ingestion and errors'), rates);
  const ticks: Tick[] = [];

  async function sample(): Promise<void> {
    // the view is gone (another view opened, signed out): stop sampling
    if (!root.isConnected) {
      window.clearInterval(timer);
      return;
    }
    try {
      // /health/ready answers 503 while not ready, with the same body: both are shown
      const [readyResponse, metricsText, rebuildList] = await Promise.all([
        fetch('/health/ready', { cache: 'no-store', credentials: 'omit' }),
        getText('/metrics'),
        getJson<{ rebuilds: Rebuild[] }>('/v1/admin/rebuilds', { limit: 10 }),
      ]);
      const ready = (await readyResponse.json()) as Ready;
      const samples = parsePrometheus(metricsText);
      const classes = requestsByClass(samples);
      const ingested = sumBy(samples, 'cem_ingest_events_total', 'outcome');
      const ingestErrors = sumBy(samples, 'cem_ingest_errors_total', 'error');
      ticks.push({
        at: Date.now() / 1000,
        ingested: [...ingested.values()].reduce((a, b) => a + b, 0),
        ingestErrors: [...ingestErrors.values()].reduce((a, b) => a + b, 0),
        requests: [...classes.values()].reduce((a, b) => a + b, 0),
        errors4xx: classes.get('4xx') ?? 0,
        errors5xx: classes.get('5xx') ?? 0,
      });
      if (ticks.length > KEEP) ticks.shift();
      renderHealth(health, ready);
      renderRebuilds(rebuilds, rebuildList.rebuilds);
      renderRates(rates, ticks, ingested, ingestErrors, classes);
      showStatus(
        status,
        `${ready.status === 'ready' ? 'Ready' : 'Not ready'}: projector ${ready.projections.projector}, ${ready.projections.status}. Updated ${new Date().toISOString().slice(11, 19)} UTC, every ${EVERY_MS / 1000} s while this view is open.`,
      );
    } catch (e) {
      showError(status, e);
    }
  }
  const timer = window.setInterval(() => void sample(), EVERY_MS);
  void sample();
}

function renderHealth(target: HTMLElement, ready: Ready): void {
  clear(target);
  const models = ready.projections.readModels;
  target.append(
    h(
      'dl',
      { class: 'cards' },
      h('div', {}, h('dt', {}, 'Readiness'), h('dd', {}, ready.status)),
      h('div', {}, h('dt', {}, 'Log head position'), h('dd', {}, String(ready.eventStore.headPosition))),
      h('div', {}, h('dt', {}, 'Lag (events, worst read model)'), h('dd', {}, String(ready.projections.lagEvents))),
      h('div', {}, h('dt', {}, 'Lag (seconds)'), h('dd', {}, fmt.number(ready.projections.lagSeconds))),
    ),
    h(
      'div',
      { class: 'split' },
      barChart({
        id: 'chart-ops-lag',
        title: 'Projection lag per read model (events)',
        labels: models.map((m) => m.name),
        values: models.map((m) => m.lagEvents),
        valueLabel: 'Events behind',
        digits: 0,
        extraColumns: [
          { name: 'Status', values: models.map((m) => m.status) },
          { name: 'Checkpoint', values: models.map((m) => m.checkpoint) },
          { name: 'Lag (s)', values: models.map((m) => fmt.number(m.lagSeconds)) },
        ],
      }),
      tableOf(
        {
          columns: ['Read model', 'Status', 'Checkpoint', 'Lag (events)', 'Lag (s)'],
          rows: models.map((m) => [m.name, m.status, m.checkpoint, m.lagEvents, fmt.number(m.lagSeconds)]),
        },
        'Read models',
      ),
    ),
  );
}

/** The latest rebuilds (blue/green, `cem rebuild`) with their progress: position of target, rate, time left. */
function renderRebuilds(target: HTMLElement, list: Rebuild[]): void {
  clear(target);
  if (!list.length) {
    target.append(h('p', {}, 'No rebuild yet (they are started with the CLI; see docs/operations.md).'));
    return;
  }
  const progress = (r: Rebuild) => (r.targetPosition > 0 ? fmt.percent(Math.min(1, r.position / r.targetPosition)) : '–');
  target.append(
    tableOf(
      {
        columns: [
          'Rebuild',
          'Read models',
          'State',
          'Phase',
          'Progress',
          'Position / target',
          'Events/s',
          'Time left (s)',
          'Started',
          'Finished',
          'Message',
        ],
        rows: list.map((r) => [
          r.id,
          r.readModels.join(', '),
          r.state,
          r.phase,
          progress(r),
          `${r.position} / ${r.targetPosition}`,
          fmt.number(r.eventsPerSecond, 0),
          fmt.number(r.etaSeconds, 0),
          fmt.dateTime(r.startedAt),
          fmt.dateTime(r.finishedAt),
          r.message ?? '–',
        ]),
      },
      'Rebuilds, newest first',
    ),
  );
}

function renderRates(
  target: HTMLElement,
  ticks: Tick[],
  ingested: Map<string, number>,
  ingestErrors: Map<string, number>,
  classes: Map<string, number>,
): void {
  clear(target);
  // per-second rates between consecutive samples (counters only grow; a restart resets them: clamp at 0)
  const pairs = ticks.slice(1).map((t, i) => {
    const p = ticks[i];
    const dt = Math.max(t.at - p.at, 1e-3);
    const rate = (a: number, b: number) => Math.max(0, (a - b) / dt);
    const requests = t.requests - p.requests;
    return {
      at: t.at,
      ingest: rate(t.ingested, p.ingested),
      ingestErrors: rate(t.ingestErrors, p.ingestErrors),
      errorShare: requests > 0 ? (100 * (t.errors5xx - p.errors5xx + (t.errors4xx - p.errors4xx))) / requests : 0,
    };
  });
  const total = [...classes.values()].reduce((a, b) => a + b, 0);
  const share = (k: string) => (total ? `${fmt.number((100 * (classes.get(k) ?? 0)) / total)}%` : '–');
  target.append(
    h(
      'dl',
      { class: 'cards' },
      h('div', {}, h('dt', {}, 'Events ingested (since start)'), h('dd', {}, String([...ingested.values()].reduce((a, b) => a + b, 0)))),
      h('div', {}, h('dt', {}, 'Ingest requests refused'), h('dd', {}, String([...ingestErrors.values()].reduce((a, b) => a + b, 0)))),
      h('div', {}, h('dt', {}, 'HTTP requests'), h('dd', {}, String(total))),
      h('div', {}, h('dt', {}, '4xx share'), h('dd', {}, share('4xx'))),
      h('div', {}, h('dt', {}, '5xx share'), h('dd', {}, share('5xx'))),
    ),
    h(
      'div',
      { class: 'split' },
      pairs.length
        ? lineChart({
            id: 'chart-ops-rates',
            title: 'Ingestion and errors while this view is open (per second; % of requests)',
            times: pairs.map((p) => p.at),
            xLabels: pairs.map((p) => new Date(p.at * 1000).toISOString().slice(11, 19)),
            lines: [
              { label: 'events/s', values: pairs.map((p) => p.ingest) },
              { label: 'ingest refusals/s', values: pairs.map((p) => p.ingestErrors) },
              { label: 'error responses %', values: pairs.map((p) => p.errorShare) },
            ],
            digits: 2,
          })
        : h('p', { class: 'reason' }, `Rates appear after the second sample (${EVERY_MS / 1000} s).`),
      barChart({
        id: 'chart-ops-outcomes',
        title: 'Ingested events by outcome, and refusals by error (since start)',
        labels: [...[...ingested.keys()].map((k) => `events: ${k}`), ...[...ingestErrors.keys()].map((k) => `refused: ${k}`)],
        values: [...ingested.values(), ...ingestErrors.values()],
        valueLabel: 'Count',
        digits: 0,
      }),
    ),
  );
}
