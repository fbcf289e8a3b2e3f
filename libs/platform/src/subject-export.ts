import { DomainValidationError, parseIdentifierKey, type Identifier, type PersonalDataErasedV1 } from '@cem/domain';
import type { RecordedEvent } from '@cem/event-store';
import { churnModelAsOf, customerAsOf, type CustomerAsOf } from '@cem/read-models/as-of';
import { readCustomerLog } from '@cem/read-models/audit';
import { performOpsAction, type OpsActor } from './ops-actions';
import type { Platform } from './platform';

/** Why a data-subject export was refused; nothing was exported. Messages never repeat the identifier. */
export class SubjectExportRefusedError extends Error {
  constructor(
    readonly field: 'identifier' | 'customerId' | 'request',
    readonly code: 'invalid' | 'not-found',
    message: string,
  ) {
    super(message);
    this.name = 'SubjectExportRefusedError';
  }
}

export type SubjectExportRequest = { identifier: string; customerId?: undefined } | { customerId: string; identifier?: undefined };

/** One event of the person, decrypted (erased personal values are absent), as the log holds it. */
export interface SubjectEvent {
  eventId: string;
  position: number;
  type: string;
  occurredAt: string | null;
  recordedAt: string;
  source: string | null;
  channel: string | null;
  /** the customer id whose stream holds it (a customer merged into the subject keeps its stream) */
  customerId: string;
  identifiers: Identifier[];
  data: unknown;
  agentId?: string;
  correlationId?: string;
  causationId?: string;
  /** its personal values were erased (crypto-shredded) */
  personalDataErased?: true;
}

