import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envelope } from '../../../test/support/envelopes';
import { openTestPlatform, privacyKeys } from '../../../test/support/platform-harness';
import { eraseCustomer } from './erasure';
import { OPS_STREAM } from './ops-actions';
import { type Platform } from './platform';
import { exportSubject, exportSubjectAction, SubjectExportRefusedError, type SubjectExport } from './subject-export';

const EMAIL = 'Femke.Dijkstra@Example.com';
const PHONE = '+31 6 34567890';
const SECRETS = ['femke.dijkstra@example.com', '+31634567890', 'Femke', 'Dijkstra', 'Havenstraat 9', 'the app logs me out'];
const actor = { kind: 'named' as const, name: 'dpo' };

/**
 * The data-subject export against a plain recomputation from the envelopes ingested: the same events
 * (type, time, source, channel, payload), the normalised identifiers, the latest consent per purpose,
 * the latest profile values, the merge; found by either identifier or by either customer id.
 */
describe('data-subject export', () => {
  let dir: string;
  let platform: Platform;
  const privacy = privacyKeys();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cem-export-'));
    platform = openTestPlatform(dir, privacy);
  });
  afterEach(async () => {
    await platform.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const email = { kind: 'email', value: EMAIL };
  const phone = { kind: 'phone', value: PHONE };
  const femke = [
    envelope({
      occurredAt: '2026-11-01T10:00:00Z',
      customer: { identifiers: [email] },
      data: { direction: 'inbound', handleSeconds: 90, resolved: true, notes: 'the app logs me out' },
    }),
    envelope({
      occurredAt: '2026-11-02T10:00:00Z',
      type: 'consent.changed',
      channel: 'web',
      source: 'cmp',
      customer: { identifiers: [email] },
      data: { purpose: 'marketing', granted: true },
    }),
    envelope({
      occurredAt: '2026-11-03T10:00:00Z',
      type: 'purchase.completed',
      channel: 'web',
      source: 'shop',
      customer: { identifiers: [phone] },
      data: { orderId: 'o-3', amount: 30, currency: 'EUR' },
    }),
    envelope({
      occurredAt: '2026-11-04T10:00:00Z',
      type: 'profile.updated',
      channel: 'web',
      source: 'crm',
      customer: { identifiers: [email, phone] },
      data: { firstName: 'Femke', lastName: 'Dijkstra', address: { line1: 'Havenstraat 9', city: 'Leiden' } },
    }),
    envelope({
      occurredAt: '2026-11-05T10:00:00Z',
      type: 'consent.changed',
      channel: 'web',
      source: 'cmp',
      customer: { identifiers: [phone] },
      data: { purpose: 'marketing', granted: false },
    }),
    envelope({
      occurredAt: '2026-11-01T12:00:00Z',
      type: 'consent.changed',
      channel: 'web',
      source: 'cmp',
      customer: { identifiers: [phone] },
      data: { purpose: 'profiling', granted: true },
    }),
  ];
  const bystander = envelope({ customer: { identifiers: [{ kind: 'email', value: 'someone.else@example.com' }] } });

  async function ingest() {
    const ids: string[] = [];
    for (const e of [...femke, bystander]) ids.push((await platform.ingestion.ingest([e]))[0].customerId);
    const survivor = ids[3];
    const mergedAway = [ids[0], ids[2]].find((id) => id !== survivor)!;
    return { survivor, mergedAway };
  }

  /** The plain recomputation: what the export must hold, from the envelopes alone. */
  function expected() {
    const consents: Record<string, { granted: boolean; at: string }> = {};
    for (const e of femke.filter((x) => x.type === 'consent.changed')) {
      const at = new Date(e.occurredAt as string).toISOString();
      const c = consents[e.data.purpose];
      if (!c || c.at < at) consents[e.data.purpose] = { granted: e.data.granted, at };
    }
    return {
      events: femke
        .map((e) => ({
          eventId: e.eventId,
          type: e.type,
          occurredAt: new Date(e.occurredAt as string).toISOString(),
          source: e.source,
          channel: e.channel,
          data: e.data,
        }))
        .sort((a, b) => a.eventId.localeCompare(b.eventId)),
      identifiers: ['email:femke.dijkstra@example.com', 'phone:+31634567890'],
      consents: Object.fromEntries(Object.entries(consents).map(([p, c]) => [p, c.granted])),
    };
  }

  const touchpoints = (doc: SubjectExport) =>
    doc.events
      .filter((e) => femke.some((f) => f.eventId === e.eventId))
      .map(({ eventId, type, occurredAt, source, channel, data }) => ({ eventId, type, occurredAt, source, channel, data }))
      .sort((a, b) => a.eventId.localeCompare(b.eventId));

  it('holds everything ingested on the person, found by any identifier or customer id', async () => {
    const { survivor, mergedAway } = await ingest();
    const want = expected();
    const byEmail = await exportSubject(platform, { identifier: `email:${EMAIL}` });
    expect(byEmail.subject).toEqual({ customerId: survivor, foundBy: 'identifier', mergedIds: [mergedAway] });
    expect(touchpoints(byEmail)).toEqual(want.events);
    expect(byEmail.identifiers.map((i) => `${i.kind}:${i.value}`).sort()).toEqual(want.identifiers);
    expect(byEmail.identifiers.every((i) => i.resolvesToSubject)).toBe(true);
    expect(byEmail.consents.current).toEqual(want.consents);
    expect(byEmail.consents.history).toHaveLength(3);
    expect(byEmail.profile).toMatchObject({ firstName: 'Femke', lastName: 'Dijkstra' });
    expect(byEmail.mergeHistory.map((m) => m.type)).toContain('customers.merged');
    expect(byEmail.erasure).toBeNull();
    expect(byEmail.views.customer360).toMatchObject({ customerId: survivor, eventCount: femke.length, purchases: 1 });
    expect(byEmail.views.churnRisk).not.toBeNull();
    // every event carries its time and source; the bystander's events are not there
    expect(byEmail.events.every((e) => typeof e.recordedAt === 'string' && e.position > 0)).toBe(true);
    expect(JSON.stringify(byEmail)).not.toContain('someone.else@example.com');
    expect(JSON.stringify(byEmail)).not.toContain(bystander.eventId);
    // no key material: values are plaintext, no sealed value left
    expect(JSON.stringify(byEmail)).not.toContain('cem:enc:');

    const same = (d: SubjectExport) => ({ ...d, exportedAt: '', subject: { ...d.subject, foundBy: '', requestedCustomerId: undefined } });
    const at = new Date(byEmail.exportedAt);
    const byPhone = await exportSubject(platform, { identifier: 'phone:+31634567890' }, () => at);
    const bySurvivor = await exportSubject(platform, { customerId: survivor }, () => at);
    const byMerged = await exportSubject(platform, { customerId: mergedAway }, () => at);
    expect(byMerged.subject).toMatchObject({ customerId: survivor, foundBy: 'customerId', requestedCustomerId: mergedAway });
    for (const d of [byPhone, bySurvivor, byMerged]) expect(same(d)).toEqual(same(byEmail));
  });

  it('refuses bad input with a specific reason, recorded as a refused ops event naming no identifier', async () => {
    await ingest();
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => 'answered',
        (e: unknown) => (e instanceof SubjectExportRefusedError ? [e.field, e.code] : e),
      );
    const run = (request: object) => refusal(exportSubjectAction(platform, { ...(request as { identifier: string }), actor }));
    expect(await run({ identifier: 'email:nobody.here@example.com' })).toEqual(['identifier', 'not-found']);
    expect(await run({ identifier: 'email:not-an-email' })).toEqual(['identifier', 'invalid']);
    expect(await run({ identifier: 'no-colon' })).toEqual(['identifier', 'invalid']);
    expect(await run({ identifier: 'shoe:42' })).toEqual(['identifier', 'invalid']);
    expect(await run({ customerId: '0b6d4c1e-1f7e-4a52-9d43-5a1f8a1e0009' })).toEqual(['customerId', 'not-found']);
    expect(await run({ customerId: 'not-an-id' })).toEqual(['customerId', 'invalid']);
    expect(await run({})).toEqual(['request', 'invalid']);
    expect(await run({ identifier: `email:${EMAIL}`, customerId: '0b6d4c1e-1f7e-4a52-9d43-5a1f8a1e0009' })).toEqual(['request', 'invalid']);
    expect(await run({ identifier: `email:${EMAIL}` })).toBe('answered');

    const ops = (await platform.store.readStream(OPS_STREAM)).filter((e) => (e.data as { action: string }).action === 'export-subject');
    expect(ops.map((e) => (e.data as { result: string }).result)).toEqual([...Array(8).fill('refused'), 'ok']);
    const text = JSON.stringify(ops);
    for (const s of [...SECRETS, 'nobody.here', 'not-an-email']) expect([s, text.includes(s)]).toEqual([s, false]);
  });

  it('for an erased person: says what was erased, holds no personal value, and the identifiers no longer find it', async () => {
    const { survivor } = await ingest();
    const certificate = await eraseCustomer(platform, { customerId: survivor, reason: 'DSR-7', requestedBy: actor });
    await expect(exportSubject(platform, { identifier: `email:${EMAIL}` })).rejects.toMatchObject({
      field: 'identifier',
      code: 'not-found',
    });
    const doc = await exportSubject(platform, { customerId: survivor });
    expect(doc.erasure).toMatchObject({
      customerId: survivor,
      reason: 'DSR-7',
      erasedFields: certificate.erasedFields,
      position: certificate.position,
    });
    expect(SECRETS.filter((s) => JSON.stringify(doc).includes(s))).toEqual([]);
    expect(doc.identifiers).toEqual([]);
    expect(doc.profile).toEqual({});
    // the rest of the history stays: the same events, without their personal values
    expect(touchpoints(doc).map((e) => e.eventId)).toEqual(expected().events.map((e) => e.eventId));
    expect(doc.events.filter((e) => e.personalDataErased).length).toBe(certificate.encryptedEvents);
    expect(doc.consents.current).toEqual(expected().consents);
  });
});
