import { deterministicUuid, type ChurnModelFittedV1 } from '@cem/domain';
import { WrongExpectedRevisionError, type EventStore } from '@cem/event-store';
import { CustomerStates } from '../kit/customer-states';
import { toProjectedRecord } from '../projector/projection-lane';
import { customerHistoryOf } from '../audit/customer-log';
import { churnFactsModel, foldChurnFacts, type ChurnFacts } from './churn-facts';
import { backtestChurnModel, fitChurnModel, ChurnFitError, type BacktestReport } from './model/fit-churn-model';

/** The stream every fitted model is appended to: its revision + 1 is the model's version. */
export const CHURN_MODEL_STREAM = 'churn-model';
const READ_PAGE = 10_000;

/**
 * Every customer's churn facts folded straight from the log (the same fold and merge rules as the
 * projection), for fitting and backtesting without a read store. Events at or after `before` are
 * not read. Memory grows with the customers' facts, not with the log's other events.
 */
export async function churnFactsFromLog(
  store: EventStore,
  options: { before?: number; progress?: (events: number) => void } = {},
): Promise<ChurnFacts[]> {
  const customers = new CustomerStates(churnFactsModel);
  let after = 0;
  let read = 0;
  for (;;) {
    const page = await store.readAll({ after, maxCount: READ_PAGE });
    const records = page.map(toProjectedRecord);
    await customers.preloadHistories(records, customerHistoryOf(store));
    for (const record of records) {
      if (options.before === undefined || Date.parse(record.metadata.occurredAt) < options.before) {
        const route = customers.route(record);
        if (route.kind === 'event') foldChurnFacts(route.owner, record);
      }
    }
    read += page.length;
    options.progress?.(read);
    if (page.length < READ_PAGE) break;
    after = page[page.length - 1].position;
  }
  return [...customers.all()];
}

export interface ChurnCommandOptions {
  asOf: number;
  horizonDays: number;
  bandThresholds?: [number, number, number];
  progress?: (message: string) => void;
}

async function nextVersion(store: EventStore): Promise<number> {
  const revision = (await store.streamRevisions([CHURN_MODEL_STREAM])).get(CHURN_MODEL_STREAM) ?? -1;
  return revision + 2;
}

/**
 * `cem churn fit`: fits on the log as of `asOf` and appends `churn-model.fitted` (version = the
 * model stream's revision + 1, appended with that expected revision, so two concurrent fits cannot
 * both claim a version). Nothing is written when the fit is refused.
 */
export async function fitAndStoreChurnModel(store: EventStore, options: ChurnCommandOptions): Promise<ChurnModelFittedV1> {
  const facts = await churnFactsFromLog(store, { before: options.asOf, progress: (n) => options.progress?.(`read ${n} events`) });
  const version = await nextVersion(store);
  const fitted = fitChurnModel(facts, { ...options, version, progress: options.progress });
  try {
    await store.appendToStream(
      CHURN_MODEL_STREAM,
      [
        {
          eventId: deterministicUuid('churn-model.fitted', String(version)),
          type: 'churn-model.fitted',
          data: fitted,
          metadata: { schemaVersion: 1, occurredAt: new Date(options.asOf).toISOString(), source: 'cem/churn-fit' },
        },
      ],
      { expectedRevision: version === 1 ? 'no_stream' : version - 2 },
    );
  } catch (e) {
    if (e instanceof WrongExpectedRevisionError) throw new ChurnFitError('another fit stored a model meanwhile: run the fit again');
    throw e;
  }
  return fitted;
}

/** `cem churn backtest`: fits as of `asOf`, scores, checks the horizon after it; writes nothing. */
export async function backtestOnLog(store: EventStore, options: ChurnCommandOptions): Promise<BacktestReport> {
  const facts = await churnFactsFromLog(store, { progress: (n) => options.progress?.(`read ${n} events`) });
  const version = (await nextVersion(store)) - 1;
  return backtestChurnModel(facts, { ...options, version, progress: options.progress });
}
