import { parsePrometheus, requestsByClass, sumBy } from './prometheus';

// the API's /metrics, as prom-client writes it (an excerpt)
const TEXT = `# HELP cem_ingest_events_total Events acknowledged by ingest, by outcome
# TYPE cem_ingest_events_total counter
cem_ingest_events_total{outcome="written"} 1180
cem_ingest_events_total{outcome="duplicate"} 3
cem_http_request_duration_seconds_count{route="/v1/events::batch",method="POST",status="200"} 2
cem_http_request_duration_seconds_count{route="/v1/events",method="POST",status="422"} 5
cem_http_request_duration_seconds_count{route="/v1/me",method="GET",status="401"} 1
cem_http_request_duration_seconds_count{route="/v1/x",method="GET",status="503"} 1
cem_projection_lag_events{read_model="customer-360"} 0
cem_odd{label="a \\"quoted\\" value"} 1.5e3
`;

describe('the Prometheus text of /metrics, as the Operations view reads it', () => {
  const samples = parsePrometheus(TEXT);

  it('reads names, labels (escapes included) and values, skipping comments', () => {
    expect(samples).toHaveLength(8);
    expect(samples[0]).toEqual({ name: 'cem_ingest_events_total', labels: { outcome: 'written' }, value: 1180 });
    expect(samples[7]).toEqual({ name: 'cem_odd', labels: { label: 'a "quoted" value' }, value: 1500 });
  });

  it('sums a metric per label and in total', () => {
    expect(sumBy(samples, 'cem_ingest_events_total', 'outcome')).toEqual(
      new Map([
        ['written', 1180],
        ['duplicate', 3],
      ]),
    );
    expect(sumBy(samples, 'cem_ingest_events_total').get('*')).toBe(1183);
  });

  it('counts HTTP requests by status class', () => {
    expect(requestsByClass(samples)).toEqual(
      new Map([
        ['2xx', 2],
        ['4xx', 6],
        ['5xx', 1],
      ]),
    );
  });
});
