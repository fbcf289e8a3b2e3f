import type { Identifier } from '../identity/identifier';

/**
 * Payloads of the touch-point event catalogue, latest version of each type. Plain types: validation
 * happens at the edge (libs/ingestion DTOs), upcasting of older versions in ./upcasters.
 * Money is a decimal amount in the currency's major unit plus an ISO-4217 code.
 */
export interface ContactHandledV1 {
  direction: 'inbound' | 'outbound';
  reason?: string;
  waitSeconds?: number;
  handleSeconds: number;
  resolved: boolean;
  transferred?: boolean;
  /** free text: personal data */
  notes?: string;
}
export interface MessageV1 {
  threadId?: string;
  /** personal data */
  subject?: string;
  /** personal data */
  body?: string;
}
export interface WebVisitedV1 {
  url: string;
  pageViews?: number;
  durationSeconds?: number;
  device?: string;
}
export interface PurchaseCompletedV1 {
  orderId: string;
  amount: number;
  currency: string;
  items?: number;
  productCategory?: string;
}
export interface OrderCancelledV1 {
  orderId: string;
  reason?: string;
}
export interface RefundIssuedV1 {
  orderId?: string;
  amount: number;
  currency: string;
  reason?: string;
}
/** v1 carried one score and its scale; v2 (current) carries each scale in its own field. */
export interface SurveyAnsweredV1 {
  surveyId?: string;
  survey: 'nps' | 'csat' | 'ces';
  score: number;
  comment?: string;
}
export interface SurveyAnsweredV2 {
  surveyId?: string;
  /** 0-10 */
  nps?: number;
  /** 1-5 */
  csat?: number;
  /** 1-7 */
  ces?: number;
  /** free text: personal data */
  comment?: string;
}
export interface CaseOpenedV1 {
  caseId: string;
  category?: string;
  priority?: 'low' | 'normal' | 'high' | 'urgent';
  /** personal data */
  subject?: string;
}
export interface CaseResolvedV1 {
  caseId: string;
  /** absent when the source does not know (most ticket exports do not record it) */
  firstContactResolution?: boolean;
  resolution?: string;
}
export interface CaseReopenedV1 {
  caseId: string;
  reason?: string;
}
export interface CaseEscalatedV1 {
  caseId: string;
  level?: number;
  reason?: string;
}
/** Who works the case now: an agent, a team or both (either may be absent when the source has one only). */
export interface CaseAssignedV1 {
  caseId: string;
  assignee?: string;
  team?: string;
}
/**
 * Where an open case stands, the steps ticketing systems record between opening and resolution.
 * A closed set: `in-progress` (taken in charge), `waiting` (on a third party or internal team),
 * `on-hold` (parked), `pending-customer` (waiting for the customer's answer). Every one is an open
 * status; resolving and closing have their own events (case.resolved, case.closed).
 */
export type CaseWorkStatus = 'in-progress' | 'waiting' | 'on-hold' | 'pending-customer';
export interface CaseStatusChangedV1 {
  caseId: string;
  status: CaseWorkStatus;
  reason?: string;
}
/** The case is closed for good (after a resolution, or without one: duplicate, spam, abandoned). */
export interface CaseClosedV1 {
  caseId: string;
  reason?: string;
}
export interface ComplaintFiledV1 {
  complaintId?: string;
  caseId?: string;
  category: string;
  severity?: 'low' | 'medium' | 'high';
  /** personal data */
  description?: string;
}
export interface CampaignRespondedV1 {
  campaignId: string;
  response: 'opened' | 'clicked' | 'converted' | 'unsubscribed' | 'ignored';
}
export interface SubscriptionStartedV1 {
  subscriptionId: string;
  plan: string;
  monthlyAmount?: number;
  currency?: string;
}
export interface SubscriptionChangedV1 {
  subscriptionId: string;
  change: 'upgrade' | 'downgrade' | 'other';
  fromPlan?: string;
  toPlan: string;
  monthlyAmount?: number;
  currency?: string;
}
export interface SubscriptionCancelledV1 {
  subscriptionId: string;
  reason?: string;
}
export interface PostalAddress {
  line1?: string;
  line2?: string;
  postalCode?: string;
  city?: string;
  country?: string;
}
/** Every field is personal data. */
export interface ProfileUpdatedV1 {
  firstName?: string;
  lastName?: string;
  birthDate?: string;
  language?: string;
  address?: PostalAddress;
}
export interface ConsentChangedV1 {
  purpose: string;
  granted: boolean;
}
export interface IdentifiersLinkedV1 {
  identifiers: Identifier[];
}

/** System events the platform writes itself. */
export interface CustomerRegisteredV1 {
  customerId: string;
  identifiers: Identifier[];
}
export interface MergeEvidence {
  /** identifier keys (`kind:value`) that were found on more than one customer */
  identifiers: string[];
  /** the rule that decided the merge, e.g. `shared-identifier` */
  rule: string;
  /** the ingested event that carried the shared identifiers */
  triggeringEventId: string;
  /** how the survivor was chosen */
  survivorRule: string;
}
export interface CustomersMergedV1 {
  survivorId: string;
  mergedIds: string[];
  evidence: MergeEvidence;
}
/** Written into a merged-away stream so a reader of that stream knows where the customer went. */
export interface CustomerMergedIntoV1 {
  customerId: string;
  survivorId: string;
}

