import type { Command } from 'commander';
import { churnBandThresholdsOf } from '@cem/config';
import { ChurnFitError, backtestOnLog, fitAndStoreChurnModel, parseHorizonDays, type BacktestReport } from '@cem/read-models/churn-risk';
import { withPlatform } from '../with-platform';

interface ChurnOptions {
  asOf?: string;
  horizon: string;
  bands?: string;
  json?: boolean;
  progress: boolean;
}

/** `--as-of`: an ISO-8601 date or instant, not in the future; default now. */
export function parseAsOf(text: string | undefined, now = Date.now()): number {
  if (text === undefined) return now;
  const ms = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(ms))
    throw new ChurnFitError(`--as-of "${text}": expected an ISO-8601 date or instant, e.g. 1997-09-30 or 2026-10-01T00:00:00Z`);
  if (ms > now) throw new ChurnFitError(`--as-of "${text}": is in the future`);
  return ms;
}

function parseBands(text: string | undefined): [number, number, number] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map(Number);
  if (parts.length !== 3 || parts.some((p) => !(p > 0 && p < 1)) || !(parts[0] < parts[1] && parts[1] < parts[2]))
    throw new ChurnFitError(`--bands "${text}": expected three rising probabilities between 0 and 1, e.g. 0.25,0.5,0.75`);
  return parts as [number, number, number];
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function formatBacktest(r: BacktestReport): string {
  const lines = [
    `backtest as of ${r.asOf}, horizon ${r.horizonDays} days: ${r.customers} customers, ${r.churned} churned (${pct(r.churnRate)})`,
    `model ${r.model.name} (trained on a ${r.model.trainingWindowDays}-day window, ${r.model.figures.trainingCustomers} customers)`,
    `BG/NBD fit: r=${r.model.bgNbd.r.toFixed(3)} alpha=${r.model.bgNbd.alpha.toFixed(3)} a=${r.model.bgNbd.a.toFixed(3)} b=${r.model.bgNbd.b.toFixed(3)} (log-likelihood ${r.model.bgNbd.logLikelihood.toFixed(1)})`,
    '',
    `AUC (ROC)              risk model ${r.auc.toFixed(4)}   BG/NBD alone ${r.baselineAuc.toFixed(4)}`,
    `lift in the top decile risk model ${r.topDecileLift.toFixed(3)}    BG/NBD alone ${r.baselineTopDecileLift.toFixed(3)}`,
    '',
    'band       customers  churned  precision  recall',
    ...r.bands.map(
      (b) =>
        `${b.band.padEnd(10)} ${String(b.customers).padStart(9)} ${String(b.churned).padStart(8)} ${pct(b.precision).padStart(10)} ${pct(b.recall).padStart(7)}`,
    ),
    '',
    'decile  customers  predicted  observed',
    ...r.calibration.map(
      (c) =>
        `${String(c.decile).padStart(6)} ${String(c.customers).padStart(10)} ${pct(c.predicted).padStart(10)} ${pct(c.observed).padStart(9)}`,
    ),
    '',
    'most frequent top factor (largest push towards churn)',
    ...r.topFactors.slice(0, 8).map((f) => `  ${f.name.padEnd(28)} ${f.customers}`),
  ];
  return lines.join('\n');
}

/**
 * `cem churn fit` and `cem churn backtest` (docs/churn-risk.md). Exit codes: 0 done, 1 refused
 * (bad option, empty log, no purchases, too short a history), nothing written then.
 */
export function registerChurnCommands(program: Command): void {
  const churn = program.command('churn').description('Churn-risk model: fit it on the log, backtest it (see docs/churn-risk.md)');
  const progress = (on: boolean) => (on ? (m: string) => process.stderr.write(`churn: ${m}\n`) : undefined);
  churn
    .command('fit')
    .description('Fit the churn-risk model on the log before --as-of and store it as a churn-model.fitted event (the next version)')
    .option('--as-of <iso>', 'read the log before this instant (default: now)')
    .option('--horizon <span>', 'the horizon the probability is for: 90d, 13w, 3m', '90d')
    .option(
      '--bands <p1,p2,p3>',
      'probability thresholds of the medium, high and critical bands (default: CHURN_BAND_THRESHOLDS, 0.25,0.5,0.75)',
    )
    .option('--no-progress', 'no progress output')
    .action(async (opts: ChurnOptions) => {
      const asOf = parseAsOf(opts.asOf);
      const horizonDays = horizonOf(opts.horizon);
      const bands = parseBands(opts.bands);
      const fitted = await withPlatform((p) =>
        fitAndStoreChurnModel(p.store, {
          asOf,
          horizonDays,
          bandThresholds: bands ?? churnBandThresholdsOf(p.config),
          progress: progress(opts.progress),
        }),
      );
      console.log(
        `stored ${fitted.name} version ${fitted.version} (as of ${fitted.asOf}, horizon ${fitted.horizonDays} days): ` +
          `BG/NBD r=${fitted.bgNbd.r.toFixed(3)} alpha=${fitted.bgNbd.alpha.toFixed(3)} a=${fitted.bgNbd.a.toFixed(3)} b=${fitted.bgNbd.b.toFixed(3)}; ` +
          `${fitted.figures.trainingCustomers} training customers, churn rate ${pct(fitted.figures.churnRate)}, training AUC ${fitted.figures.trainingAuc.toFixed(4)}`,
      );
    });
  churn
    .command('backtest')
    .description('Fit on the history before --as-of, score everyone then and compare with what happened in the horizon after it')
    .requiredOption('--as-of <iso>', 'the instant to score at (the fit sees only the log before it)')
    .option('--horizon <span>', 'the horizon checked after --as-of: 90d, 39w, 6m', '90d')
    .option(
      '--bands <p1,p2,p3>',
      'probability thresholds of the medium, high and critical bands (default: CHURN_BAND_THRESHOLDS, 0.25,0.5,0.75)',
    )
    .option('--json', 'print the report as one JSON object')
    .option('--no-progress', 'no progress output')
    .action(async (opts: ChurnOptions) => {
      const asOf = parseAsOf(opts.asOf);
      const horizonDays = horizonOf(opts.horizon);
      const bands = parseBands(opts.bands);
      const report = await withPlatform((p) =>
        backtestOnLog(p.store, {
          asOf,
          horizonDays,
          bandThresholds: bands ?? churnBandThresholdsOf(p.config),
          progress: progress(opts.progress),
        }),
      );
      console.log(opts.json ? JSON.stringify(report) : formatBacktest(report));
    });
}

function horizonOf(text: string): number {
  try {
    return parseHorizonDays(text);
  } catch (e) {
    throw new ChurnFitError(`--${(e as Error).message}`);
  }
}
