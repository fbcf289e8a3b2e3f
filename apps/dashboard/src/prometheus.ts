/** One sample of the Prometheus text format: `name{label="value",...} 12.5`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the exposition format the API's /metrics writes (comments and unparsable lines skipped). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = Number(m[3]);
    if (!Number.isNaN(value)) samples.push({ name: m[1], labels, value });
  }
  return samples;
}

/** The sum of a metric's samples, per value of one label (or `*` for the total). */
export function sumBy(samples: Sample[], name: string, label?: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = label ? (s.labels[label] ?? '') : '*';
    sums.set(key, (sums.get(key) ?? 0) + s.value);
  }
  return sums;
}

/** HTTP requests by status class (2xx, 4xx, 5xx...) from the request-duration histogram's counts. */
export function requestsByClass(samples: Sample[]): Map<string, number> {
  const classes = new Map<string, number>();
  for (const [status, n] of sumBy(samples, 'cem_http_request_duration_seconds_count', 'status')) {
    const key = `${status.charAt(0)}xx`;
    classes.set(key, (classes.get(key) ?? 0) + n);
  }
  return classes;
}
