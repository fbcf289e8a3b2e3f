import { ApiError, getJson } from '../api';
import { tableOf } from '../charts';
import { clear, fmt, h, showError, showStatus, statusLine } from '../dom';
import { showFactors } from './churn';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TIMELINE_PAGE = 20;

interface Customer360 {
  customerId: string;
  asOf: string;
  lifecycleStage: string;
  valueSegment: string;
  identifiers: Record<string, string[]>;
  firstSeenAt: string | null;
  lastSeenAt: string | null;
  eventCount: number;
  channels: Record<string, number>;
  purchases: number;
  refunds: number;
  lifetimeValue: { currency: string; purchased: number; refunded: number; net: number }[];
  scores: { nps: { score: number; category: string } | null; csat: { score: number } | null; ces: { score: number } | null };
  openCases: { caseId: string; openedAt: string; ageDays: number; category?: string; priority?: string; status?: string }[];
  complaints: { count: number; lastAt: string | null };
  subscriptions: { subscriptionId: string; plan?: string; status: string; statusAt: string }[];
  merges: { kind: string; mergeId: string; mergedIds?: string[]; survivorId?: string; at: string; rule?: string; identifiers?: string[] }[];
  churnRisk: { probability: number; band: string } | null;
}
interface TimelinePage {
  items: { position: number; type: string; occurredAt: string; channel: string | null; source: string }[];
  nextCursor?: string;
}
interface Milestones {
  cohort: string | null;
  milestones: { label: string; status: string; reachedAt: string | null; missedAt: string | null; daysToReach: number | null }[];
}

export function customerView(root: HTMLElement): void {
  const query = h('input', {
    id: 'cu-query',
    name: 'cu-query',
    type: 'search',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    size: 48,
    'aria-describedby': 'cu-hint',
  });
  const form = h(
    'form',
    { class: 'controls', role: 'search', 'aria-label': 'Find a customer' },
    h('div', { class: 'field' }, h('label', { for: 'cu-query' }, 'Identifier (kind:value) or customer id'), query),
    h('button', { type: 'submit' }, 'Find'),
  );
  const hint = h(
    'p',
    { id: 'cu-hint', class: 'reason' },
    'For example email:ana@example.com, phone:+31201234567, crm:CRM-123, or a customer id. The search is not kept in the address bar.',
  );
  const status = statusLine();
  const result = h('div', { id: 'customer-result' });
  root.append(form, hint, status, result);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void find(query.value.trim(), status, result);
  });
  query.focus();
}

async function find(text: string, status: HTMLElement, result: HTMLElement): Promise<void> {
  clear(result);
  if (!UUID.test(text) && !/^[a-z_-]+:.+/i.test(text)) {
    showError(status, 'Enter an identifier as kind:value (e.g. email:ana@example.com) or a customer id.');
    return;
  }
  showStatus(status, 'Looking up…');
  try {
    const customer = UUID.test(text)
      ? await getJson<Customer360>(`/v1/customers/${encodeURIComponent(text)}`)
      : await getJson<Customer360>('/v1/customers/lookup', { identifier: text });
    showStatus(status, `Found customer ${customer.customerId} (as of ${fmt.dateTime(customer.asOf)}).`);
    render(customer, result);
  } catch (e) {
    showError(status, e instanceof ApiError && e.status === 404 ? `No customer found: ${e.message}` : e);
  }
}

