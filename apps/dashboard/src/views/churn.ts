import { downloadCsv, getJson } from '../api';
import { barChart, lineChart } from '../charts';
import { clear, fmt, h, input, select, latestOnly, showError, showStatus, statusLine } from '../dom';
import { BAND_COLOURS, PALETTE } from '../palette';

const BANDS = ['low', 'medium', 'high', 'critical'];
const SEGMENTS = ['none', 'low', 'medium', 'high', 'strategic'];
const STAGES = ['prospect', 'onboarding', 'active', 'at_risk', 'churned', 'won_back'];
const PAGE = 100;
/** The distribution is read as of the end of each of these last months (plus now). */
const MONTHS_BACK = 6;

interface Distribution {
  asOf: string;
  customers: number;
  bands: { band: string; customers: number }[];
}
interface AtRiskItem {
  customerId: string;
  probability: number;
  band: string;
  netValue: number;
  valueAtRisk: number;
  valueSegment: string;
  lifecycleStage: string;
  topFactor: { name: string; reason: string } | null;
}
interface Factor {
  name: string;
  value: number;
  contribution: number;
  reason: string;
}
interface Score {
  customerId: string;
  probability: number;
  band: string;
  factors: Factor[];
}

type Column = { key: keyof AtRiskItem; label: string; numeric?: boolean; show: (i: AtRiskItem) => string };
const COLUMNS: Column[] = [
  { key: 'customerId', label: 'Customer', show: (i) => i.customerId },
  { key: 'probability', label: 'Probability', numeric: true, show: (i) => fmt.percent(i.probability) },
  { key: 'band', label: 'Band', show: (i) => i.band },
  { key: 'valueAtRisk', label: 'Value at risk', numeric: true, show: (i) => fmt.number(i.valueAtRisk, 2) },
  { key: 'netValue', label: 'Net value', numeric: true, show: (i) => fmt.number(i.netValue, 2) },
  { key: 'valueSegment', label: 'Segment', show: (i) => i.valueSegment },
  { key: 'lifecycleStage', label: 'Stage', show: (i) => i.lifecycleStage },
  { key: 'topFactor', label: 'Top reason', show: (i) => i.topFactor?.reason ?? '–' },
];