/** Everything held on one person (docs/privacy.md, "Data-subject export"). */
export interface SubjectExport {
  exportedAt: string;
  /** the log head when it was read: the export covers the log up to here */
  logHead: number;
  subject: {
    customerId: string;
    /** how it was found */
    foundBy: 'identifier' | 'customerId';
    /** the customer id asked for, when it was merged into `customerId` */
    requestedCustomerId?: string;
    /** customers merged into it (their streams are part of the person's history) */
    mergedIds: string[];
  };
  /** null, or the erasure certificate: what was erased, when, why, by whom */
  erasure: (PersonalDataErasedV1 & { position: number }) | null;
  profile: Record<string, unknown>;
  /** every identifier the person's events named, with when first and last seen, and whether it still resolves to the person */
  identifiers: { kind: string; value: string; firstSeenAt: string; lastSeenAt: string; resolvesToSubject: boolean }[];
  consents: {
    current: Record<string, boolean>;
    history: { purpose: string; granted: boolean; occurredAt: string | null; source: string | null }[];
  };
  /** merges and unmerges of the person, in log order */
  mergeHistory: { type: string; position: number; recordedAt: string; data: unknown }[];
  /** the read models' views of the person, folded from the same events with the projections' own code */
  views: {
    customer360: CustomerAsOf['view'] | null;
    churnRisk: CustomerAsOf['churnRisk'];
    segments: CustomerAsOf['segments'];
    milestones: { milestoneId: string; outcome: 'reached' | 'missed'; at: string }[];
  };
  events: SubjectEvent[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MERGE_TYPES = new Set(['customers.merged', 'customer.merged-into', 'customers.unmerged']);

/**
 * The data-subject export: the person found by any identifier (through the identity registry, so
 * merges are followed) or by a customer id (a merged-away id leads to its survivor), then its whole
 * history read from the log through the decrypting store, with the read models' views folded from
 * those same events at the export's instant.
 */
export async function exportSubject(
  platform: Platform,
  request: SubjectExportRequest,
  now: () => Date = () => new Date(),
): Promise<SubjectExport> {
  const { customerId, foundBy, requestedCustomerId } = await findSubject(platform, request);
  const exportedAt = now();
  const logHead = await platform.store.headPosition();
  const log = await readCustomerLog(platform.store, customerId);
  if (log.kind !== 'found')
    throw new SubjectExportRefusedError(
      foundBy === 'identifier' ? 'identifier' : 'customerId',
      'not-found',
      'no events of this customer in the log',
    );
  const at = exportedAt.getTime();
  const folded = customerAsOf(
    customerId,
    log.events,
    at,
    'recorded',
    await churnModelAsOf(platform.store, at, 'recorded'),
    platform.identifierIndex,
  );

  const events = log.events.map(subjectEvent);
  const erasedEvent = log.events.find((e) => e.type === 'personal-data.erased' && e.streamId.endsWith(customerId));
  const identifiers = new Map<string, SubjectExport['identifiers'][number]>();
  for (const e of events) {
    for (const i of e.identifiers) {
      const key = `${i.kind}:${i.value}`;
      const seen = e.occurredAt ?? e.recordedAt;
      const known = identifiers.get(key);
      if (!known) identifiers.set(key, { kind: i.kind, value: i.value, firstSeenAt: seen, lastSeenAt: seen, resolvesToSubject: false });
      else {
        if (seen < known.firstSeenAt) known.firstSeenAt = seen;
        if (seen > known.lastSeenAt) known.lastSeenAt = seen;
      }
    }
  }
  for (const i of identifiers.values()) i.resolvesToSubject = (await platform.registry.lookup(i as Identifier)) === customerId;
  const consentEvents = events.filter((e) => e.type === 'consent.changed');
  const current: Record<string, boolean> = {};
  for (const e of [...consentEvents].sort((a, b) => ((a.occurredAt ?? '') < (b.occurredAt ?? '') ? -1 : 1))) {
    const d = e.data as { purpose: string; granted: boolean };
    current[d.purpose] = d.granted;
  }
  return {
    exportedAt: exportedAt.toISOString(),
    logHead,
    subject: { customerId, foundBy, ...(requestedCustomerId ? { requestedCustomerId } : {}), mergedIds: log.mergedIds },
    erasure: erasedEvent ? { ...(erasedEvent.data as PersonalDataErasedV1), position: erasedEvent.position } : null,
    profile: folded?.view.profile ?? {},
    identifiers: [...identifiers.values()].sort((a, b) => (a.firstSeenAt < b.firstSeenAt ? -1 : a.firstSeenAt > b.firstSeenAt ? 1 : 0)),
    consents: {
      current,
      history: consentEvents.map((e) => ({
        ...(e.data as { purpose: string; granted: boolean }),
        occurredAt: e.occurredAt,
        source: e.source,
      })),
    },
    mergeHistory: log.events
      .filter((e) => MERGE_TYPES.has(e.type))
      .map((e) => ({ type: e.type, position: e.position, recordedAt: e.recordedAt, data: e.data })),
    views: {
      customer360: folded?.view ?? null,
      churnRisk: folded?.churnRisk ?? null,
      segments: folded?.segments ?? [],
      milestones: events
        .filter((e) => e.type === 'milestone.reached' || e.type === 'milestone.missed')
        .map((e) => {
          const d = e.data as { milestoneId: string; reachedAt?: string; deadlineAt?: string };
          return e.type === 'milestone.reached'
            ? { milestoneId: d.milestoneId, outcome: 'reached' as const, at: d.reachedAt! }
            : { milestoneId: d.milestoneId, outcome: 'missed' as const, at: d.deadlineAt! };
        }),
    },
    events,
  };
}

/**
 * The export as an ops action, shared by `cem export-subject` and `POST /v1/admin/subject-exports`:
 * recorded as an `ops.action-performed` event (`action: export-subject`, the customer id found and
 * how; never the identifier, never personal data). A refusal is recorded as refused.
 */
export async function exportSubjectAction(platform: Platform, request: SubjectExportRequest & { actor: OpsActor }): Promise<SubjectExport> {
  const { actor, ...asked } = request;
  const parameters = { by: asked.identifier !== undefined ? 'identifier' : 'customerId', customerId: asked.customerId ?? null };
  const out = await performOpsAction(
    platform.store,
    { action: 'export-subject', actor, parameters },
    async () => {
      const document = await exportSubject(platform, asked);
      return {
        result: 'ok' as const,
        outcome: `exported customer ${document.subject.customerId}: ${document.events.length} events`,
        figures: { customerId: document.subject.customerId, events: document.events.length, logHead: document.logHead },
        document,
      };
    },
    (e) => (e instanceof SubjectExportRefusedError ? 'refused' : 'failed'),
  );
  return out.document;
}

async function findSubject(
  platform: Platform,
  request: SubjectExportRequest,
): Promise<{ customerId: string; foundBy: 'identifier' | 'customerId'; requestedCustomerId?: string }> {
  const { identifier, customerId } = request as { identifier?: unknown; customerId?: unknown };
  if ((identifier === undefined) === (customerId === undefined))
    throw new SubjectExportRefusedError(
      'request',
      'invalid',
      'give exactly one of identifier (kind:value) and customerId (cem export-subject: --identifier or --customer)',
    );
  if (identifier !== undefined) {
    let parsed: Identifier;
    try {
      if (typeof identifier !== 'string') throw new DomainValidationError([]);
      parsed = parseIdentifierKey(identifier, { defaultPhoneRegion: platform.config.DEFAULT_PHONE_REGION });
    } catch (e) {
      if (!(e instanceof DomainValidationError)) throw e;
      const reason = e.errors[0]?.reason;
      throw new SubjectExportRefusedError(
        'identifier',
        'invalid',
        `identifier: not a valid identifier${reason ? ` (${reason})` : ''}; expected kind:value, e.g. email:ana@example.com`,
      );
    }
    const found = await platform.registry.lookup(parsed);
    if (found === undefined)
      throw new SubjectExportRefusedError('identifier', 'not-found', 'identifier: no customer holds this identifier');
    return { customerId: found, foundBy: 'identifier' };
  }
  if (typeof customerId !== 'string' || !UUID.test(customerId))
    throw new SubjectExportRefusedError('customerId', 'invalid', 'customerId: not a customer id (a UUID)');
  const canonical = await platform.registry.canonicalId(customerId);
  if (canonical === undefined) throw new SubjectExportRefusedError('customerId', 'not-found', `customerId: no customer ${customerId}`);
  return { customerId: canonical, foundBy: 'customerId', ...(canonical !== customerId ? { requestedCustomerId: customerId } : {}) };
}

function subjectEvent(e: RecordedEvent): SubjectEvent {
  const m = e.metadata as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    eventId: e.eventId,
    position: e.position,
    type: e.type,
    occurredAt: text(m.occurredAt) ?? null,
    recordedAt: e.recordedAt,
    source: text(m.source) ?? null,
    channel: text(m.channel) ?? null,
    customerId: text(m.customerId) ?? e.streamId.replace(/^customer-/, ''),
    identifiers: Array.isArray(m.identifiers) ? (m.identifiers as Identifier[]).filter((i) => typeof i?.value === 'string') : [],
    data: e.data,
    ...(text(m.agentId) ? { agentId: text(m.agentId) } : {}),
    ...(text(m.correlationId) ? { correlationId: text(m.correlationId) } : {}),
    ...(text(m.causationId) ? { causationId: text(m.causationId) } : {}),
    ...(m.personalDataErased === true ? { personalDataErased: true as const } : {}),
  };
}
