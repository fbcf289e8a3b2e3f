import type * as P from './payloads';

export const CHANNELS = ['phone', 'chat', 'email', 'web', 'app', 'store', 'social', 'sms', 'other'] as const;
export type Channel = (typeof CHANNELS)[number];

/** The statuses `case.status-changed` may carry (all of them open ones); see CaseWorkStatus. */
export const CASE_WORK_STATUSES = ['in-progress', 'waiting', 'on-hold', 'pending-customer'] as const satisfies readonly P.CaseWorkStatus[];

/** Latest payload of each touch-point type an integration may send. */
export interface TouchpointPayloads {
  'contact.handled': P.ContactHandledV1;
  'message.received': P.MessageV1;
  'message.sent': P.MessageV1;
  'web.visited': P.WebVisitedV1;
  'purchase.completed': P.PurchaseCompletedV1;
  'order.cancelled': P.OrderCancelledV1;
  'refund.issued': P.RefundIssuedV1;
  'survey.answered': P.SurveyAnsweredV2;
  'case.opened': P.CaseOpenedV1;
  'case.resolved': P.CaseResolvedV1;
  'case.reopened': P.CaseReopenedV1;
  'case.escalated': P.CaseEscalatedV1;
  'case.assigned': P.CaseAssignedV1;
  'case.status-changed': P.CaseStatusChangedV1;
  'case.closed': P.CaseClosedV1;
  'complaint.filed': P.ComplaintFiledV1;
  'campaign.responded': P.CampaignRespondedV1;
  'subscription.started': P.SubscriptionStartedV1;
  'subscription.changed': P.SubscriptionChangedV1;
  'subscription.cancelled': P.SubscriptionCancelledV1;
  'profile.updated': P.ProfileUpdatedV1;
  'consent.changed': P.ConsentChangedV1;
  'identifiers.linked': P.IdentifiersLinkedV1;
}
export type TouchpointType = keyof TouchpointPayloads;

/** Payloads of the events the platform writes itself. */
export interface SystemPayloads {
  'customer.registered': P.CustomerRegisteredV1;
  'customers.merged': P.CustomersMergedV1;
  'customer.merged-into': P.CustomerMergedIntoV1;
  'customers.unmerged': P.CustomersUnmergedV1;
  'milestone.reached': P.MilestoneReachedV1;
  'milestone.missed': P.MilestoneMissedV1;
  'target.created': P.TargetSetV1;
  'target.changed': P.TargetSetV1;
  'segment.created': P.SegmentSetV1;
  'segment.changed': P.SegmentSetV1;
  'segment.archived': P.SegmentArchivedV1;
  'segment.entered': P.SegmentMembershipChangedV1;
  'segment.left': P.SegmentMembershipChangedV1;
  'churn-risk.changed': P.ChurnRiskChangedV1;
  'churn-model.fitted': P.ChurnModelFittedV1;
  'ops.action-performed': P.OpsActionPerformedV1;
  'personal-data.erased': P.PersonalDataErasedV1;
  'personal-data.resealed': P.PersonalDataResealedV1;
}
export type SystemType = keyof SystemPayloads;
export type EventType = TouchpointType | SystemType;
export type PayloadOf<T extends EventType> = T extends TouchpointType
  ? TouchpointPayloads[T]
  : T extends SystemType
    ? SystemPayloads[T]
    : never;

export interface CatalogueEntry {
  /** schemaVersion new events are written with; older versions are lifted by upcasters on read */
  latestVersion: number;
  /** versions an integration may still send */
  acceptedVersions: number[];
  /**
   * Dotted payload paths holding personal data (names, contact data, addresses, free text). The
   * erasure capability encrypts exactly these per customer. `*` matches every key of an object.
   */
  personalData: string[];
  description: string;
}

const entry = (description: string, personalData: string[] = [], latestVersion = 1): CatalogueEntry => ({
  description,
  personalData,
  latestVersion,
  acceptedVersions: Array.from({ length: latestVersion }, (_, i) => i + 1),
});

export const TOUCHPOINT_CATALOGUE: Record<TouchpointType, CatalogueEntry> = {
  'contact.handled': entry('A call, chat or other live contact handled by an agent or bot', ['notes']),
  'message.received': entry('An asynchronous message from the customer (email, sms, social, chat)', ['subject', 'body']),
  'message.sent': entry('An asynchronous message to the customer', ['subject', 'body']),
  'web.visited': entry('A visit of the web site or app'),
  'purchase.completed': entry('An order paid'),
  'order.cancelled': entry('An order cancelled before fulfilment'),
  'refund.issued': entry('Money returned to the customer'),
  'survey.answered': entry('A survey answer with NPS (0-10), CSAT (1-5) and/or CES (1-7)', ['comment'], 2),
  'case.opened': entry('A service case (ticket) opened', ['subject']),
  'case.resolved': entry('A service case resolved, first contact or not (firstContactResolution absent when unknown)'),
  'case.reopened': entry('A resolved or closed case reopened'),
  'case.escalated': entry('A case escalated to a higher level (routing, not a status change)'),
  'case.assigned': entry('A case assigned to an agent and/or a team'),
  'case.status-changed': entry('An open case changed status: in-progress, waiting, on-hold or pending-customer'),
  'case.closed': entry('A case closed for good, resolved before or not'),
  'complaint.filed': entry('A complaint about product, service or after-sales', ['description']),
  'campaign.responded': entry('A response to a marketing campaign'),
  'subscription.started': entry('A subscription or contract started'),
  'subscription.changed': entry('A subscription upgraded, downgraded or otherwise changed'),
  'subscription.cancelled': entry('A subscription or contract cancelled'),
  'profile.updated': entry('Profile attributes changed in a source system', ['*']),
  'consent.changed': entry('A consent granted or withdrawn for a purpose'),
  'identifiers.linked': entry('A source system states that these identifiers belong to this customer', ['identifiers.*.value']),
};

/**
 * Personal data in the payloads the platform writes itself (dotted paths as in CatalogueEntry): the
 * identifiers a registration names and the identifier keys that proved a merge. A system type not
 * listed carries none (its payload is ids, bands, figures).
 */
export const SYSTEM_PERSONAL_DATA: Partial<Record<SystemType, string[]>> = {
  'customer.registered': ['identifiers.*.value'],
  'customers.merged': ['evidence.identifiers.*'],
  'customers.unmerged': ['identifiers.*'],
  'personal-data.resealed': ['events.*.values'],
};

/** Personal data in the envelope, whatever the type. */
export const ENVELOPE_PERSONAL_DATA = ['customer.identifiers.*.value'] as const;

export const TOUCHPOINT_TYPES = Object.keys(TOUCHPOINT_CATALOGUE) as TouchpointType[];

export function isTouchpointType(type: string): type is TouchpointType {
  return Object.prototype.hasOwnProperty.call(TOUCHPOINT_CATALOGUE, type);
}