export function churnView(root: HTMLElement): void {
  const distribution = h('div', { id: 'churn-distribution' });
  const distStatus = statusLine();
  root.append(h('h3', {}, 'Score distribution by band'), distStatus, distribution);
  void loadDistribution(distribution, distStatus);

  const band = select('ch-band', 'Band', [['', 'Every band'], ...BANDS], '');
  const segment = select('ch-segment', 'Segment', [['', 'Every segment'], ...SEGMENTS], '');
  const stage = select('ch-stage', 'Lifecycle stage', [['', 'Every stage'], ...STAGES], '');
  const minValue = input('ch-min-value', 'Minimum net value', { type: 'number', min: 0, step: 'any', inputmode: 'decimal' });
  const sort = select(
    'ch-sort',
    'Order (server)',
    [
      ['score', 'Probability, highest first'],
      ['valueAtRisk', 'Value at risk, highest first'],
    ],
    'score',
  );
  const csv = h('button', { type: 'button', id: 'ch-csv', class: 'secondary' }, 'Download CSV');
  const form = h(
    'form',
    { class: 'controls', 'aria-label': 'At-risk list filters' },
    band.field,
    segment.field,
    stage.field,
    minValue.field,
    sort.field,
    csv,
  );
  const listStatus = statusLine();
  const list = h('div', { id: 'churn-list', class: 'scroll' });
  const pager = h('div', { class: 'pager' });
  const factors = h('section', { id: 'churn-factors', 'aria-live': 'polite' });
  root.append(h('h3', {}, 'At-risk customers'), form, listStatus, h('div', { class: 'split' }, h('div', {}, list, pager), factors));

  const filters = () => ({
    band: band.control.value ? [band.control.value] : undefined,
    segment: segment.control.value ? [segment.control.value] : undefined,
    stage: stage.control.value ? [stage.control.value] : undefined,
    minValue: minValue.control.value || undefined,
    sort: sort.control.value,
  });

  let items: AtRiskItem[] = [];
  let cursors: (string | undefined)[] = [undefined];
  let pageIndex = 0;
  let nextCursor: string | undefined;
  let order: { key: keyof AtRiskItem; descending: boolean } | undefined;
  const loadPage = latestOnly(listStatus, async (current) => {
    const page = await getJson<{ items: AtRiskItem[]; nextCursor?: string }>('/v1/churn-risk', {
      ...filters(),
      limit: PAGE,
      cursor: cursors[pageIndex],
    });
    if (!current()) return;
    items = page.items;
    nextCursor = page.nextCursor;
    renderList();
    showStatus(listStatus, `${items.length} customers on page ${pageIndex + 1}${nextCursor ? ' (more on the next page)' : ''}.`);
  });

  function sorted(): AtRiskItem[] {
    if (!order) return items;
    const { key, descending } = order;
    const value = (i: AtRiskItem) => (key === 'topFactor' ? (i.topFactor?.reason ?? '') : i[key]);
    return [...items].sort((a, b) => {
      const [x, y] = [value(a), value(b)];
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return descending ? -c : c;
    });
  }

  function renderList(): void {
    clear(list);
    const header = h(
      'tr',
      {},
      COLUMNS.map((c) => {
        const state = order?.key === c.key ? (order.descending ? 'descending' : 'ascending') : 'none';
        const button = h(
          'button',
          { type: 'button', class: 'sort', 'data-sort': c.key },
          c.label,
          state === 'none' ? '' : state === 'ascending' ? ' ▲' : ' ▼',
        );
        button.addEventListener('click', () => {
          order = { key: c.key, descending: order?.key === c.key ? !order.descending : !!c.numeric };
          renderList();
          list.querySelector<HTMLButtonElement>(`button[data-sort="${c.key}"]`)?.focus();
        });
        return h('th', { scope: 'col', 'aria-sort': state, class: c.numeric ? '' : 'text' }, button);
      }),
    );
    const rows = sorted().map((item) => {
      const open = h('button', { type: 'button', class: 'secondary', 'aria-label': `Factors of ${item.customerId}` }, 'Factors');
      open.addEventListener('click', () => void showFactors(item.customerId, factors));
      return h(
        'tr',
        { 'data-customer': item.customerId },
        COLUMNS.map((c, i) =>
          i === 0 ? h('th', { scope: 'row', class: 'text' }, c.show(item)) : h('td', { class: c.numeric ? '' : 'text' }, c.show(item)),
        ),
        h('td', {}, open),
      );
    });
    header.append(h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Details')));
    list.append(
      h(
        'table',
        { id: 'at-risk-table' },
        h('caption', { class: 'visually-hidden' }, 'At-risk customers'),
        h('thead', {}, header),
        h('tbody', {}, rows),
      ),
    );
    clear(pager);
    const previous = h('button', { type: 'button', class: 'secondary', disabled: pageIndex === 0 }, 'Previous page');
    const next = h('button', { type: 'button', class: 'secondary', disabled: !nextCursor }, 'Next page');
    previous.addEventListener('click', () => {
      pageIndex--;
      loadPage();
    });
    next.addEventListener('click', () => {
      cursors = [...cursors.slice(0, pageIndex + 1), nextCursor];
      pageIndex++;
      loadPage();
    });
    pager.append(previous, next);
  }

  form.addEventListener('change', () => {
    cursors = [undefined];
    pageIndex = 0;
    loadPage();
  });
  form.addEventListener('submit', (e) => e.preventDefault());
  csv.addEventListener('click', () => {
    // the whole filtered list, as the API writes it (every page, one line per customer)
    showStatus(listStatus, 'Preparing the CSV…');
    downloadCsv('/v1/churn-risk', { ...filters(), limit: 500 }, 'churn-risk.csv')
      .then(({ lines, truncated }) =>
        showStatus(
          listStatus,
          `CSV downloaded: ${lines} customers${truncated ? ' (stopped at 100 pages: narrow the filters for the rest)' : ''}.`,
        ),
      )
      .catch((e) => showError(listStatus, e));
  });
  loadPage();
}

async function loadDistribution(target: HTMLElement, status: HTMLElement): Promise<void> {
  showStatus(status, 'Loading…');
  const now = new Date();
  // month ends, oldest first, then now
  const instants = Array.from({ length: MONTHS_BACK }, (_, i) =>
    new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - (MONTHS_BACK - 1 - i), 1)).toISOString(),
  );
  try {
    const answers = await Promise.all([
      ...instants.map((asOf) => getJson<Distribution>('/v1/churn-risk/distribution', { asOf })),
      getJson<Distribution>('/v1/churn-risk/distribution'),
    ]);
    clear(target);
    const times = answers.map((a) => Date.parse(a.asOf) / 1000);
    const lines = BANDS.map((band) => ({
      label: band,
      colour: BAND_COLOURS[band],
      values: answers.map((a) => a.bands.find((b) => b.band === band)?.customers ?? 0),
    }));
    const latest = answers[answers.length - 1];
    target.append(
      h(
        'div',
        { class: 'split' },
        lineChart({
          id: 'chart-churn-bands',
          title: 'Customers per band over time',
          times,
          xLabels: answers.map((a) => fmt.dateTime(a.asOf)),
          lines,
          digits: 0,
        }),
        barChart({
          id: 'chart-churn-now',
          title: `Customers per band now (${latest.customers} scored)`,
          labels: BANDS,
          values: BANDS.map((b) => latest.bands.find((x) => x.band === b)?.customers ?? 0),
          valueLabel: 'Customers',
          colours: BANDS.map((b) => BAND_COLOURS[b]),
          digits: 0,
        }),
      ),
    );
    showStatus(status, `Scored as of the first day of each of the last ${MONTHS_BACK} months, and now.`);
  } catch (e) {
    showError(status, e);
  }
}

