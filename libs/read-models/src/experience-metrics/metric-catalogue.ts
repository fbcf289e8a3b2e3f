import type { ContactCosts } from '@cem/config';
import { MONEY_SCALE } from '../customer-360/customer-360.state';
import type { BucketTotals, Counter } from './bucket-totals';
import { percentilesOf } from './quantile-bins';

/*
 * The metrics an analyst asks for, each computed from a bucket's totals. One written definition of
 * each is in docs/experience-metrics.md; the names here are the API's `metric` values.
 */

/** One point of a series: `value` is the headline figure (null when its denominator is 0), the rest its parts. */
export type MetricPoint = { value: number | null } & Record<string, number | null>;

const n = (t: BucketTotals, c: Counter): number => t.c[c] ?? 0;
const MEDIAN_AND_P90 = [0.5, 0.9] as const;
const ratio = (num: number, den: number, scale = 100): number | null => (den === 0 ? null : (scale * num) / den);
const round = (v: number | null, digits = 4): number | null => (v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits);
const money = (units: number): number => units / MONEY_SCALE;

/**
 * Figures of a bucket that are not sums of its rows, found by the query when a metric needs them
 * (a week's distinct customers are not the sum of its days' distinct customers).
 */
export interface QueryFigures {
  /** distinct customers (merges resolved as of now) with a handled contact in the bucket and slice */
  contactingCustomers?: number;
  /** customers whose first event is before the end of the bucket (merged customers once), whatever the slice */
  customersKnown?: number;
  /** CONTACT_COSTS: cost of a handled contact per channel */
  contactCosts?: ContactCosts;
  /** live customers at the bucket's start and end, and what the churns by inactivity that have happened by now add to it */
  lifecycle?: LifecycleFigures;
}

/** The running totals and clock-dependent parts of the retention and churn metrics (customer-lifecycle.ts). */
export interface LifecycleFigures {
  activeAtStart: number;
  activeAtEnd: number;
  /** churns by inactivity after a customer's last touch, in the bucket and passed by now: distinct churned customers they add */
  pendingChurned: number;
  /** ... and customers they make lost in the bucket */
  pendingLost: number;
}
export type QueryFigure = keyof QueryFigures;

export interface MetricDefinition {
  /** what the value is, in a few words (the OpenAPI document and the CSV header use it) */
  summary: string;
  /** the parts a point carries besides `value` */
  parts: readonly string[];
  /** what the query must find besides the bucket rows */
  needs?: readonly QueryFigure[];
  /** true: the metric reads percentile bins or contacts per channel (`h`), not only counters */
  readsMeasures?: boolean;
  /** true: a figure of the customer base, not of events; no slice or filter applies (docs/experience-metrics.md says why) */
  unsliced?: boolean;
  compute(t: BucketTotals, figures: QueryFigures): MetricPoint;
}

const timeMetric = (
  summary: string,
  sum: Counter,
  count: Counter,
  measure: 'handleSeconds' | 'waitSeconds' | 'resolutionSeconds',
  sumUnitsPerSecond = 1,
) => ({
  summary,
  parts: ['mean', 'p50', 'p90', 'count'],
  readsMeasures: true,
  compute(t: BucketTotals): MetricPoint {
    const [median, p90] = percentilesOf(t.h[measure] ?? {}, MEDIAN_AND_P90);
    const p50 = round(median, 2);
    return {
      value: p50,
      mean: round(ratio(n(t, sum) / sumUnitsPerSecond, n(t, count), 1), 2),
      p50,
      p90: round(p90, 2),
      count: n(t, count),
    };
  },
});

