import type { Channel, Identifier, IdentifierKind, TouchpointPayloads, TouchpointType } from '@cem/domain';
import { hashString, mix32, Rng } from './prng';
import * as V from './vocabulary';

/**
 * Deterministic generator of multi-channel customer histories, as the raw envelopes integrations
 * send. Each customer's history comes from its own PRNG stream (seed, customer index), so customer
 * 42 is the same whatever `customers` is; the emission order (arrival order) is derived from the
 * histories, never from the wall clock. See seeds/README.md for the model.
 */

export const DEFAULT_ANCHOR = '2026-10-31T00:00:00Z';
export const DEFAULT_SEED = 'cem';

export type Lifecycle = 'prospect' | 'onboarding' | 'active' | 'churned' | 'won-back';
export type Tier = 'standard' | 'gold' | 'platinum';

/** An envelope as an integration sends it (plain JSON). */
export interface RawEnvelope {
  eventId: string;
  type: TouchpointType;
  schemaVersion?: number;
  occurredAt: string;
  source: string;
  channel: Channel;
  customer: { identifiers: { kind: IdentifierKind; value: string }[] };
  agentId?: string;
  correlationId?: string;
  causationId?: string;
  data: Record<string, unknown>;
}

export interface SeedOptions {
  /** how many customers (people) to generate */
  customers: number;
  /** any string or number; the same seed gives byte-identical output */
  seed?: string | number;
  /** the instant the histories end at (exclusive); every occurredAt is before it */
  now?: string;
  /** length of the history in months before `now` (>= 12) */
  months?: number;
  /** multiplies the rate of routine touch points (1: about 10 events per customer) */
  intensity?: number;
  /** share of customers who churn (cancel and go silent) */
  churnRate?: number;
  /** share of customers who churn and are won back later */
  wonBackRate?: number;
  /** share of events that arrive months late (emitted after everything else, as a backfill) */
  lateRate?: number;
  /** share of events sent twice (an integration's retry with the same eventId) */
  duplicateRate?: number;
  /** customers generated together; their events interleave in arrival order */
  chunkCustomers?: number;
  /** index of the first customer, to generate disjoint populations with one seed */
  firstCustomer?: number;
  /** `people` (default): the manifest lists every person; `totals`: only the totals (bounded memory) */
  manifest?: 'people' | 'totals';
}

export interface ExpectedCounts {
  /** distinct touch-point events of this customer (retries not counted) */
  events: number;
  byType: Partial<Record<TouchpointType, number>>;
  /** customers the registry registers for this person before merges (depends on arrival order) */
  registrations: number;
  /** events that joined two or more already-registered customers (each one `customers.merged`) */
  mergeEvents: number;
  purchases: number;
  /** sum of purchase amounts (EUR), cancelled orders included */
  revenue: number;
  refunded: number;
  complaints: number;
  contacts: number;
  /** NPS of the latest answer by occurredAt (not by arrival) */
  lastNps?: number;
  /**
   * cases (one per caseId) whose latest status event by occurredAt is reopened or status-changed, or
   * that have none yet; resolved and closed cases are not open; opened, assigned and escalated are
   * not status changes (docs/read-models.md)
   */
  openCases: number;
  /** holds a subscription that is not cancelled at the end */
  activeSubscription: boolean;
}

export interface ManifestCustomer {
  /** stable key of the person in the generator, e.g. c0000042 */
  key: string;
  index: number;
  /** every identifier the person's events name, normalised (email lower case, phone E.164) */
  identifiers: Identifier[];
  lifecycle: Lifecycle;
  churner: boolean;
  tier: Tier;
  firstSeenAt: string;
  lastSeenAt: string;
  churnedAt?: string;
  wonBackAt?: string;
  expected: ExpectedCounts;
}

export interface SeedManifest {
  seed: string;
  anchor: string;
  from: string;
  customers: number;
  /** distinct events */
  events: number;
  /** envelopes emitted, retries included */
  envelopes: number;
  duplicates: number;
  late: number;
  churners: number;
  registrations: number;
  mergeEvents: number;
  byType: Partial<Record<TouchpointType, number>>;
  byLifecycle: Record<Lifecycle, number>;
  /** every person (empty when generated with `manifest: 'totals'`) */
  people: ManifestCustomer[];
}

// identifier slots (bit flags) of one person
const COOKIE = 1;
const EMAIL = 2;
const PHONE = 4;
const CRM = 8;
const ACCOUNT = 16;
const DEVICE = 32;
const SOCIAL = 64;
const SHOP = 128;
const SLOT_KINDS: IdentifierKind[] = ['cookie', 'email', 'phone', 'crm', 'account', 'device', 'external', 'external'];

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const MONTH = 30.4375 * DAY;
/** calibrates intensity 1 to about ten events per customer over 24 months */
const ROUTINE_SCALE = 0.4;

interface Timed {
  t: number;
  /** index of the person (ties in arrival order) */
  pi: number;
  arrival: number;
  mask: number;
  seq: number;
  env: RawEnvelope;
  person: PersonState;
  duplicate: boolean;
}

interface PersonState {
  manifest: ManifestCustomer;
  /** connected groups of identifier slots the registry has seen, in arrival order */
  comps: number[];
}

interface Resolved {
  seed: string;
  seedHash: number;
  anchor: number;
  from: number;
  months: number;
  intensity: number;
  churnRate: number;
  wonBackRate: number;
  lateRate: number;
  duplicateRate: number;
  chunk: number;
  first: number;
  customers: number;
  keepPeople: boolean;
}