/**
 * A merge undone (`cem unmerge`, `POST /v1/customers/{id}/unmerge`): written on the survivor's stream,
 * one per customer split off. From this event on the split customer is live again with the
 * identifiers it took back; events that came through the merged identity after the merge are
 * attributed by the identifiers they carried (docs/identity.md, "Unmerge"), and a later event naming
 * identifiers of both is not merged again but marked as a conflict.
 */
export interface CustomersUnmergedV1 {
  survivorId: string;
  /** the customer split off, live again */
  splitId: string;
  /** customers merged into the split customer before the undone merge: they follow it again */
  restoredIds: string[];
  /** the `customers.merged` event undone, and its log position */
  mergeId: string;
  mergePosition: number;
  /**
   * the identifiers moved to the split customer, keyed as the identity registry keys them (like the
   * merge's evidence: blind keys with the blind index, else `kind:value`, encrypted)
   */
  identifiers: string[];
  /**
   * events of the survivor's stream recorded after the merge that are the split customer's: every
   * identifier they carried was moved to it (docs/identity.md, "Unmerge"); decided when the unmerge
   * was appended at the stream revision it read, so none is missing
   */
  reattributedEventIds: string[];
  requestedBy: { kind: 'os-user' | 'named' | 'api-key'; name: string };
  /** why (a ticket or case reference; no personal data) */
  reason: string;
  unmergedAt: string;
}

/**
 * An unmerge's copy of the personal values of the events it re-attributed to the customer split off
 * (`reattributedEventIds` of its `customers.unmerged`), written when encryption is on, on the stream
 * `personal-data-resealed` and sealed with the split customer's data key (`metadata.sealedFor`).
 * Readers get those events with these values, not the survivor-sealed ones on the survivor's stream
 * (docs/identity.md, "Unmerge and erasure").
 */
export interface PersonalDataResealedV1 {
  unmergeId: string;
  survivorId: string;
  splitId: string;
  /**
   * per re-attributed event: `values` is `{ data, identifiers }` (its payload and envelope
   * identifiers), sealed; per event that stays with the survivor but names identifiers moved (the
   * merge's trigger): `values` is `{ identifiers }`, those at `identifierIndices` of its envelope
   */
  events: { eventId: string; values: unknown; identifierIndices?: number[] }[];
}

/**
 * A journey milestone reached by a customer (written by the platform's milestone scheduler; see
 * docs/milestones-and-targets.md). `definition` fingerprints the milestone's definition (with the
 * milestones its deadline counts from): a changed definition is announced anew.
 */
export interface MilestoneReachedV1 {
  milestoneId: string;
  definition: string;
  /** occurredAt of the touch point that reached it */
  reachedAt: string;
}
/** A journey milestone whose deadline passed without the customer reaching it. */
export interface MilestoneMissedV1 {
  milestoneId: string;
  definition: string;
  /** the deadline that passed */
  deadlineAt: string;
}

/**
 * A programme target: a metric of the experience metrics, optionally on one slice, held to a
 * threshold by a due date (e.g. NPS at least 40 in the `high` value segment by 2027-03-31).
 */
export interface TargetDefinition {
  name: string;
  /** an experience-metrics metric name, e.g. `nps` */
  metric: string;
  /** one value of one slice dimension, e.g. `{ dimension: 'segment', value: 'high' }`; null: every customer */
  slice: { dimension: string; value: string } | null;
  /** `at-least`: the metric must reach the threshold or more; `at-most`: stay at or under it */
  direction: 'at-least' | 'at-most';
  threshold: number;
  /** buckets the status method reads the trend from */
  bucket: 'week' | 'month';
  /** first day of the period the trend is read over (YYYY-MM-DD, reporting time zone) */
  startDate: string;
  /** last day of the period: the target is met or missed on the bucket holding it */
  dueDate: string;
}
/** A target created (version 1) or changed (version 2, 3, ...) through the API: the whole definition each time. */
export interface TargetSetV1 {
  targetId: string;
  version: number;
  target: TargetDefinition;
  /** the API key that made the change (its id, not a person) */
  changedBy: string;
}

/**
 * An analyst-defined customer segment (docs/segments.md): a rule over customer facts in the
 * segment rule language, validated by libs/read-models/src/segments/segment-rule.ts.
 */
