import { getJson } from '../api';
import { lineChart, type Line } from '../charts';
import { clear, fmt, h, input, select, latestOnly, showStatus, statusLine } from '../dom';
import { PALETTE } from '../palette';

interface Point {
  bucket: string;
  start: string;
  value: number | null;
  [part: string]: string | number | null;
}
interface SeriesAnswer {
  metric: string;
  summary: string;
  series: { slice: string; points: Point[] }[];
}
interface TargetSummary {
  targetId: string;
  target: {
    name: string;
    metric: string;
    slice: { dimension: string; value: string } | null;
    direction: string;
    threshold: number;
    startDate: string;
    dueDate: string;
  };
  status: { status: string; reason: string; current: number | null; projected: number | null };
}

/** The programme's headline metrics, in the order analysts read them. */
const METRICS: {
  name: string;
  title: string;
  unit?: string;
  parts?: { part: string; label: string }[];
  scale?: number;
  digits?: number;
}[] = [
  { name: 'nps', title: 'NPS' },
  { name: 'csat', title: 'CSAT (mean, 1–5)', digits: 2 },
  { name: 'ces', title: 'CES (mean, 1–7)', digits: 2 },
  { name: 'first-contact-resolution', title: 'First-contact resolution (%)', unit: '%' },
  {
    name: 'resolution-time',
    title: 'Resolution time (hours)',
    unit: ' h',
    scale: 1 / 3600,
    parts: [
      { part: 'p50', label: 'p50' },
      { part: 'p90', label: 'p90' },
    ],
  },
  { name: 'contacts', title: 'Contacts', digits: 0 },
  { name: 'complaints', title: 'Complaints', digits: 0 },
];

const SEGMENTS = ['none', 'low', 'medium', 'high', 'strategic'];

function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** Default range: the twelve whole months before the current one, and the current one. */
function defaultRange(): { from: string; to: string } {
  const now = new Date();
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  const from = new Date(Date.UTC(now.getUTCFullYear() - 1, now.getUTCMonth(), 1));
  return { from: isoDate(from), to: isoDate(to) };
}

export function overviewView(root: HTMLElement): void {
  const range = defaultRange();
  const bucket = select('ov-bucket', 'Bucket', ['day', 'week', 'month'], 'month');
  const from = input('ov-from', 'From', { type: 'date', value: range.from, required: true });
  const to = input('ov-to', 'To (exclusive)', { type: 'date', value: range.to, required: true });
  const slice = select('ov-slice', 'Slice by', [['', 'All customers (total)'], 'channel', 'segment'], '');
  const segment = select('ov-segment', 'Segment filter', [['', 'Every segment'], ...SEGMENTS], '');
  const status = statusLine();
  const targets = h('section', { class: 'targets', 'aria-labelledby': 'ov-targets-h' });
  const grid = h('div', { class: 'grid', id: 'overview-charts' });
  const form = h(
    'form',
    { class: 'controls', 'aria-label': 'Overview filters' },
    bucket.field,
    from.field,
    to.field,
    slice.field,
    segment.field,
  );
  root.append(form, status, targets, grid);

  const load = latestOnly(status, async (current) => {
    const params = {
      bucket: bucket.control.value,
      from: from.control.value,
      to: to.control.value,
      sliceBy: slice.control.value || undefined,
      // sliced by segment, a segment filter would fight the slices: the API accepts only one dimension pair
      filter: segment.control.value && slice.control.value !== 'segment' ? [`segment:${segment.control.value}`] : undefined,
    };
    const [answers, targetList] = await Promise.all([
      Promise.all(METRICS.map((m) => getJson<SeriesAnswer>('/v1/experience-metrics/series', { metric: m.name, ...params }))),
      getJson<{ items: TargetSummary[] }>('/v1/targets'),
    ]);
    if (!current()) return;
    clear(grid);
    METRICS.forEach((m, i) => grid.append(chartOf(m, answers[i], targetList.items, params.filter?.[0])));
    renderTargets(targets, targetList.items);
    showStatus(
      status,
      `Showing ${params.from} to ${params.to} by ${params.bucket}${params.sliceBy ? `, sliced by ${params.sliceBy}` : ''}${params.filter ? `, ${params.filter[0]}` : ''}.`,
    );
  });
  form.addEventListener('change', () => load());
  form.addEventListener('submit', (e) => e.preventDefault());
  load();
}

function chartOf(m: (typeof METRICS)[number], answer: SeriesAnswer, targets: TargetSummary[], filter: string | undefined): HTMLElement {
  const first = answer.series[0]?.points ?? [];
  const times = first.map((p) => Date.parse(p.start) / 1000);
  const scale = (v: unknown) => (typeof v === 'number' ? v * (m.scale ?? 1) : null);
  const lines: Line[] = [];
  const sliced = answer.series.length > 1 || (answer.series[0] && answer.series[0].slice !== '*');
  for (const s of answer.series) {
    if (m.parts && !sliced) for (const p of m.parts) lines.push({ label: p.label, values: s.points.map((pt) => scale(pt[p.part])) });
    else lines.push({ label: s.slice === '*' ? m.title.replace(/ \(.*$/, '') : s.slice, values: s.points.map((pt) => scale(pt.value)) });
  }
  // the targets on this metric and this slice (all customers, or the filtered segment), drawn over their period
  const applicable = targets.filter(
    (t) =>
      t.target.metric === m.name &&
      (t.target.slice ? `${t.target.slice.dimension}:${t.target.slice.value}` === filter : filter === undefined),
  );
  for (const t of applicable) {
    const start = Date.parse(`${t.target.startDate}T00:00:00Z`) / 1000;
    const due = Date.parse(`${t.target.dueDate}T00:00:00Z`) / 1000 + 86_400;
    lines.push({
      label: `Target ${t.target.name} (${t.target.direction} ${t.target.threshold}): ${t.status.status}`,
      values: times.map((x) => (x >= start && x < due ? t.target.threshold * (m.scale ?? 1) : null)),
      colour: PALETTE[4],
      reference: true,
    });
  }
  return lineChart({
    id: `chart-${m.name}`,
    title: m.title,
    times,
    xLabels: first.map((p) => p.bucket),
    lines,
    unit: m.unit,
    digits: m.digits,
  });
}

function renderTargets(section: HTMLElement, items: TargetSummary[]): void {
  clear(section);
  section.append(h('h3', { id: 'ov-targets-h' }, 'Programme targets'));
  if (!items.length) {
    section.append(h('p', {}, 'No target is set yet (an analyst creates them with POST /v1/targets).'));
    return;
  }
  section.append(
    h(
      'ul',
      { class: 'target-list' },
      items.map((t) =>
        h(
          'li',
          {},
          h('span', { class: `badge status-${t.status.status}` }, t.status.status),
          ' ',
          h('strong', {}, t.target.name),
          ` — ${t.target.metric}${t.target.slice ? ` (${t.target.slice.dimension} ${t.target.slice.value})` : ''} ${t.target.direction} ${t.target.threshold} by ${t.target.dueDate}; now ${fmt.number(t.status.current)}, projected ${fmt.number(t.status.projected)}. `,
          h('span', { class: 'reason' }, t.status.reason),
        ),
      ),
    ),
  );
}
