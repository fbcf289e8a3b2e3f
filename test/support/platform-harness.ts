import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import type { IngestResult } from '@cem/ingestion';
import { openPlatform, type Platform, type PlatformOverrides } from '@cem/platform';
import { envelope, TEST_NOW } from './envelopes';

/** Fresh random privacy keys (master key and blind-index secret) as the environment gives them: privacy on. */
export const privacyKeys = () => ({
  PRIVACY_MASTER_KEY: randomBytes(32).toString('base64'),
  PRIVACY_INDEX_SECRET: randomBytes(32).toString('base64'),
});

/**
 * The embedded platform on `dir` as the tests open it: quiet logs, NORMAL sync (durability is not
 * under test), the fixed clock of the test envelopes; `env` adds or overrides configuration.
 */
export const openTestPlatform = (dir: string, env: Record<string, string> = {}, overrides: PlatformOverrides = {}): Platform =>
  openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent', ...env }), {
    now: () => TEST_NOW,
    ...overrides,
  });

/** Every byte of every file in `dir` whose name starts with one of the prefixes (all files without a prefix). */
export const bytesOf = (dir: string, ...prefixes: string[]): Buffer =>
  Buffer.concat(
    readdirSync(dir)
      .filter((f) => prefixes.length === 0 || prefixes.some((p) => f.startsWith(p)))
      .map((f) => readFileSync(join(dir, f))),
  );

/** Those of `values` that stand in `bytes` in plain UTF-8. */
export const plaintextIn = (bytes: Buffer, values: readonly string[]) => values.filter((v) => bytes.includes(Buffer.from(v, 'utf8')));

/** A person whose personal values a privacy test looks for: in events, files and servers. */
export interface Persona {
  email: string;
  phone: string;
  firstName: string;
  lastName: string;
  street: string;
  /** free text of a contact's notes */
  notes: string;
  /** free text of a survey comment */
  comment: string;
}

/** What the merged history stores that is not personal: kept through an erasure. */
const KEPT = { amount: 25, nps: 9 } as const;

/**
 * A persona with what a privacy test asks of it: its personal values (`secrets`), those of them
 * readable in plain UTF-8 in some bytes (`found`), and its merged history (`ingest`): a customer known
 * by email (a contact with notes), another by phone (a purchase), merged by a profile update naming
 * both, in one batch with a survey comment; then a bystander's event. `kept` is what that history
 * stores that is not personal.
 */
export function personaHistory(p: Persona) {
  const secrets = [p.email, p.phone, p.firstName, p.lastName, p.street, p.notes, p.comment];
  return {
    ...p,
    secrets,
    found: (bytes: Buffer) => plaintextIn(bytes, secrets),
    kept: KEPT,
    ingest: (platform: Pick<Platform, 'ingestion'>) => ingestMergedHistory(platform, p),
  };
}

async function ingestMergedHistory(
  platform: Pick<Platform, 'ingestion'>,
  p: Persona,
): Promise<{ survivor: string; mergedAway: string; other: IngestResult }> {
  const email = { kind: 'email', value: p.email };
  const phone = { kind: 'phone', value: p.phone };
  const [a] = await platform.ingestion.ingest([
    envelope({ customer: { identifiers: [email] }, data: { direction: 'inbound', handleSeconds: 60, resolved: false, notes: p.notes } }),
  ]);
  const [b] = await platform.ingestion.ingest([
    envelope({
      type: 'purchase.completed',
      customer: { identifiers: [phone] },
      data: { orderId: 'o-1', amount: KEPT.amount, currency: 'EUR' },
    }),
  ]);
  const [merged] = await platform.ingestion.ingest([
    envelope({
      type: 'profile.updated',
      customer: { identifiers: [email, phone] },
      data: { firstName: p.firstName, lastName: p.lastName, address: { line1: p.street, city: 'Zwolle' } },
    }),
    envelope({
      type: 'survey.answered',
      schemaVersion: 2,
      customer: { identifiers: [phone] },
      data: { nps: KEPT.nps, comment: p.comment },
    }),
  ]);
  const [other] = await platform.ingestion.ingest([envelope()]);
  const survivor = merged.customerId;
  return { survivor, mergedAway: [a.customerId, b.customerId].find((id) => id !== survivor)!, other };
}
