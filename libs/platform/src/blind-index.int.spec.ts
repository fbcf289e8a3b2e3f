import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envelope } from '../../../test/support/envelopes';
import { bytesOf, openTestPlatform, plaintextIn as plaintextOf, privacyKeys } from '../../../test/support/platform-harness';
import { type Platform } from './platform';

const EMAIL = 'marieke.oosterhuis@example.com';
const PHONE = '+31687654321';
const PLAIN = [EMAIL, PHONE];
const secrets = privacyKeys;
const plaintextIn = (bytes: Buffer) => plaintextOf(bytes, PLAIN);

describe('identity registry of the embedded platform with privacy on (blind index)', () => {
  let dir: string;
  let platform: Platform | undefined;
  const open = (env: Record<string, string> = {}) => (platform = openTestPlatform(dir, env));
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'cem-blind-'))));
  afterEach(async () => {
    await platform?.close();
    platform = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** a customer by email, another by phone, merged by an event naming both */
  async function ingest(p: Platform) {
    const email = { kind: 'email', value: EMAIL };
    const phone = { kind: 'phone', value: PHONE };
    const [a] = await p.ingestion.ingest([envelope({ customer: { identifiers: [email] } })]);
    const [b] = await p.ingestion.ingest([envelope({ customer: { identifiers: [phone] } })]);
    const [m] = await p.ingestion.ingest([envelope({ customer: { identifiers: [phone, email] } })]);
    return { a, b, m };
  }

  it('keeps no plaintext identifier in platform.db and resolves through the keyed hash', async () => {
    const p = open(secrets());
    expect(p.identifierIndex.mode).toBe('blind');
    const { a, m } = await ingest(p);
    expect(m.customerId).toBe(a.customerId);
    expect(await p.registry.lookup({ kind: 'phone', value: PHONE })).toBe(a.customerId);
    const merged = (await p.store.readAll()).find((e) => e.type === 'customers.merged')!;
    // the merge evidence names the identifiers by their blind keys (kind readable)
    expect((merged.data as { evidence: { identifiers: string[] } }).evidence.identifiers).toEqual(
      [p.identifierIndex.keyOf({ kind: 'email', value: EMAIL }), p.identifierIndex.keyOf({ kind: 'phone', value: PHONE })].sort(),
    );
    await p.close();
    platform = undefined;
    expect(plaintextIn(bytesOf(dir, 'platform.db'))).toEqual([]);
  });

  it('re-keys a registry written with privacy off on the first start with the secret; the same identifiers still find their customers', async () => {
    const before = open();
    expect(before.identifierIndex.mode).toBe('plain');
    const { a } = await ingest(before);
    await before.close();
    expect(plaintextIn(bytesOf(dir, 'platform.db'))).toEqual(PLAIN);

    const warnings: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      warnings.push(String(chunk));
      return true;
    });
    const s = secrets();
    let after: Platform;
    try {
      after = open({ ...s, LOG_LEVEL: 'warn' }); // the re-keying is said at warn
    } finally {
      write.mockRestore();
    }
    expect(warnings.join('')).toContain('identity registry: 2 identifiers re-keyed from plaintext to the blind index');
    expect(await after.registry.lookup({ kind: 'email', value: EMAIL })).toBe(a.customerId);
    const [again] = await after.ingestion.ingest([envelope({ customer: { identifiers: [{ kind: 'phone', value: PHONE }] } })]);
    expect(again.customerId).toBe(a.customerId);
    await after.close();
    platform = undefined;
    expect(plaintextIn(bytesOf(dir, 'platform.db'))).toEqual([]);

    // another index secret would miss every identifier: refused at start, naming the setting
    expect(() => open({ ...s, PRIVACY_INDEX_SECRET: privacyKeys().PRIVACY_INDEX_SECRET })).toThrow(/PRIVACY_INDEX_SECRET: differs/);
    platform = undefined;
  });
});