/** A customer's factors: contributions to the log-odds as bars, each with its readable reason. */
export async function showFactors(customerId: string, target: HTMLElement, heading = true): Promise<void> {
  clear(target);
  const status = statusLine();
  target.append(status);
  showStatus(status, 'Loading the factors…');
  try {
    const score = await getJson<Score>(`/v1/churn-risk/customers/${encodeURIComponent(customerId)}`);
    clear(target);
    const shown = score.factors.filter((f) => f.contribution !== 0);
    if (heading) target.append(h('h3', { id: 'factors-h', tabindex: -1 }, `Why ${customerId.slice(0, 8)}… is at risk`));
    target.append(
      h(
        'p',
        {},
        `Probability ${fmt.percent(score.probability)}, band ${score.band}. Positive contributions raise the risk, negative ones lower it.`,
      ),
      barChart({
        id: 'chart-churn-factors',
        title: 'Factor contributions (log-odds)',
        labels: shown.map((f) => f.name),
        values: shown.map((f) => f.contribution),
        valueLabel: 'Contribution',
        colours: shown.map((f) => (f.contribution > 0 ? PALETTE[4] : PALETTE[0])),
        extraColumns: [{ name: 'Reason', values: shown.map((f) => f.reason) }],
      }),
      h(
        'ul',
        { class: 'reasons' },
        shown.map((f) => h('li', {}, h('strong', {}, f.contribution > 0 ? '↑ ' : '↓ '), f.reason)),
      ),
    );
    if (heading) target.querySelector<HTMLElement>('#factors-h')?.focus();
  } catch (e) {
    showError(status, e);
  }
}