export interface SegmentDefinition {
  name: string;
  description: string;
  /** the rule, as JSON (all / any / not, fact comparisons, event counts in a window) */
  rule: Record<string, unknown>;
  /** the consent purpose the segment is used for (e.g. `marketing-email`); null: none needed */
  consentPurpose: string | null;
}
/** A segment created (version 1) or changed (2, 3, ...) through the API: the whole definition each time. */
export interface SegmentSetV1 {
  segmentId: string;
  version: number;
  segment: SegmentDefinition;
  /** the name of the API key that made the change (not a person) */
  changedBy: string;
}
/** A segment archived: it has no members from then on; its history stays. */
export interface SegmentArchivedV1 {
  segmentId: string;
  version: number;
  changedBy: string;
}
/**
 * A customer entered or left a segment (written by the scheduled segment evaluation, on the
 * customer's stream). Its id is deterministic (segment, customer, ordinal of the change, kind).
 */
export interface SegmentMembershipChangedV1 {
  segmentId: string;
  customerId: string;
  /** the definition version the customer was evaluated against */
  version: number;
  /** 1 for the customer's first change in this segment, then 2, 3, ... */
  ordinal: number;
  /** the instant the rule was evaluated at */
  asOf: string;
  /**
   * entered: the customer holds the segment's consent purpose (or it names none), so the change
   * is exported and signalled; left: the entry had been signalled. False: counted, held back.
   */
  activated: boolean;
  /** left only: `rule` (no longer matches) or `archived` (the segment was archived) */
  reason?: 'rule' | 'archived';
}

/** The risk bands of the churn-risk model, lowest first. */
export type ChurnBand = 'low' | 'medium' | 'high' | 'critical';
/**
 * A customer's churn-risk band changed (written by the scheduled re-scoring, on the customer's
 * stream). Its id is deterministic (customer, ordinal of the change, band): written once.
 */
export interface ChurnRiskChangedV1 {
  customerId: string;
  /** the band announced before; null for the first announcement */
  fromBand: ChurnBand | null;
  band: ChurnBand;
  /** probability of churning within the model's horizon */
  probability: number;
  /** the same in log-odds: the sum of the factor contributions */
  logOdds: number;
  /** the instant the score was evaluated at */
  asOf: string;
  model: { name: string; version: number };
  /** names of the largest contributions towards churn, largest first */
  topFactors: string[];
}
/** One input of the fitted risk model: standardised, then weighted in log-odds. */
export interface ChurnModelFeature {
  name: string;
  mean: number;
  sd: number;
  weight: number;
}
/** A churn-risk model fitted on the log (`cem churn fit`), on the stream `churn-model`. */
export interface ChurnModelFittedV1 {
  name: string;
  /** 1, 2, ... per fit; every score stores the version that produced it */
  version: number;
  /** the log was read up to (excluding) this instant */
  asOf: string;
  /** the horizon the probability is for */
  horizonDays: number;
  /** the window the training labels were observed in (the horizon, or less on a short history) */
  trainingWindowDays: number;
  /** probability thresholds of the medium, high and critical bands */
  bandThresholds: [number, number, number];
  bgNbd: { r: number; alpha: number; a: number; b: number; logLikelihood: number; customers: number };
  intercept: number;
  features: ChurnModelFeature[];
  figures: { trainingCustomers: number; churnRate: number; trainingAuc: number; logLoss: number };
}

/**
 * An ops command ran (`cem verify-log`, `cem export-log`, ...), on the stream `cem-ops`: who ran
 * what, when and with what result, so the log audits the auditors. The actor is an OS user, a name
 * given with `--actor`, or an API key's name (never its secret); parameters and outcome carry no
 * personal data (file names, positions, counts, hashes).
 */
export interface OpsActionPerformedV1 {
  /** the command, e.g. `verify-log`, `export-log`, `import-log`, `replay`, `log-head` */
  action: string;
  actor: { kind: 'os-user' | 'named' | 'api-key'; name: string };
  startedAt: string;
  finishedAt: string;
  result: 'ok' | 'failed' | 'refused';
  /** the options it ran with */
  parameters: Record<string, string | number | boolean | null>;
  /** one line: what it found, or why it failed */
  outcome: string;
  /** counts and hashes worth keeping, e.g. events checked, the head hash */
  figures: Record<string, string | number>;
}

/**
 * A customer's personal data was erased (`cem erase`): the erasure certificate, kept in the log on
 * the customer's stream. Its data keys (and those of the customers merged into it) are destroyed, so
 * the personal values of their encrypted events no longer decrypt anywhere; their identifiers are
 * removed from the identity registry. It carries no personal data itself.
 */
export interface PersonalDataErasedV1 {
  customerId: string;
  /** the customer and every customer merged into it, whose keys were destroyed */
  erasedCustomerIds: string[];
  erasedAt: string;
  requestedBy: { kind: 'os-user' | 'named' | 'api-key'; name: string };
  /** why (a ticket or request reference; never personal data) */
  reason: string;
  /** what was erased: `<event type>: <field>` for every personal field the customer's encrypted events held */
  erasedFields: string[];
  /** events whose personal values became unreadable */
  encryptedEvents: number;
  /**
   * events of the customer holding personal data in plaintext (written before encryption was switched
   * on): NOT erased by key destruction
   */
  plaintextEvents: number;
  /** position of the last event of the log when the erasure began */
  logHeadBefore: number;
}
