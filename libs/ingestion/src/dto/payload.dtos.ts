import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsUrl,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { CASE_WORK_STATUSES, isCalendarDate } from '@cem/domain';
import type * as P from '@cem/domain';
import type { TouchpointType } from '@cem/domain';
import { CalendarDate, Currency, FreeText, Money, OneOf, ShortText } from './common';
import { IdentifierDto } from './identifier.dto';

/*
 * One DTO per payload version at the HTTP/Kafka/file edge. Each `implements` the plain domain type,
 * so the compiler keeps the two in step. Unknown fields are rejected (forbidNonWhitelisted).
 */

export class ContactHandledV1Dto implements P.ContactHandledV1 {
  @OneOf(['inbound', 'outbound']) direction!: 'inbound' | 'outbound';
  @IsOptional() @ShortText() reason?: string;
  @IsOptional() @IsInt() @Min(0) @Max(86_400) waitSeconds?: number;
  @IsInt() @Min(0) @Max(86_400) handleSeconds!: number;
  @IsBoolean() resolved!: boolean;
  @IsOptional() @IsBoolean() transferred?: boolean;
  @IsOptional() @FreeText() notes?: string;
}

export class MessageV1Dto implements P.MessageV1 {
  @IsOptional() @ShortText() threadId?: string;
  @IsOptional() @FreeText(1000) subject?: string;
  @IsOptional() @FreeText(20_000) body?: string;
}

export class WebVisitedV1Dto implements P.WebVisitedV1 {
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] }) @ShortText(2000) url!: string;
  @IsOptional() @IsInt() @Min(0) @Max(100_000) pageViews?: number;
  @IsOptional() @IsInt() @Min(0) @Max(86_400) durationSeconds?: number;
  @IsOptional() @ShortText(100) device?: string;
}

export class PurchaseCompletedV1Dto implements P.PurchaseCompletedV1 {
  @ShortText() orderId!: string;
  @Money() amount!: number;
  @Currency() currency!: string;
  @IsOptional() @IsInt() @Min(0) @Max(1_000_000) items?: number;
  @IsOptional() @ShortText() productCategory?: string;
}

export class OrderCancelledV1Dto implements P.OrderCancelledV1 {
  @ShortText() orderId!: string;
  @IsOptional() @ShortText() reason?: string;
}

export class RefundIssuedV1Dto implements P.RefundIssuedV1 {
  @IsOptional() @ShortText() orderId?: string;
  @Money() amount!: number;
  @Currency() currency!: string;
  @IsOptional() @ShortText() reason?: string;
}

export class SurveyAnsweredV1Dto implements P.SurveyAnsweredV1 {
  @IsOptional() @ShortText() surveyId?: string;
  @OneOf(['nps', 'csat', 'ces']) survey!: 'nps' | 'csat' | 'ces';
  @IsInt() @Min(0) @Max(10) score!: number;
  @IsOptional() @FreeText() comment?: string;
}

export class SurveyAnsweredV2Dto implements P.SurveyAnsweredV2 {
  @IsOptional() @ShortText() surveyId?: string;
  @IsOptional() @IsInt() @Min(0) @Max(10) nps?: number;
  @IsOptional() @IsInt() @Min(1) @Max(5) csat?: number;
  @IsOptional() @IsInt() @Min(1) @Max(7) ces?: number;
  @IsOptional() @FreeText() comment?: string;
}

export class CaseOpenedV1Dto implements P.CaseOpenedV1 {
  @ShortText() caseId!: string;
  @IsOptional() @ShortText() category?: string;
  @IsOptional() @OneOf(['low', 'normal', 'high', 'urgent']) priority?: 'low' | 'normal' | 'high' | 'urgent';
  @IsOptional() @FreeText(1000) subject?: string;
}

export class CaseResolvedV1Dto implements P.CaseResolvedV1 {
  @ShortText() caseId!: string;
  @IsOptional() @IsBoolean() firstContactResolution?: boolean;
  @IsOptional() @ShortText() resolution?: string;
}

export class CaseReopenedV1Dto implements P.CaseReopenedV1 {
  @ShortText() caseId!: string;
  @IsOptional() @ShortText() reason?: string;
}

export class CaseEscalatedV1Dto implements P.CaseEscalatedV1 {
  @ShortText() caseId!: string;
  @IsOptional() @IsInt() @Min(1) @Max(10) level?: number;
  @IsOptional() @ShortText() reason?: string;
}

export class CaseAssignedV1Dto implements P.CaseAssignedV1 {
  @ShortText() caseId!: string;
  @IsOptional() @ShortText() assignee?: string;
  @IsOptional() @ShortText() team?: string;
}

export class CaseStatusChangedV1Dto implements P.CaseStatusChangedV1 {
  @ShortText() caseId!: string;
  @OneOf([...CASE_WORK_STATUSES]) status!: P.CaseWorkStatus;
  @IsOptional() @ShortText() reason?: string;
}

export class CaseClosedV1Dto implements P.CaseClosedV1 {
  @ShortText() caseId!: string;
  @IsOptional() @ShortText() reason?: string;
}

export class ComplaintFiledV1Dto implements P.ComplaintFiledV1 {
  @IsOptional() @ShortText() complaintId?: string;
  @IsOptional() @ShortText() caseId?: string;
  @ShortText() category!: string;
  @IsOptional() @OneOf(['low', 'medium', 'high']) severity?: 'low' | 'medium' | 'high';
  @IsOptional() @FreeText() description?: string;
}

