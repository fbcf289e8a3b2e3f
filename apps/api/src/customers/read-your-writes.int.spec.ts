import { Logger } from '@nestjs/common';
import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

// PROJECTOR=external and no projector process: the customer 360 never catches up, as when the
// projector is down or far behind
describe('read-your-writes (minPosition) when the read model lags', () => {
  let api: ApiHarness;
  beforeAll(async () => (api = await startApi({ PROJECTOR: 'external' })));
  afterAll(() => api.close());
  afterEach(() => jest.restoreAllMocks());

  const get = (url: string) => api.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${KEYS.analyst}` } });
  async function ingestOne(): Promise<{ customerId: string; position: number }> {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify(
        envelope({
          customer: { identifiers: [{ kind: 'email', value: 'lag@example.com' }] },
          type: 'web.visited',
          channel: 'web',
          data: { url: 'https://x.example.com/' },
        }),
      ),
    });
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  it('a position past the head of the log is refused at once with 422 naming minPosition', async () => {
    const { customerId, position } = await ingestOne();
    const started = Date.now();
    const res = await get(`/v1/customers/${customerId}?minPosition=${position + 1000}`);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([{ field: 'minPosition', reason: expect.stringMatching(/beyond the head of the log/) }]);
    // answered without the read-your-writes wait (5 s): a generous bound, not a benchmark
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('a read model that has not reached the position answers 503 projection_lagging with Retry-After, and logs nothing', async () => {
    const { customerId, position } = await ingestOne();
    const error = jest.spyOn(Logger.prototype, 'error');
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const res = await get(`/v1/customers/${customerId}?minPosition=${position}`);
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toMatchObject({
      error: 'projection_lagging',
      message: expect.stringMatching(/customer-360 read model has not reached position/),
    });
    expect(error).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
  }, 15_000);
});