function resolve(o: SeedOptions): Resolved {
  const anchor = Date.parse(o.now ?? DEFAULT_ANCHOR);
  if (Number.isNaN(anchor)) throw new Error(`now: not a date-time: ${o.now}`);
  const months = o.months ?? 24;
  if (!(months >= 12 && months <= 240)) throw new Error('months: must be between 12 and 240');
  if (!Number.isInteger(o.customers) || o.customers < 0) throw new Error('customers: must be a non-negative integer');
  const churnRate = o.churnRate ?? 0.15;
  const wonBackRate = o.wonBackRate ?? 0.08;
  if (churnRate < 0 || wonBackRate < 0 || churnRate + wonBackRate > 0.6)
    throw new Error('churnRate + wonBackRate: must be between 0 and 0.6');
  const seed = String(o.seed ?? DEFAULT_SEED);
  return {
    seed,
    seedHash: hashString(seed),
    anchor,
    from: anchor - Math.round(months * MONTH),
    months,
    intensity: o.intensity ?? 1,
    churnRate,
    wonBackRate,
    lateRate: o.lateRate ?? 0.01,
    duplicateRate: o.duplicateRate ?? 0.002,
    chunk: Math.max(1, o.chunkCustomers ?? 100),
    first: o.firstCustomer ?? 0,
    customers: o.customers,
    keepPeople: (o.manifest ?? 'people') === 'people',
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const clampInt = (x: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.round(x)));

const TWO = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const dayCache = new Map<number, string>();

/** `YYYY-MM-DDThh:mm:ss` + `Z` or `±hh:mm`; a hand-rolled toISOString (a day cache plus table lookups). */
function iso(t: number, offsetMinutes: number): string {
  const local = t + offsetMinutes * MINUTE;
  const day = Math.floor(local / DAY);
  let date = dayCache.get(day);
  if (date === undefined) {
    date = new Date(day * DAY).toISOString().slice(0, 11);
    dayCache.set(day, date);
  }
  const secs = Math.floor((local - day * DAY) / 1000);
  const time = `${date}${TWO[Math.floor(secs / 3600)]}:${TWO[Math.floor(secs / 60) % 60]}:${TWO[secs % 60]}`;
  if (offsetMinutes === 0) return `${time}Z`;
  const abs = Math.abs(offsetMinutes);
  return `${time}${offsetMinutes < 0 ? '-' : '+'}${TWO[Math.floor(abs / 60)]}:${TWO[abs % 60]}`;
}

/** Sources that send local times with an offset instead of UTC. */
const LOCAL_TIME_SOURCES = new Set(['genesys-cloud', 'store-pos']);

interface Extra {
  /** identifiers.linked: the slots its payload names */
  linked?: number;
  agentId?: string;
  correlationId?: string;
  causationId?: string;
  schemaVersion?: number;
}

/** Builds one person's history: the events (unordered), their manifest entry. */
class PersonBuilder {
  readonly rng: Rng;
  readonly events: Timed[] = [];
  private readonly values: string[] = [];
  /** raw spellings some sources use (checked to normalise to the same identifier) */
  private readonly variants: (string | undefined)[] = [];
  has = 0;
  used = 0;
  mood = 0.75;
  private seq = 0;
  private caseSeq = 0;
  private orderSeq = 0;
  private subSeq = 0;
  readonly token: string;
  readonly first: string;
  readonly last: string;
  readonly plan: (typeof V.PHONE_PLANS)[number];
  readonly tier: Tier;
  subscription?: { id: string; plan: number };
  /** no event of this person at or after this instant (churned and silent, or the anchor) */
  silentFrom: number;

  constructor(
    readonly cfg: Resolved,
    readonly index: number,
  ) {
    this.rng = new Rng(mix32(cfg.seedHash ^ mix32(index + 0x9e3779b9)));
    this.silentFrom = cfg.anchor;
    const rng = this.rng;
    // a bijection of the index, so identifiers are unique per person but not sequential
    const scrambled = Math.imul(index + 1, 0x9e3779b1) >>> 0;
    this.token = scrambled.toString(36).padStart(7, '0');
    this.first = rng.pick(V.FIRST_NAMES);
    this.last = rng.pick(V.LAST_NAMES);
    this.plan = rng.pick(V.PHONE_PLANS);
    this.tier = rng.weighted<Tier>(['standard', 'gold', 'platinum'], [70, 22, 8]);
    const ascii = `${this.first}.${this.last.replace(/ /g, '')}`;
    const domain = rng.pick(V.EMAIL_DOMAINS);
    this.values[1] = `${ascii}.${this.token}@${domain}`.toLowerCase();
    this.variants[1] = ` ${ascii}.${this.token}@${domain[0].toUpperCase()}${domain.slice(1)}`;
    // phone digits: (index * odd constant + c) mod 10^n is a bijection for index < 10^n, so numbers are
    // unique per person; NL mobile numbers (06-1 to 06-5) spend one digit on that lead
    const nl = this.plan.country === 'NL';
    const free = nl ? this.plan.digits - 1 : this.plan.digits;
    const key = nl ? Math.floor(index / 5) : index;
    const tail = String((key * 7_654_321 + 1_234_567) % 10 ** free).padStart(free, '0');
    const lead = nl ? String(1 + (index % 5)) + tail : tail;
    this.values[2] = this.plan.prefix + lead;
    this.variants[2] = `${this.plan.prefix} ${lead.slice(0, 2)} ${lead.slice(2, 5)} ${lead.slice(5)}`;
    this.values[0] = `ck_${this.token}${rng.hex(10)}`;
    this.values[3] = `CRM-${this.token.toUpperCase()}`;
    this.values[4] = `AC-${String(scrambled % 100_000_000).padStart(8, '0')}${index % 10}`;
    this.values[5] = `${rng.chance(0.55) ? 'android' : 'ios'}-${rng.hex(8)}${this.token}`;
    this.values[6] = `social.x:${ascii.toLowerCase().replace(/\./g, '_')}_${this.token}`;
    this.values[7] = `shop:${this.token}`;
    this.has = COOKIE | EMAIL | CRM;
    if (rng.chance(0.75)) this.has |= PHONE;
    if (rng.chance(0.4)) this.has |= DEVICE;
    if (rng.chance(0.12)) this.has |= SOCIAL;
    if (rng.chance(0.6)) this.has |= SHOP;
  }

  identifiers(mask: number, raw = false): { kind: IdentifierKind; value: string }[] {
    const out: { kind: IdentifierKind; value: string }[] = [];
    for (let s = 0; s < 8; s++) {
      if (mask & (1 << s)) {
        const variant = raw ? this.variants[s] : undefined;
        out.push({ kind: SLOT_KINDS[s], value: variant && this.rng.chance(0.3) ? variant : this.values[s] });
      }
    }
    return out;
  }

  /** Records one event; returns its id, or undefined when it falls at or after the silence. */
  ev<T extends TouchpointType>(
    type: T,
    t: number,
    channel: Channel,
    source: string,
    mask: number,
    data: TouchpointPayloads[T],
    extra?: Extra,
  ): string | undefined {
    if (t >= this.silentFrom || t < this.cfg.from) return undefined;
    t = t - (t % 1000);
    let m = mask & this.has;
    if (m === 0) m = this.has & EMAIL ? EMAIL : COOKIE;
    // unique by construction: (person, sequence number) are embedded bijectively
    const eventId = this.rng.uuidOf(mix32((this.index ^ this.cfg.seedHash) >>> 0), mix32((this.seq ^ 0x5bd1e995) >>> 0));
    const env: RawEnvelope = {
      eventId,
      type,
      occurredAt: iso(t, LOCAL_TIME_SOURCES.has(source) ? 60 : 0),
      source,
      channel,
      customer: { identifiers: this.identifiers(m, true) },
      data: data as unknown as Record<string, unknown>,
    };
    if (extra) {
      if (extra.schemaVersion !== undefined) env.schemaVersion = extra.schemaVersion;
      if (extra.agentId !== undefined) env.agentId = extra.agentId;
      if (extra.correlationId !== undefined) env.correlationId = extra.correlationId;
      if (extra.causationId !== undefined) env.causationId = extra.causationId;
    }
    const full = m | (extra?.linked ?? 0);
    this.used |= full;
    this.events.push({
      t,
      pi: this.index,
      arrival: 0,
      mask: full,
      seq: this.seq++,
      env,
      person: undefined as unknown as PersonState,
      duplicate: false,
    });
    return eventId;
  }

  agent(): string {
    return `agent-${String(this.rng.int(1, 350)).padStart(3, '0')}`;
  }

  // ---- touch points ----------------------------------------------------------------------------

  webVisit(t: number, known: boolean, path?: string): void {
    const rng = this.rng;
    const app = this.has & DEVICE && rng.chance(0.4);
    const url = `https://${app ? 'app' : 'www'}.example.com${path ?? rng.pick(V.WEB_PATHS)}`;
    const mask = app ? DEVICE | (known && rng.chance(0.5) ? EMAIL : 0) : COOKIE | (known && rng.chance(0.5) ? EMAIL : 0);
    this.ev('web.visited', t, app ? 'app' : 'web', app ? 'app-analytics' : 'web-analytics', mask, {
      url,
      pageViews: 1 + Math.floor(rng.exp(3)),
      durationSeconds: clampInt(rng.exp(180), 5, 7200),
      device: app ? (this.values[5].startsWith('ios') ? 'ios' : 'android') : rng.pick(['desktop', 'mobile', 'tablet']),
    });
  }

  private score(lo: number, hi: number, spread: number): number {
    return clampInt(lo + (hi - lo) * this.mood + this.rng.normal() * spread, lo, hi);
  }

  private comment(): string | undefined {
    const rng = this.rng;
    if (!rng.chance(0.45)) return undefined;
    return this.mood < 0.4
      ? rng.pick(V.NEGATIVE_COMMENTS)
      : this.mood < 0.65
        ? rng.pick(V.NEUTRAL_COMMENTS)
        : rng.pick(V.POSITIVE_COMMENTS);
  }

  /** transactional survey after a contact or case */
  csatSurvey(t: number, causationId: string | undefined, correlationId: string | undefined): void {
    const rng = this.rng;
    const sms = this.has & PHONE && rng.chance(0.3);
    const data: TouchpointPayloads['survey.answered'] = { surveyId: 'csat-after-contact', csat: this.score(1, 5, 0.7) };
    if (rng.chance(0.6)) data.ces = 8 - this.score(1, 7, 0.9);
    const c = this.comment();
    if (c) data.comment = c;
    this.ev('survey.answered', t + rng.int(10, 1440) * MINUTE, sms ? 'sms' : 'email', 'qualtrics', sms ? PHONE : EMAIL, data, {
      causationId,
      correlationId,
    });
  }

  npsSurvey(t: number): void {
    const rng = this.rng;
    const nps = this.score(0, 10, 1.3);
    const c = this.comment();
    if (rng.chance(0.06)) {
      // an old survey integration still sends v1 payloads: the platform upcasts them
      const v1: Record<string, unknown> = { surveyId: 'relationship-nps', survey: 'nps', score: nps };
      if (c) v1.comment = c;
      this.ev('survey.answered', t, 'email', 'legacy-surveys', EMAIL, v1 as never, { schemaVersion: 1 });
      return;
    }
    const data: TouchpointPayloads['survey.answered'] = { surveyId: 'relationship-nps', nps };
    if (c) data.comment = c;
    this.ev('survey.answered', t, rng.chance(0.8) ? 'email' : 'web', 'qualtrics', rng.chance(0.8) ? EMAIL : EMAIL | CRM, data);
  }

  /**
   * A live contact; unresolved ones open a case that is resolved later (or left open).
   * Returns the case id, if one was opened.
   */
  contact(
    t: number,
    reason: string,
    o: { pResolved?: number; leaveOpen?: boolean; escalate?: number; reopen?: number; caseId?: string; survey?: number } = {},
  ): string | undefined {
    const rng = this.rng;
    const phone = this.has & PHONE && rng.chance(0.6);
    const channel: Channel = phone ? 'phone' : 'chat';
    const wait = phone ? clampInt(rng.exp(this.mood < 0.4 ? 300 : 80), 0, 3600) : clampInt(rng.exp(35), 0, 1800);
    const handle = clampInt(rng.logNormal(phone ? 360 : 540, 0.5), 30, 7200);
    const resolved = rng.chance(o.pResolved ?? 0.78);
    const transferred = rng.chance(resolved ? 0.08 : 0.3);
    const agentId = this.agent();
    const mask = phone ? PHONE | (rng.chance(0.5) ? CRM : 0) : EMAIL | (rng.chance(0.3) ? COOKIE : 0);
    let caseId = o.caseId;
    const opensCase = !caseId && (!resolved || rng.chance(0.2));
    if (opensCase) caseId = `CS-${this.token}-${++this.caseSeq}`;
    const data: TouchpointPayloads['contact.handled'] = {
      direction: 'inbound',
      reason,
      waitSeconds: wait,
      handleSeconds: handle,
      resolved,
      transferred,
    };
    if (rng.chance(0.1)) data.notes = `Customer called about ${reason}; ${resolved ? 'solved on the call' : 'follow-up needed'}.`;
    const contactId = this.ev('contact.handled', t, channel, phone ? 'genesys-cloud' : 'intercom', mask, data, {
      agentId,
      correlationId: caseId,
    });
    if (!contactId) return undefined;
    const done = t + (wait + handle) * 1000;
    if (opensCase && caseId) {
      const caseMask = rng.chance(0.5) ? EMAIL : CRM | EMAIL;
      const priority = this.mood < 0.4 ? rng.pick(['high', 'urgent'] as const) : rng.pick(['low', 'normal', 'normal', 'high'] as const);
      this.ev(
        'case.opened',
        done + MINUTE,
        channel,
        'zendesk',
        caseMask,
        { caseId, category: reason, priority, subject: `Question about ${reason}` },
        { agentId, correlationId: caseId, causationId: contactId },
      );
      if (resolved) {
        this.ev(
          'case.resolved',
          done + 2 * MINUTE,
          channel,
          'zendesk',
          caseMask,
          { caseId, firstContactResolution: true, resolution: 'answered' },
          { agentId, correlationId: caseId },
        );
      } else {
        let at = done + rng.exp(2 * DAY) + HOUR;
        // the steps a ticketing system records between opening and resolution
        this.ev(
          'case.assigned',
          done + 5 * MINUTE,
          'other',
          'zendesk',
          caseMask,
          rng.chance(0.6) ? { caseId, assignee: this.agent(), team: 'second-line' } : { caseId, team: 'second-line' },
          { correlationId: caseId },
        );
        if (rng.chance(0.5)) {
          this.ev(
            'case.status-changed',
            done + 10 * MINUTE,
            'other',
            'zendesk',
            caseMask,
            { caseId, status: rng.pick(['in-progress', 'waiting', 'on-hold', 'pending-customer'] as const) },
            { correlationId: caseId },
          );
        }
        if (rng.chance(0.05)) {
          // a source that sends the opening again (a retry with a new event id): still one case
          this.ev(
            'case.opened',
            done + 15 * MINUTE,
            channel,
            'zendesk',
            caseMask,
            { caseId, category: reason, priority },
            { correlationId: caseId },
          );
        }
        if (rng.chance(o.escalate ?? 0.1)) {
          this.ev(
            'case.escalated',
            done + rng.exp(DAY) + 10 * MINUTE,
            'other',
            'zendesk',
            CRM,
            { caseId, level: 2, reason: 'not solved in first line' },
            { agentId: this.agent(), correlationId: caseId },
          );
          at += 2 * DAY;
        }
        if (!o.leaveOpen) {
          this.ev(
            'case.resolved',
            at,
            'email',
            'zendesk',
            caseMask,
            { caseId, firstContactResolution: false, resolution: rng.pick(['fixed', 'replaced', 'credited', 'explained']) },
            { agentId: this.agent(), correlationId: caseId },
          );
          const closes = rng.chance(0.4);
          if (rng.chance(o.reopen ?? 0.08)) {
            const reopened = at + rng.int(1, 10) * DAY;
            this.ev(
              'case.reopened',
              reopened,
              'email',
              'zendesk',
              EMAIL,
              { caseId, reason: 'problem came back' },
              { correlationId: caseId },
            );
            if (!o.leaveOpen && rng.chance(0.7)) {
              this.ev(
                'case.resolved',
                reopened + rng.exp(3 * DAY) + HOUR,
                'email',
                'zendesk',
                caseMask,
                { caseId, resolution: 'fixed' }, // first-contact resolution not recorded, as in many exports
                { agentId: this.agent(), correlationId: caseId },
              );
            }
          } else if (closes) {
            this.ev('case.closed', at + 7 * DAY, 'other', 'zendesk', caseMask, { caseId, reason: 'resolved' }, { correlationId: caseId });
          }
        }
      }
    }
    if (rng.chance(o.survey ?? 0.3)) this.csatSurvey(done, contactId, caseId);
    return caseId;
  }

  /** an agent calls the customer (a follow-up, or retention when the customer looks at risk) */
  outboundCall(t: number, reason: 'follow-up' | 'retention'): void {
    const rng = this.rng;
    if (!(this.has & PHONE)) return;
    const reached = rng.chance(0.7);
    const data: TouchpointPayloads['contact.handled'] = {
      direction: 'outbound',
      reason,
      waitSeconds: 0,
      handleSeconds: reached
        ? clampInt(rng.logNormal(reason === 'retention' ? 420 : 180, 0.5), 20, 3600)
        : clampInt(rng.real(15, 40), 15, 40),
      resolved: reached && rng.chance(reason === 'retention' ? 0.3 : 0.8),
    };
    if (!reached) data.notes = 'No answer, voicemail left.';
    this.ev('contact.handled', t, 'phone', 'genesys-cloud', PHONE | CRM, data, { agentId: this.agent() });
  }

  purchase(t: number): void {
    const rng = this.rng;
    const orderId = `ORD-${this.token}-${++this.orderSeq}`;
    const median = this.tier === 'platinum' ? 240 : this.tier === 'gold' ? 110 : 45;
    const amount = round2(Math.max(1, rng.logNormal(median, 0.6)));
    const store = rng.chance(0.15);
    const app = !store && this.has & DEVICE && rng.chance(0.4);
    const channel: Channel = store ? 'store' : app ? 'app' : 'web';
    const mask = store ? (rng.chance(0.6) ? CRM : PHONE) : EMAIL | SHOP;
    const id = this.ev(
      'purchase.completed',
      t,
      channel,
      store ? 'store-pos' : 'shopify',
      mask,
      {
        orderId,
        amount,
        currency: 'EUR',
        items: rng.int(1, 4),
        productCategory: rng.pick(V.PRODUCT_CATEGORIES),
      },
      { correlationId: orderId },
    );
    if (!id) return;
    if (rng.chance(0.05)) {
      this.ev(
        'order.cancelled',
        t + rng.int(10, 2000) * MINUTE,
        channel,
        store ? 'store-pos' : 'shopify',
        mask,
        { orderId, reason: rng.pick(['changed-mind', 'out-of-stock', 'delivery-too-slow']) },
        { correlationId: orderId, causationId: id },
      );
    } else if (rng.chance(0.06)) {
      const partial = rng.chance(0.4);
      this.ev(
        'refund.issued',
        t + rng.int(3, 30) * DAY,
        channel,
        'shopify',
        EMAIL | SHOP,
        {
          orderId,
          amount: partial ? round2(amount * rng.real(0.1, 0.6)) : amount,
          currency: 'EUR',
          reason: rng.pick(['defective', 'return', 'goodwill']),
        },
        { correlationId: orderId, causationId: id },
      );
    }
  }

  startSubscription(t: number, channel: Channel = 'web'): void {
    const rng = this.rng;
    const plan = this.tier === 'platinum' ? 2 : this.tier === 'gold' ? rng.int(1, 2) : rng.int(0, 1);
    const id = `SUB-${this.token}-${++this.subSeq}`;
    this.subscription = { id, plan };
    this.has |= ACCOUNT; // billing opens an account for a subscriber
    this.ev(
      'subscription.started',
      t,
      channel,
      'billing',
      ACCOUNT | CRM,
      { subscriptionId: id, plan: V.PLANS[plan].plan, monthlyAmount: V.PLANS[plan].monthly, currency: 'EUR' },
      { correlationId: id },
    );
  }

  changeSubscription(t: number, change: 'upgrade' | 'downgrade'): void {
    const sub = this.subscription;
    if (!sub) return;
    const to = change === 'upgrade' ? sub.plan + 1 : sub.plan - 1;
    if (to < 0 || to >= V.PLANS.length) return;
    const from = V.PLANS[sub.plan].plan;
    if (
      !this.ev(
        'subscription.changed',
        t,
        this.rng.chance(0.6) ? 'web' : 'phone',
        'billing',
        ACCOUNT | CRM,
        {
          subscriptionId: sub.id,
          change,
          fromPlan: from,
          toPlan: V.PLANS[to].plan,
          monthlyAmount: V.PLANS[to].monthly,
          currency: 'EUR',
        },
        { correlationId: sub.id },
      )
    )
      return;
    sub.plan = to;
  }

  cancelSubscription(t: number, reason: string): void {
    const sub = this.subscription;
    if (!sub) return;
    if (
      this.ev(
        'subscription.cancelled',
        t,
        this.rng.chance(0.5) ? 'web' : 'phone',
        'billing',
        ACCOUNT | CRM,
        { subscriptionId: sub.id, reason },
        { correlationId: sub.id },
      )
    ) {
      this.subscription = undefined;
    }
  }

  campaign(t: number, response?: TouchpointPayloads['campaign.responded']['response'], theme?: string): void {
    const rng = this.rng;
    const month = new Date(t).toISOString().slice(0, 7);
    const push = this.has & DEVICE && rng.chance(0.25);
    const sms = !push && this.has & PHONE && rng.chance(0.15);
    const r = response ?? rng.weighted(['opened', 'clicked', 'ignored', 'converted', 'unsubscribed'] as const, [40, 20, 30, 6, 4]);
    this.ev('campaign.responded', t, push ? 'app' : sms ? 'sms' : 'email', 'braze', push ? DEVICE : sms ? PHONE : EMAIL, {
      campaignId: `cmp-${month}-${theme ?? rng.pick(V.CAMPAIGN_THEMES)}`,
      response: r,
    });
    if (r === 'unsubscribed')
      this.ev('consent.changed', t + MINUTE, 'email', 'braze', EMAIL, { purpose: 'marketing-email', granted: false });
  }

  message(t: number, inbound: boolean, presales = false): void {
    const rng = this.rng;
    const kind = rng.weighted(['email', 'sms', 'social', 'chat'] as const, [60, 15, this.has & SOCIAL ? 15 : 0, 10]);
    const channel: Channel = kind;
    const mask = kind === 'email' ? EMAIL : kind === 'sms' ? PHONE : kind === 'social' ? SOCIAL : EMAIL | COOKIE;
    const threadId = `TH-${this.token}-${rng.int(1, 9999)}`;
    const data: TouchpointPayloads['message.received'] = { threadId };
    if (inbound) {
      data.subject = presales
        ? rng.pick(['Product question', 'Do you deliver to my area?', 'Which plan suits me?'])
        : rng.pick(['Question about my order', 'Invoice', 'Change of address', 'Product question', 'Delivery']);
      if (rng.chance(0.5)) data.body = `Hello, ${data.subject.toLowerCase()}. Regards, ${this.first}`;
    } else {
      data.subject = rng.pick(['Your order has shipped', 'Your invoice', 'Re: your question', 'News for you']);
    }
    this.ev(
      inbound ? 'message.received' : 'message.sent',
      t,
      channel,
      kind === 'social' ? 'social-hub' : kind === 'chat' ? 'intercom' : 'braze',
      mask,
      data,
      { correlationId: threadId },
    );
  }

  profile(t: number, full: boolean): void {
    const rng = this.rng;
    const data: TouchpointPayloads['profile.updated'] = {};
    if (full) {
      data.firstName = this.first;
      data.lastName = this.last;
      data.language = this.plan.language;
      if (rng.chance(0.4))
        data.birthDate = `${rng.int(1950, 2005)}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
    }
    if (!full || rng.chance(0.7)) {
      data.address = {
        line1: `${rng.pick(V.STREETS)} ${rng.int(1, 240)}`,
        postalCode: String(rng.int(1000, 99999)),
        city: this.plan.city,
        country: this.plan.country,
      };
    }
    this.ev('profile.updated', t, rng.pick(['web', 'app', 'phone'] as const), 'salesforce-crm', CRM | (rng.chance(0.5) ? EMAIL : 0), data);
  }

  consent(t: number, purpose: string, granted: boolean, mask = EMAIL): void {
    this.ev('consent.changed', t, 'web', 'consent-manager', mask, { purpose, granted });
  }

  complaint(t: number, caseId: string | undefined, severity: 'low' | 'medium' | 'high'): void {
    const rng = this.rng;
    const data: TouchpointPayloads['complaint.filed'] = {
      complaintId: `CMP-${this.token}-${rng.hex(4)}`,
      category: rng.pick(V.COMPLAINT_CATEGORIES),
      severity,
    };
    if (caseId) data.caseId = caseId;
    if (rng.chance(0.7)) data.description = rng.pick(V.COMPLAINT_TEXTS);
    const channel = rng.weighted(['phone', 'email', 'social', 'store'] as const, [35, 40, this.has & SOCIAL ? 15 : 0, 10]);
    this.ev('complaint.filed', t, channel, 'zendesk', channel === 'social' ? SOCIAL : channel === 'phone' ? PHONE | CRM : EMAIL, data, {
      correlationId: caseId,
    });
  }

  /** a source system that knows several identifiers states they are one person */
  link(t: number, envelopeMask: number, linkedMask: number, source = 'salesforce-crm'): void {
    const linked = linkedMask & this.has & ~envelopeMask;
    if (!linked) return;
    this.ev('identifiers.linked', t, 'other', source, envelopeMask, { identifiers: this.identifiers(linked) }, { linked });
  }

  /** routine life between two instants, at monthly rates scaled by intensity and engagement */
  routine(a: number, b: number, engagement: number, bought: boolean): void {
    if (b <= a) return;
    const rng = this.rng;
    const months = ((b - a) / MONTH) * ROUTINE_SCALE * this.cfg.intensity * engagement;
    const times = (rate: number) => {
      const n = rng.poisson(rate * months);
      const out: number[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = a + rng.next() * (b - a);
      return out;
    };
    for (const t of times(0.16)) this.webVisit(t, true);
    if (bought) {
      const tierRate = this.tier === 'platinum' ? 0.12 : this.tier === 'gold' ? 0.08 : 0.05;
      for (const t of times(tierRate)) this.purchase(t);
      for (const t of times(0.05)) this.contact(t, rng.pick(V.CONTACT_REASONS));
      for (const t of times(0.008)) this.outboundCall(t, 'follow-up');
      for (const t of times(0.11)) this.npsSurvey(t);
      for (const t of times(0.004)) this.complaint(t, undefined, rng.pick(['low', 'medium'] as const));
      if (this.subscription) {
        for (const t of times(0.012)) this.changeSubscription(t, 'upgrade');
        for (const t of times(0.005)) this.changeSubscription(t, 'downgrade');
      }
    }
    for (const t of times(0.02)) this.message(t, true);
    for (const t of times(0.04)) this.message(t, false);
    for (const t of times(0.06)) this.campaign(t);
    for (const t of times(0.01)) this.profile(t, false);
    for (const t of times(0.005)) this.consent(t, rng.pick(['marketing-email', 'marketing-sms', 'profiling']), rng.chance(0.5));
  }

  /** becoming a customer: anonymous visits before, then account, profile, consent, first buy */
  signup(at: number, subscribe: boolean): void {
    const rng = this.rng;
    for (let i = rng.int(0, 2); i > 0; i--) this.webVisit(at - rng.real(1, 25) * DAY, false);
    const channel: Channel = rng.chance(0.8) ? 'web' : 'store';
    this.consent(at - MINUTE, 'marketing-email', rng.chance(0.7), rng.chance(0.5) ? EMAIL : EMAIL | COOKIE);
    if (rng.chance(0.5)) this.profile(at + 2 * MINUTE, true);
    if (subscribe) this.startSubscription(at, channel);
    else this.purchase(at);
    if (rng.chance(0.5)) this.message(at + 3 * MINUTE, false);
    // the CRM links what it knows, sometimes only weeks later
    if (rng.chance(0.5)) this.link(at + rng.exp(20 * DAY), CRM, EMAIL | PHONE | ACCOUNT | SHOP);
    if (this.has & DEVICE && rng.chance(0.5)) this.webVisit(at + rng.exp(10 * DAY), true);
  }

  /** the months before a churn: repeat contacts, an unresolved case, complaint, detractor NPS, downgrade */
  churnSignals(churnAt: number, severity: number): void {
    const rng = this.rng;
    const start = churnAt - rng.int(45, 90) * DAY;
    const span = churnAt - start;
    const reason = rng.pick(['billing', 'technical', 'delivery'] as const);
    const saved = this.mood;
    this.mood = rng.real(0.05, 0.3);
    const contacts = rng.int(2, 3) + (severity > 0.6 ? rng.int(1, 2) : 0);
    let openCase: string | undefined;
    for (let i = 0; i < contacts; i++) {
      const t = start + (span * 0.7 * (i + rng.next() * 0.8)) / contacts;
      const caseId = this.contact(t, reason, {
        pResolved: 0.2,
        leaveOpen: i === 0,
        escalate: 0.6,
        reopen: 0.35,
        caseId: i > 0 ? openCase : undefined,
        survey: 0.4,
      });
      if (i === 0) openCase = caseId;
    }
    if (openCase && rng.chance(0.5)) {
      this.ev(
        'case.escalated',
        start + span * 0.5,
        'other',
        'zendesk',
        CRM,
        { caseId: openCase, level: 3, reason: 'repeat contact' },
        { agentId: this.agent(), correlationId: openCase },
      );
    }
    if (rng.chance(0.85)) this.complaint(start + span * rng.real(0.4, 0.8), openCase, severity > 0.5 ? 'high' : 'medium');
    if (rng.chance(0.8)) this.npsSurvey(start + span * rng.real(0.5, 0.9));
    if (rng.chance(0.6)) this.changeSubscription(churnAt - rng.int(7, 30) * DAY, 'downgrade');
    // sometimes the retention team notices and calls; it does not save this one
    if (rng.chance(0.35)) this.outboundCall(churnAt - rng.real(2, 20) * DAY, 'retention');
    this.webVisit(churnAt - rng.int(1, 3) * DAY, true, '/account/cancel');
    this.cancelSubscription(churnAt, rng.pick(V.CANCEL_REASONS));
    this.mood = saved;
  }
}

/** One person's full history plus manifest entry (events not yet in arrival order). */
export interface PersonHistory {
  manifest: ManifestCustomer;
  events: Timed[];
}

export function generatePerson(index: number, options: SeedOptions | Resolved): PersonHistory {
  const cfg = 'seedHash' in options ? options : resolve(options);
  const p = new PersonBuilder(cfg, index);
  const rng = p.rng;
  const { anchor, from } = cfg;
  const r = rng.next();
  const lifecycle: Lifecycle =
    r < cfg.churnRate
      ? 'churned'
      : r < cfg.churnRate + cfg.wonBackRate
        ? 'won-back'
        : r < cfg.churnRate + cfg.wonBackRate + 0.17
          ? 'prospect'
          : r < cfg.churnRate + cfg.wonBackRate + 0.27
            ? 'onboarding'
            : 'active';
  const engagement = rng.logNormal(1, 0.5);
  const span = anchor - from;
  let churnedAt: number | undefined;
  let wonBackAt: number | undefined;

  switch (lifecycle) {
    case 'prospect': {
      p.has &= ~(CRM | ACCOUNT | SHOP);
      if (rng.chance(0.3)) p.has &= ~(EMAIL | PHONE | DEVICE | SOCIAL); // anonymous: only ever seen by a cookie
      const first = from + rng.next() * (span - 7 * DAY);
      for (let i = rng.int(1, 4); i > 0; i--)
        p.webVisit(first + rng.exp(20 * DAY), false, rng.pick(['/', '/products', '/offers', '/products/devices']));
      if (p.has & EMAIL) {
        p.consent(first + rng.exp(10 * DAY), 'marketing-email', true, rng.chance(0.6) ? EMAIL | COOKIE : EMAIL);
        for (let i = rng.int(0, 3); i > 0; i--) p.campaign(first + rng.exp(60 * DAY), rng.pick(['opened', 'ignored', 'clicked'] as const));
        if (rng.chance(0.25)) p.contact(first + rng.exp(30 * DAY), 'product-info', { pResolved: 0.95, survey: 0.1 });
        if (rng.chance(0.15)) p.message(first + rng.exp(30 * DAY), true, true);
      }
      break;
    }
    case 'onboarding': {
      const at = anchor - rng.real(20, 75) * DAY;
      p.signup(at, rng.chance(0.8));
      for (let i = rng.int(1, 2); i > 0; i--) p.contact(at + rng.real(1, 18) * DAY, 'setup', { pResolved: 0.85, survey: 0.6 });
      p.routine(at + DAY, anchor, engagement * 1.5, true);
      break;
    }
    case 'active': {
      const at = from + rng.next() * Math.max(DAY, span - 120 * DAY);
      p.signup(at, rng.chance(0.75));
      p.mood = rng.real(0.55, 0.95);
      p.routine(at + DAY, anchor, engagement, true);
      break;
    }
    case 'churned': {
      const at = from + rng.next() * Math.max(DAY, span - 200 * DAY);
      p.signup(at, true);
      p.mood = rng.real(0.4, 0.8);
      churnedAt = at + 120 * DAY + rng.next() * Math.max(0, anchor - 21 * DAY - (at + 120 * DAY));
      churnedAt -= churnedAt % 1000;
      const severity = rng.next();
      p.routine(at + DAY, churnedAt - 90 * DAY, engagement, true);
      p.churnSignals(churnedAt, severity);
      p.silentFrom = churnedAt + 1000; // the cancellation itself is the last word
      break;
    }
    case 'won-back': {
      const at = from + rng.next() * Math.max(DAY, span - 330 * DAY);
      p.signup(at, true);
      p.mood = rng.real(0.45, 0.8);
      churnedAt = at + 120 * DAY + rng.next() * Math.max(0, anchor - 200 * DAY - (at + 120 * DAY));
      churnedAt -= churnedAt % 1000;
      p.routine(at + DAY, churnedAt - 90 * DAY, engagement, true);
      p.churnSignals(churnedAt, rng.next() * 0.5);
      wonBackAt = churnedAt + rng.real(45, 150) * DAY;
      wonBackAt -= wonBackAt % 1000;
      p.campaign(wonBackAt - 2 * HOUR, 'converted', 'win-back');
      p.startSubscription(wonBackAt, 'web');
      p.mood = rng.real(0.6, 0.9);
      p.routine(wonBackAt + DAY, anchor, engagement, true);
      break;
    }
  }
  if (p.events.length === 0) p.webVisit(from + rng.next() * (span - DAY), false);

  // every identifier the person used must end up connected: if the touch points alone leave
  // separate groups, the CRM (for prospects: marketing automation) links them at the end of the person's known life
  let groups = components(p.events);
  if (groups.length > 1) {
    const last = p.events.reduce((m, e) => Math.max(m, e.t), 0);
    const head = groups[0] & EMAIL ? EMAIL : groups[0] & CRM ? CRM : lowestBit(groups[0]);
    p.link(
      Math.min(last + rng.real(0.1, 1) * HOUR, p.silentFrom - 1000),
      head,
      p.used & ~head,
      lifecycle === 'prospect' ? 'braze' : 'salesforce-crm',
    );
    groups = components(p.events);
    if (groups.length > 1) throw new Error(`seed: person ${index} has unconnected identifiers`);
  }

  const manifest: ManifestCustomer = {
    key: `c${String(index).padStart(7, '0')}`,
    index,
    identifiers: identifiersOfMask(p, p.used),
    lifecycle,
    churner: lifecycle === 'churned',
    tier: p.tier,
    firstSeenAt: '',
    lastSeenAt: '',
    expected: summarise(p.events),
  };
  let lo = Infinity;
  let hi = -Infinity;
  for (const e of p.events) {
    if (e.t < lo) lo = e.t;
    if (e.t > hi) hi = e.t;
  }
  manifest.firstSeenAt = new Date(lo).toISOString();
  manifest.lastSeenAt = new Date(hi).toISOString();
  if (churnedAt !== undefined) manifest.churnedAt = new Date(churnedAt).toISOString();
  if (wonBackAt !== undefined) manifest.wonBackAt = new Date(wonBackAt).toISOString();
  return { manifest, events: p.events };
}

function lowestBit(mask: number): number {
  return mask & -mask;
}

function identifiersOfMask(p: PersonBuilder, mask: number): Identifier[] {
  return p.identifiers(mask).map((i) => i as Identifier);
}

/** connected groups of identifier slots (order independent) */
function components(events: Timed[]): number[] {
  const comps: number[] = [];
  for (const e of events) join(comps, e.mask);
  return comps;
}

/**
 * Adds one event's identifiers to the known groups (in place, no allocation); returns how many
 * groups it touched: 0 = a new customer is registered, 2+ = the event merges customers.
 */
function join(comps: number[], mask: number): number {
  let first = -1;
  let touched = 0;
  for (let i = 0; i < comps.length; i++) {
    if ((comps[i] & mask) === 0) continue;
    touched++;
    if (first < 0) {
      first = i;
      comps[i] |= mask;
    } else {
      comps[first] |= comps[i];
      comps.splice(i, 1);
      i--;
    }
  }
  if (touched === 0) comps.push(mask);
  return touched;
}

const later = (a: Timed, t: number, seq: number) => a.t > t || (a.t === t && a.seq > seq);

/** Expected figures of one person; "latest" means latest by occurredAt, whatever the arrival order. */
function summarise(events: Timed[]): ExpectedCounts {
  const counts = new Map<TouchpointType, number>();
  const x: ExpectedCounts = {
    events: events.length,
    byType: {},
    registrations: 0,
    mergeEvents: 0,
    purchases: 0,
    revenue: 0,
    refunded: 0,
    complaints: 0,
    contacts: 0,
    openCases: 0,
    activeSubscription: false,
  };
  let cases: Map<string, { t: number; seq: number; open: boolean }> | undefined;
  let subs: Map<string, { t: number; seq: number; open: boolean }> | undefined;
  let npsAt = -Infinity;
  let npsSeq = 0;
  let revenue = 0;
  let refunded = 0;
  const set = (map: Map<string, { t: number; seq: number; open: boolean }>, id: string, e: Timed, open: boolean) => {
    const cur = map.get(id);
    if (!cur || later(e, cur.t, cur.seq)) map.set(id, { t: e.t, seq: e.seq, open });
  };
  for (const e of events) {
    const env = e.env;
    counts.set(env.type, (counts.get(env.type) ?? 0) + 1);
    const d = env.data as Record<string, any>;
    switch (env.type) {
      case 'purchase.completed':
        x.purchases++;
        revenue += d.amount;
        break;
      case 'refund.issued':
        refunded += d.amount;
        break;
      case 'complaint.filed':
        x.complaints++;
        break;
      case 'contact.handled':
        x.contacts++;
        break;
      case 'survey.answered': {
        const nps = env.schemaVersion === 1 ? (d.survey === 'nps' ? d.score : undefined) : d.nps;
        if (nps !== undefined && later(e, npsAt, npsSeq)) {
          x.lastNps = nps;
          npsAt = e.t;
          npsSeq = e.seq;
        }
        break;
      }
      case 'case.reopened':
      case 'case.status-changed':
        set((cases ??= new Map()), d.caseId, e, true);
        break;
      case 'case.opened':
      case 'case.assigned':
      case 'case.escalated':
        // not status changes (docs/read-models.md): an opening starts the case (a repeated one never
        // reopens it), an escalation or assignment is routing; a case with no status event is open
        if (!(cases ??= new Map()).has(d.caseId)) cases.set(d.caseId, { t: -Infinity, seq: -1, open: true });
        break;
      case 'case.resolved':
      case 'case.closed':
        set((cases ??= new Map()), d.caseId, e, false);
        break;
      case 'subscription.started':
      case 'subscription.changed':
        set((subs ??= new Map()), d.subscriptionId, e, true);
        break;
      case 'subscription.cancelled':
        set((subs ??= new Map()), d.subscriptionId, e, false);
        break;
    }
  }
  if (cases) for (const c of cases.values()) if (c.open) x.openCases++;
  if (subs) for (const c of subs.values()) if (c.open) x.activeSubscription = true;
  for (const [type, n] of counts) x.byType[type] = n;
  x.revenue = round2(revenue);
  x.refunded = round2(refunded);
  return x;
}

/**
 * The seed: iterate `envelopes()` or `batches()` once (streaming, memory bounded by one chunk of
 * customers plus the late backlog), then read `manifest()`.
 */
export class SeedGenerator {
  private readonly cfg: Resolved;
  private readonly people: ManifestCustomer[] = [];
  private started = false;
  private done = false;
  private readonly totals = {
    customers: 0,
    events: 0,
    envelopes: 0,
    duplicates: 0,
    late: 0,
    registrations: 0,
    mergeEvents: 0,
    byType: {} as Partial<Record<TouchpointType, number>>,
    byLifecycle: { prospect: 0, onboarding: 0, active: 0, churned: 0, 'won-back': 0 } as Record<Lifecycle, number>,
  };

  constructor(options: SeedOptions) {
    this.cfg = resolve(options);
  }

  get anchor(): string {
    return new Date(this.cfg.anchor).toISOString();
  }

  get from(): string {
    return new Date(this.cfg.from).toISOString();
  }

  /** Every envelope in arrival order (not occurredAt order). Single use. */
  *envelopes(): Generator<RawEnvelope> {
    if (this.started) throw new Error('a SeedGenerator is iterated once; create another');
    this.started = true;
    const cfg = this.cfg;
    const totals = this.totals;
    const late: Timed[] = [];
    const end = cfg.first + cfg.customers;
    for (let start = cfg.first; start < end; start += cfg.chunk) {
      const pending: Timed[] = [];
      for (let i = start; i < Math.min(end, start + cfg.chunk); i++) {
        const { manifest, events } = generatePerson(i, cfg);
        const person: PersonState = { manifest, comps: [] };
        if (cfg.keepPeople) this.people.push(manifest);
        totals.customers++;
        totals.events += manifest.expected.events;
        totals.byLifecycle[manifest.lifecycle]++;
        for (const type in manifest.expected.byType) {
          const t = type as TouchpointType;
          totals.byType[t] = (totals.byType[t] ?? 0) + manifest.expected.byType[t]!;
        }
        const rng = new Rng(mix32(cfg.seedHash ^ mix32(i + 0x632be5ab)));
        for (const e of events) {
          e.person = person;
          const r = rng.next();
          const isLate = r < cfg.lateRate;
          // most arrive within seconds; batch exports (surveys, analytics) within a day; a few months late
          e.arrival = e.t + (isLate ? rng.real(30, 240) * DAY : r < 0.85 ? rng.real(0, 30_000) : rng.real(MINUTE, 26 * HOUR));
          (isLate ? late : pending).push(e);
          if (rng.chance(cfg.duplicateRate)) {
            const retry: Timed = { ...e, arrival: e.arrival + rng.real(1000, 10 * MINUTE), duplicate: true };
            (isLate ? late : pending).push(retry);
          }
        }
      }
      pending.sort(byArrival);
      for (const e of pending) yield this.track(e);
    }
    late.sort(byArrival);
    for (const e of late) {
      if (!e.duplicate) totals.late++;
      yield this.track(e);
    }
    this.done = true;
  }

  /** Batches of at most `size` envelopes, in arrival order. */
  *batches(size = 1000): Generator<RawEnvelope[]> {
    let batch: RawEnvelope[] = [];
    for (const e of this.envelopes()) {
      batch.push(e);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  private track(e: Timed): RawEnvelope {
    const totals = this.totals;
    totals.envelopes++;
    if (e.duplicate) {
      totals.duplicates++;
      return e.env;
    }
    const person = e.person;
    const touched = join(person.comps, e.mask);
    if (touched === 0) {
      person.manifest.expected.registrations++;
      totals.registrations++;
    } else if (touched >= 2) {
      person.manifest.expected.mergeEvents++;
      totals.mergeEvents++;
    }
    return e.env;
  }

  /** The ground truth; complete once the envelopes have been iterated to the end. */
  manifest(): SeedManifest {
    if (!this.done) throw new Error('the manifest is complete only after every envelope was iterated');
    const t = this.totals;
    return {
      seed: this.cfg.seed,
      anchor: this.anchor,
      from: this.from,
      customers: t.customers,
      events: t.events,
      envelopes: t.envelopes,
      duplicates: t.duplicates,
      late: t.late,
      churners: t.byLifecycle.churned,
      registrations: t.registrations,
      mergeEvents: t.mergeEvents,
      byType: t.byType,
      byLifecycle: t.byLifecycle,
      people: this.people,
    };
  }
}

// Array.prototype.sort is stable, so equal arrivals keep generation order: still deterministic
const byArrival = (a: Timed, b: Timed) => a.arrival - b.arrival;