export const METRICS = {
  nps: {
    summary: 'Net Promoter Score: % promoters (9-10) minus % detractors (0-6) of the NPS answers',
    parts: ['promoters', 'passives', 'detractors', 'responses'],
    compute(t) {
      const [p, pa, d] = [n(t, 'npsPromoters'), n(t, 'npsPassives'), n(t, 'npsDetractors')];
      const all = p + pa + d;
      return { value: round(ratio(p - d, all)), promoters: p, passives: pa, detractors: d, responses: all };
    },
  },
  csat: {
    summary: 'CSAT: mean of the 1-5 answers; satisfiedPercent = % answering 4 or 5',
    parts: ['satisfiedPercent', 'responses'],
    compute(t) {
      const all = n(t, 'csatResponses');
      return { value: round(ratio(n(t, 'csatSum'), all, 1)), satisfiedPercent: round(ratio(n(t, 'csatSatisfied'), all)), responses: all };
    },
  },
  ces: {
    summary: 'CES: mean of the 1-7 answers (7 = very easy); lowEffortPercent = % answering 5, 6 or 7',
    parts: ['lowEffortPercent', 'responses'],
    compute(t) {
      const all = n(t, 'cesResponses');
      return { value: round(ratio(n(t, 'cesSum'), all, 1)), lowEffortPercent: round(ratio(n(t, 'cesLowEffort'), all)), responses: all };
    },
  },
  'first-contact-resolution': {
    summary: '% of the cases resolved in the bucket that were resolved at first contact, of those whose resolution says',
    parts: ['resolvedAtFirstContact', 'resolvedWithFlag'],
    compute(t) {
      const known = n(t, 'casesFcrKnown');
      return { value: round(ratio(n(t, 'casesFcr'), known)), resolvedAtFirstContact: n(t, 'casesFcr'), resolvedWithFlag: known };
    },
  },
  'handle-time': timeMetric('Handle time of handled contacts, seconds: value = p50', 'handleSecondsSum', 'contacts', 'handleSeconds'),
  'wait-time': timeMetric(
    'Wait time of handled contacts that report one, seconds: value = p50',
    'waitSecondsSum',
    'waitContacts',
    'waitSeconds',
  ),
  contacts: {
    summary: 'Handled contacts (contact.handled events)',
    parts: [],
    compute: (t) => ({ value: n(t, 'contacts') }),
  },
  'repeat-contact-rate': {
    summary:
      '% of the handled contacts with a reason that are repeats: the same customer had a contact with the same reason at most REPEAT_CONTACT_WINDOW_DAYS before',
    parts: ['repeats', 'contactsWithReason'],
    compute(t) {
      const withReason = n(t, 'contactsWithReason');
      return { value: round(ratio(n(t, 'repeatContacts'), withReason)), repeats: n(t, 'repeatContacts'), contactsWithReason: withReason };
    },
  },
  'contacts-per-customer': {
    summary: 'Handled contacts per distinct customer contacting in the bucket (merged customers counted once)',
    parts: ['contacts', 'customers'],
    needs: ['contactingCustomers'],
    compute(t, figures) {
      const customers = figures.contactingCustomers ?? 0;
      return { value: round(ratio(n(t, 'contacts'), customers, 1)), contacts: n(t, 'contacts'), customers };
    },
  },
  'cases-opened': {
    summary: 'Cases opened: distinct case ids whose opening (earliest event) is in the bucket',
    parts: [],
    compute: (t) => ({ value: n(t, 'casesOpened') }),
  },
  'cases-resolved': {
    summary: 'Cases resolved: distinct case ids, not open now, whose final resolution is in the bucket',
    parts: [],
    compute: (t) => ({ value: n(t, 'casesResolved') }),
  },
  'case-backlog': {
    summary: 'Cases open at the end of the bucket: opened by then, not finished (final resolution or closing) by then',
    parts: ['opened', 'finished'],
    // computed by the query from running totals (see ExperienceMetricsQueries.series)
    compute: (t) => ({ value: null, opened: n(t, 'casesOpened'), finished: n(t, 'casesFinished') }),
  },
  'resolution-time': timeMetric(
    'Resolution time of the cases resolved in the bucket, seconds: final resolution minus opening; value = p50',
    'resolutionMsSum',
    'casesResolved',
    'resolutionSeconds',
    1000,
  ),
  'reopen-rate': {
    summary: '% of the cases opened in the bucket that were reopened at least once',
    parts: ['reopened', 'opened'],
    compute(t) {
      const opened = n(t, 'casesOpened');
      return { value: round(ratio(n(t, 'casesReopened'), opened)), reopened: n(t, 'casesReopened'), opened };
    },
  },
  'escalation-rate': {
    summary: '% of the cases opened in the bucket that were escalated at least once',
    parts: ['escalated', 'opened'],
    compute(t) {
      const opened = n(t, 'casesOpened');
      return { value: round(ratio(n(t, 'casesEscalated'), opened)), escalated: n(t, 'casesEscalated'), opened };
    },
  },
  purchases: {
    summary: 'Purchases completed; netValue = purchase amounts minus refund amounts (major units, currencies added as is)',
    parts: ['amount', 'netValue'],
    compute(t) {
      const amount = money(n(t, 'purchaseUnits'));
      return { value: n(t, 'purchases'), amount, netValue: money(n(t, 'purchaseUnits') - n(t, 'refundUnits')) };
    },
  },
  refunds: {
    summary: 'Refunds issued, with their amount (major units)',
    parts: ['amount'],
    compute: (t) => ({ value: n(t, 'refunds'), amount: money(n(t, 'refundUnits')) }),
  },
  cancellations: {
    summary: 'Orders cancelled (order.cancelled events)',
    parts: [],
    compute: (t) => ({ value: n(t, 'cancellations') }),
  },
  complaints: {
    summary: 'Complaints filed (complaint.filed events)',
    parts: [],
    compute: (t) => ({ value: n(t, 'complaints') }),
  },
  'complaint-rate': {
    summary: 'Complaints filed in the bucket per 1,000 customers known by its end (first event before the end; unsliced denominator)',
    parts: ['complaints', 'customers'],
    needs: ['customersKnown'],
    compute(t, figures) {
      const customers = figures.customersKnown ?? 0;
      return { value: round(ratio(n(t, 'complaints'), customers, 1000)), complaints: n(t, 'complaints'), customers };
    },
  },
  'churned-customers': {
    summary:
      'Customers whose lifecycle stage became churned in the bucket (the customer 360 rules; each customer once per bucket); unsliced',
    parts: ['activeAtStart', 'acquired', 'wonBack', 'activeAtEnd'],
    needs: ['lifecycle'],
    unsliced: true,
    compute(t, figures) {
      const f = figures.lifecycle ?? { activeAtStart: 0, activeAtEnd: 0, pendingChurned: 0, pendingLost: 0 };
      return {
        value: n(t, 'customersChurned') + f.pendingChurned,
        activeAtStart: f.activeAtStart,
        acquired: n(t, 'customersAcquired'),
        wonBack: n(t, 'customersWonBack'),
        activeAtEnd: f.activeAtEnd,
      };
    },
  },
  'retained-customers': {
    summary:
      'Customers live (neither prospect nor churned) at the start of the bucket and still live at its end; retentionRate = % of those live at the start; unsliced',
    parts: ['retentionRate', 'activeAtStart', 'lost'],
    needs: ['lifecycle'],
    unsliced: true,
    compute(t, figures) {
      const f = figures.lifecycle ?? { activeAtStart: 0, activeAtEnd: 0, pendingChurned: 0, pendingLost: 0 };
      const lost = n(t, 'customersLost') + f.pendingLost;
      const retained = f.activeAtStart - lost;
      return { value: retained, retentionRate: round(ratio(retained, f.activeAtStart)), activeAtStart: f.activeAtStart, lost };
    },
  },
  'cost-to-serve': {
    summary:
      'Cost of the handled contacts at the configured cost per channel (CONTACT_COSTS); costPerCustomer over the contacting customers',
    parts: ['costedContacts', 'uncostedContacts', 'customers', 'costPerCustomer'],
    needs: ['contactCosts', 'contactingCustomers'],
    readsMeasures: true,
    compute(t, figures) {
      const costs = figures.contactCosts ?? {};
      let cost = 0;
      let costed = 0;
      for (const [channel, count] of Object.entries(t.h.contactChannels ?? {})) {
        if (!Object.prototype.hasOwnProperty.call(costs, channel)) continue;
        cost += count * costs[channel];
        costed += count;
      }
      const customers = figures.contactingCustomers ?? 0;
      return {
        value: round(cost),
        costedContacts: costed,
        uncostedContacts: n(t, 'contacts') - costed,
        customers,
        costPerCustomer: round(ratio(cost, customers, 1)),
      };
    },
  },
} satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];
export const isMetricName = (value: string): value is MetricName => Object.prototype.hasOwnProperty.call(METRICS, value);
