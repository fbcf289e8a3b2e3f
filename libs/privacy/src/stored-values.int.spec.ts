import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SealedValueError } from './cipher/data-key';
import { REMOVED } from './cipher/personal-paths';
import { UnknownKeyError } from './keys/key-store';
import { SqliteKeyStore } from './keys/sqlite-key-store';
import { KeyedStoredValues, PLAIN_STORED_VALUES } from './stored-values';

describe('identifiers stored outside the log (read stores), sealed with the customer key', () => {
  let dir: string;
  let keys: SqliteKeyStore;
  let stored: KeyedStoredValues;
  const master = randomBytes(32);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cem-stored-values-'));
    keys = new SqliteKeyStore(join(dir, 'keys.db'), master);
    stored = new KeyedStoredValues(keys);
  });
  afterEach(async () => {
    await keys.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('seals in the log’s per-field format, opens with the same customer’s key, and equal values seal equally', async () => {
    const [ana, bo] = [randomUUID(), randomUUID()];
    const writing = await stored.forWriting([ana, bo]);
    const sealed = writing.get(ana)!.seal('ana@example.com') as string;
    expect(sealed).toMatch(/^cem:enc:2:/);
    expect(sealed).not.toContain('ana@example.com');
    expect(writing.get(ana)!.seal('ana@example.com')).toBe(sealed);
    // the key was created for writing: a reader (another process) finds it
    const other = new SqliteKeyStore(join(dir, 'keys.db'), master);
    expect((await new KeyedStoredValues(other).forReading([ana])).get(ana)!.open(sealed)).toBe('ana@example.com');
    await other.close();
    // another customer's key does not open it
    expect(() => writing.get(bo)!.open(sealed)).toThrow(SealedValueError);
    // a value stored before sealing reads as it is
    expect((await stored.forReading([ana])).get(ana)!.open('ana@example.com')).toBe('ana@example.com');
  });

  it('after the key is destroyed, stored values read as removed and nothing more is sealed', async () => {
    const ana = randomUUID();
    const sealed = (await stored.forWriting([ana])).get(ana)!.seal('+31612345678');
    await keys.destroy([ana], new Date().toISOString());
    const seal = (await stored.forReading([ana])).get(ana)!;
    expect(seal.open(sealed)).toBe(REMOVED);
    expect((await stored.forWriting([ana])).get(ana)!.seal('+31612345678')).toBe(REMOVED);
  });

  it('refuses what it cannot open: a customer without a key, a per-event sealed value', async () => {
    const ana = randomUUID();
    const sealed = (await stored.forWriting([ana])).get(ana)!.seal('ana@example.com');
    const stranger = randomUUID();
    await expect((async () => (await stored.forReading([stranger])).get(stranger)!.open(sealed))()).rejects.toThrow(UnknownKeyError);
    expect(await keys.keysOfCustomers([stranger])).toEqual(new Map()); // reading created no key
    await expect(
      (async () => (await stored.forReading([ana])).get(ana)!.open('cem:enc:1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'))(),
    ).rejects.toThrow(SealedValueError);
  });

  it('privacy off: values are stored as they are', async () => {
    const seal = (await PLAIN_STORED_VALUES.forWriting(['x'])).get('x')!;
    expect([seal.seal('ana@example.com'), seal.open('ana@example.com'), PLAIN_STORED_VALUES.sealed]).toEqual([
      'ana@example.com',
      'ana@example.com',
      false,
    ]);
  });
});