function render(c: Customer360, result: HTMLElement): void {
  const card = (label: string, value: string) => h('div', {}, h('dt', {}, label), h('dd', {}, value));
  const money = c.lifetimeValue.map((v) => `${fmt.number(v.net, 2)} ${v.currency}`).join(', ') || '–';
  result.append(
    h('h3', { id: 'customer-h', tabindex: -1 }, `Customer ${c.customerId}`),
    h(
      'dl',
      { class: 'cards', id: 'customer-360' },
      card('Lifecycle stage', c.lifecycleStage),
      card('Value segment', c.valueSegment),
      card('Churn risk', c.churnRisk ? `${fmt.percent(c.churnRisk.probability)} (${c.churnRisk.band})` : '–'),
      card('First seen', fmt.dateTime(c.firstSeenAt)),
      card('Last seen', fmt.dateTime(c.lastSeenAt)),
      card('Events', String(c.eventCount)),
      card('Net value', money),
      card('Purchases / refunds', `${c.purchases} / ${c.refunds}`),
      card('Complaints', `${c.complaints.count}${c.complaints.lastAt ? `, last ${fmt.date(c.complaints.lastAt)}` : ''}`),
      card('NPS', c.scores.nps ? `${c.scores.nps.score} (${c.scores.nps.category})` : '–'),
      card('CSAT', c.scores.csat ? String(c.scores.csat.score) : '–'),
      card('CES', c.scores.ces ? String(c.scores.ces.score) : '–'),
    ),
    h('h4', {}, 'Identifiers'),
    tableOf(
      { columns: ['Kind', 'Values'], rows: Object.entries(c.identifiers).map(([kind, values]) => [kind, values.join(', ')]) },
      'Identifiers',
    ),
    h('h4', {}, 'Channels'),
    tableOf({ columns: ['Channel', 'Events'], rows: Object.entries(c.channels).map(([ch, n]) => [ch, n]) }, 'Events per channel'),
    h('h4', {}, 'Open cases'),
    c.openCases.length
      ? tableOf(
          {
            columns: ['Case', 'Opened', 'Age (days)', 'Category', 'Priority', 'Status'],
            rows: c.openCases.map((o) => [
              o.caseId,
              fmt.date(o.openedAt),
              o.ageDays,
              o.category ?? '–',
              o.priority ?? '–',
              o.status ?? '–',
            ]),
          },
          'Open cases',
        )
      : h('p', {}, 'None.'),
    h('h4', {}, 'Subscriptions'),
    c.subscriptions.length
      ? tableOf(
          {
            columns: ['Subscription', 'Plan', 'Status', 'Since'],
            rows: c.subscriptions.map((s) => [s.subscriptionId, s.plan ?? '–', s.status, fmt.date(s.statusAt)]),
          },
          'Subscriptions',
        )
      : h('p', {}, 'None.'),
    h('h4', {}, 'Merge history'),
    c.merges.length
      ? h(
          'div',
          { id: 'customer-merges' },
          tableOf(
            {
              columns: ['When', 'Kind', 'Rule', 'Other customers', 'Identifiers'],
              rows: c.merges.map((m) => [
                fmt.dateTime(m.at),
                m.kind,
                m.rule ?? '–',
                (m.mergedIds ?? (m.survivorId ? [m.survivorId] : [])).join(', ') || '–',
                (m.identifiers ?? []).join(', ') || '–',
              ]),
            },
            'Merge history',
          ),
        )
      : h('p', { id: 'customer-merges' }, 'No merge.'),
  );
  const risk = h('section', { id: 'customer-risk' });
  const milestones = h('section', { id: 'customer-milestones' });
  const timeline = h('section', { id: 'customer-timeline' });
  result.append(h('h4', {}, 'Current churn risk'), risk, h('h4', {}, 'Milestones'), milestones, h('h4', {}, 'Timeline'), timeline);
  result.querySelector<HTMLElement>('#customer-h')?.focus();
  void showFactors(c.customerId, risk, false);
  void loadMilestones(c.customerId, milestones);
  void loadTimeline(c.customerId, timeline);
}

async function loadMilestones(id: string, target: HTMLElement): Promise<void> {
  try {
    const m = await getJson<Milestones>(`/v1/milestones/customers/${encodeURIComponent(id)}`);
    target.append(
      h('p', {}, `Cohort (month of the first touch): ${m.cohort ?? '–'}.`),
      tableOf(
        {
          columns: ['Milestone', 'Status', 'Reached', 'Days to reach', 'Missed at'],
          rows: m.milestones.map((x) => [
            x.label,
            x.status,
            fmt.dateTime(x.reachedAt),
            fmt.number(x.daysToReach),
            fmt.dateTime(x.missedAt),
          ]),
        },
        'Milestones',
      ),
    );
  } catch (e) {
    const status = statusLine();
    target.append(status);
    showError(status, e);
  }
}

/** The timeline, a page at a time (keyset cursors kept here, never in the URL). */
async function loadTimeline(id: string, target: HTMLElement): Promise<void> {
  const cursors: (string | undefined)[] = [undefined];
  let index = 0;
  const status = statusLine();
  const table = h('div', { class: 'scroll' });
  const previous = h('button', { type: 'button', class: 'secondary', id: 'timeline-previous' }, 'Previous events');
  const next = h('button', { type: 'button', class: 'secondary', id: 'timeline-next' }, 'Next events');
  target.append(status, table, h('div', { class: 'pager' }, previous, next));
  async function show(): Promise<void> {
    try {
      const page = await getJson<TimelinePage>(`/v1/customers/${encodeURIComponent(id)}/timeline`, {
        limit: TIMELINE_PAGE,
        cursor: cursors[index],
      });
      cursors[index + 1] = page.nextCursor;
      clear(table);
      table.append(
        tableOf(
          {
            columns: ['When', 'Event', 'Channel', 'Source', 'Position'],
            rows: page.items.map((e) => [fmt.dateTime(e.occurredAt), e.type, e.channel ?? '–', e.source, e.position]),
          },
          'Timeline',
        ),
      );
      previous.disabled = index === 0;
      next.disabled = !page.nextCursor;
      showStatus(status, `Events ${index * TIMELINE_PAGE + 1}–${index * TIMELINE_PAGE + page.items.length}, oldest first.`);
    } catch (e) {
      showError(status, e);
    }
  }
  previous.addEventListener('click', () => {
    index--;
    void show();
  });
  next.addEventListener('click', () => {
    index++;
    void show();
  });
  await show();
}
