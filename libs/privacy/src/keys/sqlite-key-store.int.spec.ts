import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newCustomerId } from '@cem/identity';
import { SqliteKeyStore } from './sqlite-key-store';

describe('SqliteKeyStore: ids in creation order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cem-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('issues customer ids as UUIDv7 in increasing order, and key ids that start with their creation time', async () => {
    const customers = Array.from({ length: 2000 }, () => newCustomerId());
    for (const id of customers) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...customers].sort()).toEqual(customers);
    expect(new Set(customers).size).toBe(customers.length);

    const store = new SqliteKeyStore(join(dir, 'keys.db'), randomBytes(32));
    try {
      const before = Date.now();
      const first = await store.keysFor(customers.slice(0, 1000));
      await new Promise((r) => setTimeout(r, 5));
      const second = await store.keysFor(customers.slice(1000));
      const after = Date.now();
      const keyIds = [...first.values(), ...second.values()].map((k) => k.keyId);
      expect(new Set(keyIds).size).toBe(2000);
      for (const keyId of keyIds) {
        expect(keyId).toMatch(/^k-[0-9a-f]{24}$/);
        const createdAt = parseInt(keyId.slice(2, 14), 16);
        expect(createdAt).toBeGreaterThanOrEqual(before);
        expect(createdAt).toBeLessThanOrEqual(after);
      }
      // a later call's keys sort after an earlier call's (the random part orders keys within one millisecond only)
      const lastOfFirst = [...first.values()]
        .map((k) => k.keyId)
        .sort()
        .at(-1)!;
      for (const k of second.values()) expect(k.keyId > lastOfFirst).toBe(true);
      // the keys read back by id are the ones made
      const byId = await store.keysById(keyIds.slice(0, 3));
      expect([...byId.keys()]).toEqual(keyIds.slice(0, 3));
    } finally {
      await store.close();
    }
  });
});
