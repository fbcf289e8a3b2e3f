import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blindIdentifierIndex, PLAIN_IDENTIFIER_INDEX } from '@cem/domain';
import { identityRegistryContract } from '../contract/identity-registry.contract';
import { email, request } from '../../test/requests';
import { IdentifierIndexMismatchError } from '../port';
import { SqliteIdentityRegistry } from './sqlite-identity-registry';

// Each registry opens the same file, as separate processes would.
identityRegistryContract('embedded SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cem-idreg-'));
  return {
    open: () => new SqliteIdentityRegistry(join(dir, 'platform.db')),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

// ...and keyed by the blind index (privacy on)
identityRegistryContract('embedded SQLite, blind index', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cem-idreg-'));
  const index = blindIdentifierIndex(randomBytes(32));
  return {
    index,
    open: () => new SqliteIdentityRegistry(join(dir, 'platform.db'), { index }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

/** Every byte of the SQLite file and its side files (write-ahead log, shared memory). */
const bytesOf = (dir: string): Buffer =>
  Buffer.concat(
    readdirSync(dir)
      .filter((f) => f.startsWith('platform.db'))
      .map((f) => readFileSync(join(dir, f))),
  );
const plaintextIn = (bytes: Buffer, values: string[]) => values.filter((v) => bytes.includes(Buffer.from(v, 'utf8')));

describe('embedded identity registry with the blind index', () => {
  let dir: string;
  const file = () => join(dir, 'platform.db');
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'cem-idreg-blind-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** three customers, two of them merged by an event naming both, in a registry opened with `index` */
  async function history(reg: SqliteIdentityRegistry) {
    const [a] = await reg.resolveBatch([request(email('a'))]);
    const [b] = await reg.resolveBatch([request(email('b'), { kind: 'phone', value: '+31612345678' })]);
    const [c] = await reg.resolveBatch([request(email('c'))]);
    const [m] = await reg.resolveBatch([request(email('a'), email('b'))]);
    return { a, b, c, m };
  }
  const PLAIN = ['usera@example.com', 'userb@example.com', 'userc@example.com', '+31612345678'];
  const named = (s: string) => (s.startsWith('+') ? { kind: 'phone' as const, value: s } : email(s.slice(4, 5)));

  it('stores no plaintext identifier, in the rows nor in merge evidence, and still resolves', async () => {
    const index = blindIdentifierIndex(randomBytes(32));
    const reg = new SqliteIdentityRegistry(file(), { index });
    const { a, c, m } = await history(reg);
    expect(m.merges).toHaveLength(1);
    // the evidence names the blind keys: kind readable, value an HMAC
    expect(m.merges[0].evidence.identifiers).toEqual([index.keyOf(email('a')), index.keyOf(email('b'))].sort());
    expect(m.merges[0].evidence.identifiers.every((k) => /^email:bi1\.[A-Za-z0-9_-]{43}$/.test(k))).toBe(true);
    expect(await reg.lookup(email('b'))).toBe(a.customerId);
    expect(await reg.lookup({ kind: 'phone', value: '+31612345678' })).toBe(a.customerId);
    expect(await reg.lookup(email('c'))).toBe(c.customerId);
    await reg.close();
    expect(plaintextIn(bytesOf(dir), PLAIN)).toEqual([]);
  });

  it('re-keys a registry written in plain on its first open with the secret, and refuses it in plain afterwards', async () => {
    const plain = new SqliteIdentityRegistry(file());
    const { a, c, m } = await history(plain);
    await plain.close();
    expect(plaintextIn(bytesOf(dir), PLAIN)).toEqual(PLAIN); // the starting point really is plaintext

    const index = blindIdentifierIndex(randomBytes(32));
    const blind = new SqliteIdentityRegistry(file(), { index });
    expect(blind.rekeyed).toBe(4);
    for (const s of PLAIN) expect(await blind.lookup(named(s))).toBe(s.startsWith('userc') ? c.customerId : a.customerId);
    // the merge not yet confirmed keeps its evidence, re-keyed
    const [pending] = (await blind.pendingMerges()).filter((p) => p.mergeId === m.merges[0].mergeId);
    expect(pending.evidence.identifiers).toEqual([index.keyOf(email('a')), index.keyOf(email('b'))].sort());
    // a later event naming one of them lands on the same customer, not a new one
    expect((await blind.resolveBatch([request(email('c'))]))[0]).toEqual({ customerId: c.customerId, registered: false, merges: [] });
    await blind.close();
    expect(plaintextIn(bytesOf(dir), PLAIN)).toEqual([]);

    const again = new SqliteIdentityRegistry(file(), { index });
    expect(again.rekeyed).toBe(0);
    await again.close();
    expect(() => new SqliteIdentityRegistry(file())).toThrow(IdentifierIndexMismatchError);
    expect(() => new SqliteIdentityRegistry(file(), { index: PLAIN_IDENTIFIER_INDEX })).toThrow(/PRIVACY_INDEX_SECRET: required/);
    expect(() => new SqliteIdentityRegistry(file(), { index: blindIdentifierIndex(randomBytes(32)) })).toThrow(
      /PRIVACY_INDEX_SECRET: differs from the secret/,
    );
  });

  it('erasure still removes the identifiers of the customers', async () => {
    const reg = new SqliteIdentityRegistry(file(), { index: blindIdentifierIndex(randomBytes(32)) });
    const { a, c } = await history(reg);
    expect(await reg.forgetCustomers([a.customerId])).toBe(3);
    expect(await reg.lookup(email('a'))).toBeUndefined();
    expect(await reg.lookup(email('b'))).toBeUndefined();
    expect(await reg.lookup(email('c'))).toBe(c.customerId);
    expect((await reg.pendingMerges()).every((p) => p.evidence.identifiers.length === 0)).toBe(true);
    await reg.close();
  });
});