export class CampaignRespondedV1Dto implements P.CampaignRespondedV1 {
  @ShortText() campaignId!: string;
  @OneOf(['opened', 'clicked', 'converted', 'unsubscribed', 'ignored']) response!: P.CampaignRespondedV1['response'];
}

export class SubscriptionStartedV1Dto implements P.SubscriptionStartedV1 {
  @ShortText() subscriptionId!: string;
  @ShortText() plan!: string;
  @IsOptional() @Money() monthlyAmount?: number;
  @IsOptional() @Currency() currency?: string;
}

export class SubscriptionChangedV1Dto implements P.SubscriptionChangedV1 {
  @ShortText() subscriptionId!: string;
  @OneOf(['upgrade', 'downgrade', 'other']) change!: 'upgrade' | 'downgrade' | 'other';
  @IsOptional() @ShortText() fromPlan?: string;
  @ShortText() toPlan!: string;
  @IsOptional() @Money() monthlyAmount?: number;
  @IsOptional() @Currency() currency?: string;
}

export class SubscriptionCancelledV1Dto implements P.SubscriptionCancelledV1 {
  @ShortText() subscriptionId!: string;
  @IsOptional() @ShortText() reason?: string;
}

export class PostalAddressDto implements P.PostalAddress {
  @IsOptional() @FreeText(200) line1?: string;
  @IsOptional() @FreeText(200) line2?: string;
  @IsOptional() @FreeText(20) postalCode?: string;
  @IsOptional() @FreeText(100) city?: string;
  @IsOptional() @Matches(/^[A-Z]{2}$/, { message: '$property must be an ISO-3166 alpha-2 code such as NL' }) country?: string;
}

export class ProfileUpdatedV1Dto implements P.ProfileUpdatedV1 {
  @IsOptional() @FreeText(100) firstName?: string;
  @IsOptional() @FreeText(100) lastName?: string;
  @IsOptional() @CalendarDate() birthDate?: string;
  @IsOptional() @Matches(/^[a-z]{2,3}(-[A-Z]{2})?$/, { message: '$property must be a language tag such as nl or en-GB' }) language?: string;
  @IsOptional() @ValidateNested() @Type(() => PostalAddressDto) address?: PostalAddressDto;
}

export class ConsentChangedV1Dto implements P.ConsentChangedV1 {
  @ShortText(100) purpose!: string;
  @IsBoolean() granted!: boolean;
}

export class IdentifiersLinkedV1Dto {
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(20) @ValidateNested({ each: true }) @Type(() => IdentifierDto) identifiers!: IdentifierDto[];
}

type Ctor = new () => object;

/** The DTO of every accepted (type, schemaVersion); the mapped type makes a missing type a compile error. */
export const PAYLOAD_DTOS: { [T in TouchpointType]: Record<number, Ctor> } = {
  'contact.handled': { 1: ContactHandledV1Dto },
  'message.received': { 1: MessageV1Dto },
  'message.sent': { 1: MessageV1Dto },
  'web.visited': { 1: WebVisitedV1Dto },
  'purchase.completed': { 1: PurchaseCompletedV1Dto },
  'order.cancelled': { 1: OrderCancelledV1Dto },
  'refund.issued': { 1: RefundIssuedV1Dto },
  'survey.answered': { 1: SurveyAnsweredV1Dto, 2: SurveyAnsweredV2Dto },
  'case.opened': { 1: CaseOpenedV1Dto },
  'case.resolved': { 1: CaseResolvedV1Dto },
  'case.reopened': { 1: CaseReopenedV1Dto },
  'case.escalated': { 1: CaseEscalatedV1Dto },
  'case.assigned': { 1: CaseAssignedV1Dto },
  'case.status-changed': { 1: CaseStatusChangedV1Dto },
  'case.closed': { 1: CaseClosedV1Dto },
  'complaint.filed': { 1: ComplaintFiledV1Dto },
  'campaign.responded': { 1: CampaignRespondedV1Dto },
  'subscription.started': { 1: SubscriptionStartedV1Dto },
  'subscription.changed': { 1: SubscriptionChangedV1Dto },
  'subscription.cancelled': { 1: SubscriptionCancelledV1Dto },
  'profile.updated': { 1: ProfileUpdatedV1Dto },
  'consent.changed': { 1: ConsentChangedV1Dto },
  'identifiers.linked': { 1: IdentifiersLinkedV1Dto },
};

/** What a payload rule may depend on besides the payload: the validation clock. */
export interface PayloadRuleContext {
  now: number;
}
/** Earliest accepted birth date; the latest is today wherever on earth (UTC+14). */
export const EARLIEST_BIRTH_DATE = '1900-01-01';
const LATEST_OFFSET_MS = 14 * 3600_000;

/** Rules across fields, or on the clock, that decorators cannot say; each returns [field, reason] pairs. */
export const PAYLOAD_RULES: Partial<Record<TouchpointType, (data: any, context: PayloadRuleContext) => [string, string][]>> = {
  'survey.answered': (d: P.SurveyAnsweredV2) =>
    d.nps === undefined && d.csat === undefined && d.ces === undefined ? [['nps', 'at least one of nps, csat, ces is required']] : [],
  'profile.updated': (d: P.ProfileUpdatedV1, { now }) => {
    if (typeof d.birthDate !== 'string' || !isCalendarDate(d.birthDate)) return []; // the DTO names what is wrong
    if (d.birthDate < EARLIEST_BIRTH_DATE) return [['birthDate', 'is before 1900']];
    if (d.birthDate > new Date(now + LATEST_OFFSET_MS).toISOString().slice(0, 10)) return [['birthDate', 'is in the future']];
    return [];
  },
};
