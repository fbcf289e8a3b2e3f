import uPlot from 'uplot';
import { h } from './dom';
import { DASHES, PALETTE } from './palette';

export interface Line {
  label: string;
  values: (number | null)[];
  colour?: string;
  dash?: number[];
  /** a target threshold: thin and dashed, no points */
  reference?: boolean;
}

export interface TableSpec {
  columns: string[];
  rows: (string | number)[][];
}

const HEIGHT = 240;

/** A chart in a <figure>: caption, the canvas (an image with a text summary), and its table behind a disclosure. */
function figure(id: string, title: string, summary: string, table: TableSpec): { fig: HTMLElement; plot: HTMLElement } {
  const plot = h('div', { class: 'plot', role: 'img', 'aria-label': `${title}: ${summary}` });
  const fig = h(
    'figure',
    { class: 'chart', id, 'data-chart': id },
    h('figcaption', {}, title),
    plot,
    h('details', { class: 'table-view' }, h('summary', {}, `Table: ${title}`), tableOf(table, title)),
  );
  return { fig, plot };
}

export function tableOf(spec: TableSpec, caption?: string): HTMLTableElement {
  return h(
    'table',
    {},
    caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        spec.columns.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h(
      'tbody',
      {},
      spec.rows.map((row) =>
        h(
          'tr',
          {},
          row.map((cell, i) => (i === 0 ? h('th', { scope: 'row' }, cell) : h('td', {}, cell))),
        ),
      ),
    ),
  );
}

/** uPlot keeps its own canvas size: follow the figure's width as the layout changes. */
function mount(plot: HTMLElement, make: (width: number) => uPlot): void {
  let chart: uPlot | undefined;
  const observer = new ResizeObserver(() => {
    const width = Math.max(240, Math.floor(plot.clientWidth));
    if (!chart) chart = make(width);
    else if (Math.abs(chart.width - width) > 4) chart.setSize({ width, height: HEIGHT });
  });
  observer.observe(plot);
}

const cell = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? '–' : Number(v.toFixed(digits)));

/** A time series chart: x in seconds since the epoch (bucket starts), one line per series. */
export function lineChart(o: {
  id: string;
  title: string;
  times: number[];
  xLabels: string[];
  lines: Line[];
  unit?: string;
  digits?: number;
}): HTMLElement {
  const digits = o.digits ?? 1;
  const drawn = o.lines.filter((l) => l.values.some((v) => v !== null));
  const summary = drawn.length
    ? `${o.lines.filter((l) => !l.reference).length} series over ${o.times.length} buckets; see the table below`
    : 'no data in this range';
  const { fig, plot } = figure(o.id, o.title, summary, {
    columns: ['Bucket', ...o.lines.map((l) => l.label)],
    rows: o.xLabels.map((x, i) => [x, ...o.lines.map((l) => cell(l.values[i], digits))]),
  });
  if (!drawn.length) {
    plot.append(h('p', { class: 'empty' }, 'No data in this range.'));
    return fig;
  }
  let colour = 0;
  mount(plot, (width) => {
    const series: uPlot.Series[] = [
      {},
      ...o.lines.map((l, i) => {
        const stroke = l.colour ?? PALETTE[colour++ % PALETTE.length];
        return {
          label: l.label,
          stroke,
          width: l.reference ? 1.5 : 2,
          dash: l.reference ? [6, 4] : (l.dash ?? DASHES[i % DASHES.length]),
          points: { show: !l.reference && o.times.length <= 60, size: 5 },
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : `${Number(v.toFixed(digits))}${o.unit ?? ''}`),
        };
      }),
    ];
    return new uPlot(
      { width, height: HEIGHT, series, axes: [{}, { size: 60 }], legend: { show: true }, cursor: { drag: { x: false, y: false } } },
      [o.times, ...o.lines.map((l) => l.values)] as uPlot.AlignedData,
      plot,
    );
  });
  return fig;
}

/** A bar chart over named categories (one bar per category; negative values go below zero). */
export function barChart(o: {
  id: string;
  title: string;
  labels: string[];
  values: number[];
  valueLabel: string;
  colours?: string[];
  digits?: number;
  extraColumns?: { name: string; values: (string | number)[] }[];
}): HTMLElement {
  const digits = o.digits ?? 2;
  const summary = o.labels.length ? `${o.labels.length} bars; see the table below` : 'nothing to show';
  const { fig, plot } = figure(o.id, o.title, summary, {
    columns: ['', o.valueLabel, ...(o.extraColumns ?? []).map((c) => c.name)],
    rows: o.labels.map((label, i) => [label, cell(o.values[i], digits), ...(o.extraColumns ?? []).map((c) => c.values[i])]),
  });
  if (!o.labels.length) {
    plot.append(h('p', { class: 'empty' }, 'Nothing to show.'));
    return fig;
  }
  const xs = o.labels.map((_, i) => i);
  const short = (s: string) => (s.length > 16 ? `${s.slice(0, 15)}…` : s);
  mount(plot, (width) => {
    const colours = o.colours;
    return new uPlot(
      {
        width,
        height: HEIGHT,
        scales: {
          x: { time: false, range: [-0.5, o.labels.length - 0.5] },
          // bars start at zero: a cut axis would exaggerate the differences
          y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] },
        },
        axes: [
          {
            splits: () => xs,
            values: (_u, splits) => splits.map((i) => short(o.labels[i] ?? '')),
            rotate: o.labels.length > 5 ? -25 : 0,
            size: o.labels.length > 5 ? 80 : 40,
          },
          { size: 60 },
        ],
        series: [
          { value: (_u, i) => (i === null ? '' : (o.labels[i] ?? '')) },
          {
            label: o.valueLabel,
            stroke: PALETTE[0],
            fill: colours ? undefined : `${PALETTE[0]}cc`,
            paths: uPlot.paths.bars!({
              size: [0.7, 80],
              ...(colours
                ? { disp: { fill: { unit: 3, values: () => colours.map((c) => `${c}cc`) }, stroke: { unit: 3, values: () => colours } } }
                : {}),
            }),
            points: { show: false },
            value: (_u, v) => (v === null ? '–' : String(Number(v.toFixed(digits)))),
          },
        ],
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
      },
      [xs, o.values] as uPlot.AlignedData,
      plot,
    );
  });
  return fig;
}
