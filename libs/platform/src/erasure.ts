import { randomUUID } from 'node:crypto';
import { customerStreamId, identifierKey, type CustomersUnmergedV1, type Identifier, type PersonalDataErasedV1 } from '@cem/domain';
import { StreamNotFoundError, type EventStore, type RecordedEvent } from '@cem/event-store';
import { personalPathsOf } from '@cem/privacy';
import { performOpsAction, type OpsActor } from './ops-actions';
import type { Platform } from './platform';

/** Why an erasure was refused; nothing was changed. `field` names the input at fault. */
export class ErasureRefusedError extends Error {
  constructor(
    readonly field: 'customerId' | 'reason' | 'configuration',
    readonly code: 'unknown-customer' | 'merged-away' | 'already-erased' | 'missing-reason' | 'not-available',
    message: string,
  ) {
    super(message);
    this.name = 'ErasureRefusedError';
  }
}

export interface ErasureCertificate extends PersonalDataErasedV1 {
  /** log position of the personal-data.erased event that keeps this certificate */
  position: number;
  eventId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MAX_ERASURE_REASON = 500;

/**
 * Erases a customer's personal data by crypto-shredding (docs/privacy.md), in an order that a crash
 * at any point cannot leave half done without saying so: 1. the certificate is appended as a
 * `personal-data.erased` event on the customer's stream; 2. the identifiers are removed from the
 * identity registry; 3. the data keys of the customer and of every customer merged into it are
 * destroyed. The customer counts as erased once its key is destroyed; running the erasure again
 * after a crash between 1 and 3 completes steps 2 and 3 and answers the certificate already kept.
 */
export async function eraseCustomer(
  platform: Platform,
  request: { customerId: string; reason: string | undefined; requestedBy: OpsActor; now?: () => Date },
): Promise<ErasureCertificate> {
  const { customerId } = request;
  const reason = request.reason?.trim() ?? '';
  if (reason === '')
    throw new ErasureRefusedError('reason', 'missing-reason', 'reason: required (why the data is erased, e.g. the request reference)');
  if (reason.length > MAX_ERASURE_REASON)
    throw new ErasureRefusedError('reason', 'missing-reason', `reason: at most ${MAX_ERASURE_REASON} characters`);
  if (!platform.keys)
    throw new ErasureRefusedError(
      'configuration',
      'not-available',
      'erasure needs encryption: PRIVACY_MASTER_KEY and PRIVACY_INDEX_SECRET are not set (docs/privacy.md)',
    );
  if (!platform.registry.canForget)
    throw new ErasureRefusedError(
      'configuration',
      'not-available',
      'erasure is not available with this identity registry (docs/privacy.md)',
    );
  if (!UUID.test(customerId))
    throw new ErasureRefusedError('customerId', 'unknown-customer', `customerId: ${JSON.stringify(customerId)} is not a customer id`);
  const canonical = await platform.registry.canonicalId(customerId);
  if (canonical === undefined) throw new ErasureRefusedError('customerId', 'unknown-customer', `customerId: no customer ${customerId}`);
  if (canonical !== customerId)
    throw new ErasureRefusedError(
      'customerId',
      'merged-away',
      `customerId: ${customerId} was merged into ${canonical}; erase ${canonical}`,
    );
  if (await platform.keys.isErased(customerId))
    throw new ErasureRefusedError('customerId', 'already-erased', `customerId: customer ${customerId} is already erased`);

  // the customer and, transitively, every customer merged into it and still merged (their streams keep
  // their old events); a customer split off by a later `customers.unmerged` is its own again: it keeps
  // its key and its data
  const streams = new Map<string, RecordedEvent[]>();
  const pending = [customerId];
  while (pending.length > 0) {
    const id = pending.pop()!;
    if (streams.has(id)) continue;
    const events = await readOrEmpty(platform.logStore, customerStreamId(id));
    streams.set(id, events);
    pending.push(...stillMergedInto(events));
  }
  const erasedCustomerIds = [...streams.keys()];

  let certificate = findCertificate(streams.get(customerId)!);
  if (!certificate) {
    const fields = new Set<string>();
    let encryptedEvents = 0;
    let plaintextEvents = 0;
    for (const events of streams.values()) {
      for (const e of events) {
        const personal = personalFieldsOf(e);
        if (personal.length === 0) continue;
        if (typeof (e.metadata as { keyId?: unknown }).keyId === 'string') {
          encryptedEvents++;
          for (const f of personal) fields.add(f);
        } else plaintextEvents++;
      }
    }
    const now = request.now ?? (() => new Date());
    const data: PersonalDataErasedV1 = {
      customerId,
      erasedCustomerIds,
      erasedAt: now().toISOString(),
      requestedBy: request.requestedBy,
      reason,
      erasedFields: [...fields].sort(),
      encryptedEvents,
      plaintextEvents,
      logHeadBefore: await platform.logStore.headPosition(),
    };
    const eventId = randomUUID();
    const appended = await platform.logStore.appendToStream(customerStreamId(customerId), [
      {
        eventId,
        type: 'personal-data.erased',
        data,
        metadata: { schemaVersion: 1, occurredAt: data.erasedAt, customerId, source: 'cem/erasure' },
      },
    ]);
    certificate = { ...data, eventId, position: appended.events[0].position };
  }
  // the keys are still there: the identifiers the events name are read in plaintext, for a registry
  // that cannot list a customer's identifiers itself (EventStoreDB)
  await platform.registry.forgetCustomers(certificate.erasedCustomerIds, await identifiersNamedBy(platform, certificate.erasedCustomerIds));
  await platform.keys.destroy(certificate.erasedCustomerIds, certificate.erasedAt);
  return certificate;
}

/** Erasures of this process, one at a time: two requests for one customer must not both append a certificate. */
let erasing: Promise<unknown> = Promise.resolve();

/**
 * The erasure as an ops action, shared by `cem erase` and `POST /v1/admin/erasures`: runs
 * eraseCustomer and records an `ops.action-performed` event (`action: erase`, the customer id and the
 * result; never personal data, never the reason's text). A refusal is recorded as refused.
 */
export async function eraseCustomerAction(
  platform: Platform,
  request: { customerId: string; reason: string | undefined; actor: OpsActor },
): Promise<ErasureCertificate> {
  const run = () =>
    performOpsAction(
      platform.store,
      { action: 'erase', actor: request.actor, parameters: { customerId: request.customerId } },
      async () => {
        const certificate = await eraseCustomer(platform, {
          customerId: request.customerId,
          reason: request.reason,
          requestedBy: request.actor,
        });
        return {
          result: 'ok' as const,
          outcome: `erased ${certificate.erasedCustomerIds.length} customer id(s)`,
          figures: { position: certificate.position },
          certificate,
        };
      },
      (e) => (e instanceof ErasureRefusedError ? 'refused' : 'failed'),
    );
  const done = erasing.then(run, run);
  erasing = done.catch(() => undefined);
  return (await done).certificate;
}

/**
 * The customers merged into a stream's customer and not split off again, in log order: a merge adds
 * its merged ids, an unmerge removes the customer it split off and those that followed it (a later
 * merge of the same customer adds it again).
 */
export function stillMergedInto(events: readonly Pick<RecordedEvent, 'type' | 'data'>[]): string[] {
  const merged = new Set<string>();
  for (const e of events) {
    if (e.type === 'customers.merged') for (const id of (e.data as { mergedIds: string[] }).mergedIds) merged.add(id);
    if (e.type === 'customers.unmerged') {
      const { splitId, restoredIds } = e.data as Pick<CustomersUnmergedV1, 'splitId' | 'restoredIds'>;
      for (const id of [splitId, ...(restoredIds ?? [])]) merged.delete(id);
    }
  }
  return [...merged];
}

async function readOrEmpty(store: EventStore, streamId: string): Promise<RecordedEvent[]> {
  try {
    return await store.readStream(streamId);
  } catch (e) {
    if (e instanceof StreamNotFoundError) return [];
    throw e;
  }
}

/** Every identifier the events of these customers name (decrypted: read before their keys are destroyed). */
async function identifiersNamedBy(platform: Platform, customerIds: string[]): Promise<Identifier[]> {
  const found = new Map<string, Identifier>();
  for (const id of customerIds) {
    for (const e of await readOrEmpty(platform.store, customerStreamId(id))) {
      const named = (e.metadata as { identifiers?: Identifier[] }).identifiers ?? [];
      for (const i of named) if (typeof i?.value === 'string') found.set(identifierKey(i), { kind: i.kind, value: i.value });
    }
  }
  return [...found.values()];
}

function findCertificate(events: RecordedEvent[]): ErasureCertificate | undefined {
  const e = events.find((x) => x.type === 'personal-data.erased');
  return e ? { ...(e.data as PersonalDataErasedV1), eventId: e.eventId, position: e.position } : undefined;
}

/** `<type>: <path>` of every personal field present in a stored event (payload paths and the envelope identifiers). */
function personalFieldsOf(e: RecordedEvent): string[] {
  const out: string[] = [];
  const paths = personalPathsOf(e.type);
  const present = (root: unknown, path: readonly string[]): boolean => {
    if (path.length === 0) return root !== undefined && root !== null;
    if (root === null || typeof root !== 'object') return false;
    const values = path[0] === '*' ? Object.values(root) : [(root as Record<string, unknown>)[path[0]]];
    return values.some((v) => present(v, path.slice(1)));
  };
  for (const p of paths.data) if (present(e.data, p)) out.push(`${e.type}: ${p.join('.')}`);
  for (const p of paths.metadata) if (present(e.metadata, p)) out.push(`${e.type}: identifiers`);
  return out;
}
