/*
 * Settings of the experience metrics (libs/read-models/src/experience-metrics) that loadConfig
 * validates at boot and the read model reads from the environment.
 */

/**
 * CONTACT_COSTS: what one handled contact costs, per contact channel, as a JSON object
 * (`{"phone":4.5,"chat":1.2,"email":0.8}`), in the major unit of the deployment's currency. The
 * experience metrics' `cost-to-serve` reads it at query time, so a change needs no rebuild.
 */
export type ContactCosts = Readonly<Record<string, number>>;

export const MAX_CONTACT_COST = 1_000_000;
const MAX_CHANNELS = 100;

/** The costs, or the problems found (each naming the key it is about); validated once at boot by loadConfig. */
export function parseContactCosts(text: string): { costs: ContactCosts; problems: [] } | { costs: null; problems: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { costs: null, problems: ['must be a JSON object of channel to cost, such as {"phone":4.5,"chat":1.2}'] };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { costs: null, problems: ['must be a JSON object of channel to cost, such as {"phone":4.5,"chat":1.2}'] };
  const entries = Object.entries(parsed);
  const problems: string[] = [];
  if (entries.length === 0) problems.push('names no channel (leave it unset when no cost is known)');
  if (entries.length > MAX_CHANNELS) problems.push(`at most ${MAX_CHANNELS} channels`);
  for (const [channel, cost] of entries) {
    if (channel.trim() === '' || channel.length > 200) problems.push(`${JSON.stringify(channel)}: a channel name is 1 to 200 characters`);
    else if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0 || cost > MAX_CONTACT_COST)
      problems.push(`${JSON.stringify(channel)}: the cost must be a number from 0 to ${MAX_CONTACT_COST} (got ${JSON.stringify(cost)})`);
  }
  return problems.length > 0
    ? { costs: null, problems }
    : { costs: Object.freeze({ ...(parsed as Record<string, number>) }), problems: [] };
}

/** CONTACT_COSTS of the environment; null when unset or blank (invalid values never get past the boot check). */
export function contactCostsOf(env: NodeJS.ProcessEnv = process.env): ContactCosts | null {
  const text = env.CONTACT_COSTS?.trim();
  return text ? parseContactCosts(text).costs : null;
}

/** REPEAT_CONTACT_WINDOW_DAYS unless set: a contact is a repeat when the same reason came up at most this many days before. */
export const DEFAULT_REPEAT_CONTACT_WINDOW_DAYS = 7;

/**
 * REPEAT_CONTACT_WINDOW_DAYS of the environment. Read when the read model is defined (at import,
 * before the boot check): a bad value falls back to the default here, and loadConfig then stops
 * the process naming the variable.
 */
export function repeatContactWindowDaysOf(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.REPEAT_CONTACT_WINDOW_DAYS?.trim() ?? '';
  const days = /^\d+$/.test(text) ? Number(text) : NaN;
  return days >= 1 && days <= 365 ? days : DEFAULT_REPEAT_CONTACT_WINDOW_DAYS;
}
