import { getJson } from '../api';
import { barChart, lineChart } from '../charts';
import { clear, fmt, h, input, select, latestOnly, showError, showStatus, statusLine } from '../dom';

const SEGMENTS = ['none', 'low', 'medium', 'high', 'strategic'];

interface FunnelStep {
  milestoneId: string;
  label: string;
  customers: number;
  reached: number;
  missed: number;
  open: number;
  conversion: number | null;
  fromPrevious: number | null;
}
interface Funnel {
  asOf: string;
  definitionsVersion: number | null;
  groups: { steps: FunnelStep[] }[];
}
interface TimeToMilestone {
  items: {
    milestoneId: string;
    cohort?: string;
    reached: number;
    p50Days: number | null;
    p90Days: number | null;
    meanDays: number | null;
  }[];
}
interface Definitions {
  active: { milestones: { id: string; label: string }[] } | null;
}

export function journeyView(root: HTMLElement): void {
  const cohortFrom = input('jr-from', 'First cohort (month of first touch)', { type: 'month', placeholder: 'YYYY-MM' });
  const cohortTo = input('jr-to', 'Last cohort', { type: 'month', placeholder: 'YYYY-MM' });
  const segment = select('jr-segment', 'Segment', [['', 'Every segment'], ...SEGMENTS], '');
  const milestone = select('jr-milestone', 'Milestone (time to it)', [], '');
  const form = h(
    'form',
    { class: 'controls', 'aria-label': 'Journey filters' },
    cohortFrom.field,
    cohortTo.field,
    segment.field,
    milestone.field,
  );
  const status = statusLine();
  const charts = h('div', { class: 'split', id: 'journey-charts' });
  root.append(form, status, charts);

  const load = latestOnly(status, async (current) => {
    const slice = {
      cohortFrom: cohortFrom.control.value || undefined,
      cohortTo: cohortTo.control.value || undefined,
      segment: segment.control.value || undefined,
    };
    const [funnel, times] = await Promise.all([
      getJson<Funnel>('/v1/milestones/funnel', slice),
      getJson<TimeToMilestone>('/v1/milestones/time-to-milestone', {
        ...slice,
        groupBy: 'cohort',
        milestone: milestone.control.value || undefined,
      }),
    ]);
    if (!current()) return;
    clear(charts);
    const steps = funnel.groups[0]?.steps ?? [];
    charts.append(
      barChart({
        id: 'chart-funnel',
        title: `Milestone funnel (${steps[0]?.customers ?? 0} customers)`,
        labels: steps.map((s) => s.label),
        values: steps.map((s) => s.reached),
        valueLabel: 'Reached',
        digits: 0,
        extraColumns: [
          { name: 'Conversion', values: steps.map((s) => fmt.percent(s.conversion)) },
          { name: 'From previous', values: steps.map((s) => fmt.percent(s.fromPrevious)) },
          { name: 'Missed', values: steps.map((s) => s.missed) },
          { name: 'Open', values: steps.map((s) => s.open) },
        ],
      }),
    );
    const items = times.items.filter((i) => i.cohort);
    const cohorts = [...new Set(items.map((i) => i.cohort!))].sort();
    const ids = [...new Set(items.map((i) => i.milestoneId))];
    const label = (id: string) => steps.find((s) => s.milestoneId === id)?.label ?? id;
    const find = (id: string, cohort: string) => items.find((i) => i.milestoneId === id && i.cohort === cohort);
    const lines =
      ids.length === 1
        ? [
            { label: 'p50 days', values: cohorts.map((c) => find(ids[0], c)?.p50Days ?? null) },
            { label: 'p90 days', values: cohorts.map((c) => find(ids[0], c)?.p90Days ?? null) },
          ]
        : ids.map((id) => ({ label: `${label(id)} (p50)`, values: cohorts.map((c) => find(id, c)?.p50Days ?? null) }));
    charts.append(
      lineChart({
        id: 'chart-time-to-milestone',
        title: ids.length === 1 ? `Days to “${label(ids[0])}” by cohort` : 'Median days to each milestone by cohort',
        times: cohorts.map((c) => Date.parse(`${c}-01T00:00:00Z`) / 1000),
        xLabels: cohorts,
        lines,
        digits: 1,
      }),
    );
    showStatus(status, `Funnel as of ${fmt.dateTime(funnel.asOf)}, milestone definitions version ${funnel.definitionsVersion ?? '–'}.`);
  });

  // the milestone list comes from the active definitions
  getJson<Definitions>('/v1/milestones/definitions')
    .then((d) => {
      milestone.control.append(
        h('option', { value: '' }, 'Every milestone'),
        ...(d.active?.milestones ?? []).map((m) => h('option', { value: m.id }, m.label)),
      );
      milestone.control.value = '';
    })
    .catch((e) => showError(status, e));
  form.addEventListener('change', () => load());
  form.addEventListener('submit', (e) => e.preventDefault());
  load();
}
