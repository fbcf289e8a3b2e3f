import { contactCostsOf, DEFAULT_REPEAT_CONTACT_WINDOW_DAYS, repeatContactWindowDaysOf, type ContactCosts } from '@cem/config';
import { defineReadModel } from '../kit/read-model';
import { experienceMetricsProjection } from './experience-metrics.projection';
import { ExperienceMetricsQueries } from './experience-metrics.query';
import {
  EXPERIENCE_METRICS,
  EXPERIENCE_METRICS_TABLES,
  experienceMetricsMigrations,
  type ExperienceMetricsTables,
} from './experience-metrics.schema';

/** Bump when the projection's output changes for the same events. */
const PROJECTION_VERSION = 6;

/**
 * The read model's version: the projection's, the reporting time zone and the repeat-contact
 * window (UTC and the default window add 0), so a new METRICS_TIME_ZONE or
 * REPEAT_CONTACT_WINDOW_DAYS is a new version (see VersionChangePolicy).
 */
export function experienceMetricsVersion(timeZone: string, repeatContactWindowDays = DEFAULT_REPEAT_CONTACT_WINDOW_DAYS): number {
  const setting =
    (timeZone === 'UTC' ? '' : timeZone) +
    (repeatContactWindowDays === DEFAULT_REPEAT_CONTACT_WINDOW_DAYS ? '' : `|repeat-window=${repeatContactWindowDays}`);
  let hashed = 0;
  if (setting !== '') {
    // FNV-1a of the settings, kept below 1,000,000
    let h = 0x811c9dc5;
    for (let i = 0; i < setting.length; i++) h = Math.imul(h ^ setting.charCodeAt(i), 0x01000193) >>> 0;
    hashed = (h % 999_999) + 1;
  }
  return PROJECTION_VERSION * 1_000_000 + hashed;
}

export interface ExperienceMetricsOptions {
  /** CONTACT_COSTS; absent: read from the environment when the queries are made */
  contactCosts?: ContactCosts | null;
  /** REPEAT_CONTACT_WINDOW_DAYS; absent: the default, 7 */
  repeatContactWindowDays?: number;
}

/**
 * The experience metrics bucketed in `timeZone` (an IANA name). An unknown zone fails when the
 * projection starts, not here: this runs when the module is imported, before a process's
 * configuration check (@cem/config) can report METRICS_TIME_ZONE and exit cleanly.
 */
export function experienceMetricsReadModel(timeZone: string, options: ExperienceMetricsOptions = {}) {
  const repeatWindow = options.repeatContactWindowDays ?? DEFAULT_REPEAT_CONTACT_WINDOW_DAYS;
  return defineReadModel<ExperienceMetricsTables>()({
    name: EXPERIENCE_METRICS,
    version: experienceMetricsVersion(timeZone, repeatWindow),
    tables: EXPERIENCE_METRICS_TABLES,
    migrations: experienceMetricsMigrations,
    projection: experienceMetricsProjection(timeZone, repeatWindow),
    // CONTACT_COSTS is read when the queries are made (after the boot check), not at import
    queries: (db, { now }) =>
      new ExperienceMetricsQueries(db, timeZone, options.contactCosts !== undefined ? options.contactCosts : contactCostsOf(), now),
    // the same answers on every store: sliced and filtered series, percentiles, the backlog's running totals
    contractQueries: async (queries: ExperienceMetricsQueries) => {
      const range = { from: '2020-01-01', to: '2027-01-01' };
      return Promise.all([
        queries.seriesOf({ metric: 'nps', bucket: 'month', ...range, sliceBy: 'channel' }),
        queries.seriesOf({ metric: 'resolution-time', bucket: 'month', ...range, sliceBy: 'segment' }),
        queries.seriesOf({ metric: 'handle-time', bucket: 'week', from: '2025-01-01', to: '2026-12-31' }),
        queries.seriesOf({
          metric: 'case-backlog',
          bucket: 'month',
          from: '2025-06-01',
          to: '2027-01-01',
          filter: ['channel:phone', 'channel:email'],
        }),
        queries.seriesOf({ metric: 'purchases', bucket: 'day', from: '2025-03-01', to: '2025-06-01', sliceBy: 'source' }),
        queries.seriesOf({ metric: 'contacts-per-customer', bucket: 'week', ...range, sliceBy: 'channel' }),
        queries.seriesOf({ metric: 'contacts-per-customer', bucket: 'month', ...range, filter: ['segment:high', 'segment:low'] }),
        queries.seriesOf({ metric: 'complaint-rate', bucket: 'month', ...range, sliceBy: 'category' }),
        queries.seriesOf({ metric: 'repeat-contact-rate', bucket: 'month', ...range, sliceBy: 'agent' }),
        queries.seriesOf({ metric: 'repeat-contact-rate', bucket: 'week', ...range }),
        queries.seriesOf({ metric: 'csat', bucket: 'month', ...range, sliceBy: 'channel', filter: ['segment:high', 'segment:none'] }),
        queries.seriesOf({
          metric: 'case-backlog',
          bucket: 'week',
          from: '2025-06-01',
          to: '2026-06-01',
          filter: ['channel:phone', 'segment:low'],
        }),
        queries.seriesOf({ metric: 'churned-customers', bucket: 'month', ...range }),
        queries.seriesOf({ metric: 'retained-customers', bucket: 'week', from: '2025-01-01', to: '2026-12-31' }),
        queries
          .withContactCosts({ phone: 4.5, chat: 1.2, email: 0.8 })
          .seriesOf({ metric: 'cost-to-serve', bucket: 'month', ...range, sliceBy: 'segment' }),
      ]);
    },
  });
}

/** The reporting time zone of this process: METRICS_TIME_ZONE (validated at boot by @cem/config), default UTC. */
export const reportingTimeZone = (): string => process.env.METRICS_TIME_ZONE?.trim() || 'UTC';

/** The experience metrics of the platform (READ_MODELS), in the reporting time zone, with the configured repeat-contact window. */
export const experienceMetrics = experienceMetricsReadModel(reportingTimeZone(), { repeatContactWindowDays: repeatContactWindowDaysOf() });

export * from './bucket-totals';
export * from './case-facts';
export * from './experience-metrics.query';
export * from './experience-metrics.schema';
export * from './metric-catalogue';
export * from './metric-query';
export * from './quantile-bins';
export * from './slices';
export * from './time-buckets';
export { segmentModel, type SegmentState } from './experience-metrics.projection';
export * from './metric-series-source';
