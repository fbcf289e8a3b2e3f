import { randomUUID } from 'node:crypto';
import { PLAIN_IDENTIFIER_INDEX, type Identifier, type IdentifierIndex } from '@cem/domain';
import type { IdentityRegistry, Resolution, ResolveRequest } from '../port';

export interface IdentityRegistryFixture {
  /** a registry on the fixture's shared storage; each call opens another one (another process or API instance) */
  open(): IdentityRegistry;
  /** releases what the factory created; the registries it opened are already closed by the suite */
  cleanup?: () => Promise<void>;
  /** the identifier index the registries are opened with (default: plain); merge evidence names its keys */
  index?: IdentifierIndex;
}

/**
 * The behaviour every identity registry adapter must have. Each test names fresh identifiers and only
 * looks at its own merges, so the suite can also run against a shared real server.
 */
export function identityRegistryContract(name: string, create: () => Promise<IdentityRegistryFixture>): void {
  describe(`identity registry contract: ${name}`, () => {
    let fixture: IdentityRegistryFixture;
    let opened: IdentityRegistry[];
    let registry: IdentityRegistry;
    const open = () => {
      const r = fixture.open();
      opened.push(r);
      return r;
    };
    beforeEach(async () => {
      fixture = await create();
      opened = [];
      registry = open();
    });
    afterEach(async () => {
      for (const r of opened) await r.close();
      await fixture.cleanup?.();
    });

    const run = randomUUID().slice(0, 8);
    const email = (name: string): Identifier => ({ kind: 'email', value: `${name}.${run}@example.com` });
    const phone = (n: number): Identifier => ({
      kind: 'phone',
      value: `+4470${String(n).padStart(8, '0')}${run.replace(/\D/g, '').slice(0, 2)}`,
    });
    const request = (...identifiers: Identifier[]): ResolveRequest => ({
      identifiers,
      triggeringEventId: randomUUID(),
      occurredAt: '2026-01-01T00:00:00.000Z',
      source: 'contract',
    });
    const resolve = async (req: ResolveRequest, reg = registry): Promise<Resolution> => (await reg.resolveBatch([req]))[0];

    describe('resolving identifiers', () => {
      it('registers a new customer for an identifier never seen', async () => {
        const ana = email('ana');
        const r = await resolve(request(ana));
        expect(r).toEqual({ customerId: expect.any(String), registered: true, merges: [] });
        expect(await registry.lookup(ana)).toBe(r.customerId);
        expect(await registry.canonicalId(r.customerId)).toBe(r.customerId);
      });

      it('answers the same customer for the same identifier, and claims the new ones named with it', async () => {
        const [ana, mobile] = [email('ana'), phone(1)];
        const first = await resolve(request(ana));
        const again = await resolve(request(ana, mobile));
        expect(again).toEqual({ customerId: first.customerId, registered: false, merges: [] });
        expect(await registry.lookup(mobile)).toBe(first.customerId);
      });

      it('resolves a batch in order: a later request sees the claims of an earlier one', async () => {
        const ana = email('ana');
        const [a, b] = await registry.resolveBatch([request(ana), request(ana, phone(2))]);
        expect(a.registered).toBe(true);
        expect(b).toEqual({ customerId: a.customerId, registered: false, merges: [] });
      });

      it('knows nothing of identifiers and customer ids it never issued', async () => {
        expect(await registry.lookup(email('nobody'))).toBeUndefined();
        expect(await registry.canonicalId(`never-issued-${run}`)).toBeUndefined();
      });
    });

    describe('merges', () => {
      it('merges two customers named by one event into the earliest registered, with its evidence', async () => {
        const [a, b] = [email('a'), email('b')];
        const first = await resolve(request(a));
        const second = await resolve(request(b));
        const req = request(b, a, email('c'));
        const r = await resolve(req);
        expect(r.customerId).toBe(first.customerId);
        expect(r.registered).toBe(false);
        expect(r.merges).toEqual([
          {
            mergeId: expect.any(String),
            survivorId: first.customerId,
            mergedIds: [second.customerId],
            evidence: {
              identifiers: [a, b].map((fixture.index ?? PLAIN_IDENTIFIER_INDEX).keyOf).sort(),
              rule: 'shared-identifier',
              triggeringEventId: req.triggeringEventId,
              survivorRule: 'earliest-registered',
            },
            occurredAt: req.occurredAt,
            source: req.source,
          },
        ]);
        const [merge] = r.merges;
        expect((await registry.pendingMerges()).filter((m) => m.mergeId === merge.mergeId)).toEqual([merge]);
        await registry.confirmMerges([merge.mergeId]);
        expect((await registry.pendingMerges()).filter((m) => m.mergeId === merge.mergeId)).toEqual([]);
      });

      it('resolves a batch in order across a merge inside it: later requests go to the survivor', async () => {
        const [a, b, bPhone] = [email('a'), email('b'), phone(3)];
        // one batch: two customers, each named again, then merged, then each named again
        const [first, second, firstAgain, secondAgain, merging, viaA, viaB, viaPhone] = await registry.resolveBatch([
          request(a),
          request(b, bPhone),
          request(a),
          request(bPhone),
          request(a, b),
          request(a),
          request(b),
          request(bPhone, email('new')),
        ]);
        expect(first.registered && second.registered).toBe(true);
        expect([firstAgain.customerId, secondAgain.customerId]).toEqual([first.customerId, second.customerId]);
        expect(merging.merges.map((m) => [m.survivorId, m.mergedIds])).toEqual([[first.customerId, [second.customerId]]]);
        for (const r of [viaA, viaB, viaPhone]) expect(r).toEqual({ customerId: first.customerId, registered: false, merges: [] });
        expect(await registry.lookup(email('new'))).toBe(first.customerId);
        expect(await registry.lookup(bPhone)).toBe(first.customerId);
      });

      it('follows merges in lookup and canonicalId, for every identifier of the merged customer', async () => {
        const [a, b, bPhone] = [email('a'), email('b'), phone(3)];
        const survivor = await resolve(request(a));
        const merged = await resolve(request(b, bPhone));
        await resolve(request(a, b));
        for (const id of [a, b, bPhone]) expect(await registry.lookup(id)).toBe(survivor.customerId);
        expect(await registry.canonicalId(merged.customerId)).toBe(survivor.customerId);
        // a later event naming only the merged customer's identifier lands on the survivor
        expect(await resolve(request(bPhone))).toEqual({ customerId: survivor.customerId, registered: false, merges: [] });
      });

      it('follows a chain of merges to its end', async () => {
        const [a, b, c] = [email('a'), email('b'), email('c')];
        const ca = await resolve(request(a));
        const cb = await resolve(request(b));
        const cc = await resolve(request(c));
        const bc = await resolve(request(c, b)); // c into b
        expect(bc.merges.map((m) => [m.survivorId, m.mergedIds])).toEqual([[cb.customerId, [cc.customerId]]]);
        const ab = await resolve(request(b, a)); // b (with c) into a
        expect(ab.merges.map((m) => [m.survivorId, m.mergedIds])).toEqual([[ca.customerId, [cb.customerId]]]);
        for (const id of [ca, cb, cc]) expect(await registry.canonicalId(id.customerId)).toBe(ca.customerId);
        expect(await registry.lookup(c)).toBe(ca.customerId);
        // a registry opened afterwards (another process) sees the same
        const other = open();
        expect(await other.canonicalId(cc.customerId)).toBe(ca.customerId);
        expect(await other.lookup(c)).toBe(ca.customerId);
      });

      it('merges three customers at once into the earliest, the others listed in registration order', async () => {
        const ids = [email('x'), email('y'), email('z')];
        const [cx, cy, cz] = [await resolve(request(ids[0])), await resolve(request(ids[1])), await resolve(request(ids[2]))];
        const r = await resolve(request(ids[2], ids[0], ids[1]));
        expect(r.merges).toHaveLength(1);
        expect(r.merges[0]).toMatchObject({ survivorId: cx.customerId, mergedIds: [cy.customerId, cz.customerId] });
      });
    });

    describe('unmerge', () => {
      /** a (earlier) and b merged by an event naming both; b brought its email and phone */
      async function merged() {
        const [a, b, bPhone] = [email('a'), email('b'), phone(5)];
        const ca = await resolve(request(a));
        const cb = await resolve(request(b, bPhone));
        const m = await resolve(request(a, b));
        expect(m.merges).toHaveLength(1);
        return { a, b, bPhone, survivorId: ca.customerId, splitId: cb.customerId };
      }
      const move = (f: Awaited<ReturnType<typeof merged>>, identifiers: Identifier[], keptBySurvivor: Identifier[] = []) => ({
        unmergeId: randomUUID(),
        survivorId: f.survivorId,
        splitId: f.splitId,
        restoredIds: [],
        identifiers,
        keptBySurvivor,
      });

      it('makes the split customer live again with the identifiers it takes back, for every registry', async () => {
        const f = await merged();
        await registry.unmerge([move(f, [f.b, f.bPhone])]);
        for (const reg of [registry, open()]) {
          expect(await reg.canonicalId(f.splitId)).toBe(f.splitId);
          expect(await reg.lookup(f.b)).toBe(f.splitId);
          expect(await reg.lookup(f.bPhone)).toBe(f.splitId);
          expect(await reg.lookup(f.a)).toBe(f.survivorId);
        }
        expect(await resolve(request(f.bPhone))).toEqual({ customerId: f.splitId, registered: false, merges: [] });
      });

      it('leaves the identifiers not taken back with the survivor, and is idempotent', async () => {
        const f = await merged();
        const m = move(f, [f.b], [f.bPhone]);
        await registry.unmerge([m]);
        await registry.unmerge([m]);
        expect(await registry.lookup(f.b)).toBe(f.splitId);
        expect(await registry.lookup(f.bPhone)).toBe(f.survivorId);
      });

      it('does not merge the two again: an event naming both goes to the earlier registered, recorded as a conflict', async () => {
        const f = await merged();
        await registry.unmerge([move(f, [f.b, f.bPhone])]);
        const before = (await registry.identityConflicts({ offset: 0, limit: 100_000 })).length;
        const req = request(f.b, f.a);
        const r = await resolve(req);
        expect(r).toEqual({ customerId: f.survivorId, registered: false, merges: [], conflict: [f.survivorId, f.splitId] });
        expect(await registry.canonicalId(f.splitId)).toBe(f.splitId);
        const conflicts = await registry.identityConflicts({ offset: 0, limit: 100_000 });
        expect(conflicts.slice(before)).toEqual([
          {
            triggeringEventId: req.triggeringEventId,
            customerIds: [f.survivorId, f.splitId],
            occurredAt: req.occurredAt,
            source: req.source,
            recordedAt: expect.any(String),
          },
        ]);
        // another customer may still merge with either
        const c = email('c');
        await resolve(request(c));
        expect((await resolve(request(c, f.b))).merges.map((x) => x.survivorId)).toEqual([f.splitId]);
      });
    });

    describe('concurrent writers', () => {
      it('give every identifier one owner however their resolveBatch calls interleave', async () => {
        const registries = [registry, open(), open()];
        const POOL = 8;
        const ids = Array.from({ length: POOL }, (_, i) => email(`pool-${i}`));
        // every writer names the same new identifiers at once, alone and in neighbouring pairs
        const calls = registries.flatMap((reg, w) =>
          Array.from({ length: 6 }, (_, i) => {
            const a = (i * 3 + w) % POOL;
            return reg.resolveBatch([request(ids[a]), request(ids[a], ids[(a + 1) % POOL])]);
          }),
        );
        const resolutions = (await Promise.all(calls)).flat();
        const owners = await Promise.all(ids.map((id) => registries[0].lookup(id)));
        expect(owners.every((o) => o !== undefined)).toBe(true);
        // neighbouring pairs chain the whole pool: one customer owns it all, as every registry says
        expect(new Set(owners).size).toBe(1);
        for (const reg of registries) for (const id of ids) expect(await reg.lookup(id)).toBe(owners[0]);
        for (const r of resolutions) expect(await registries[1].canonicalId(r.customerId)).toBe(owners[0]);
      }, 60_000);

      it('register one customer for one new identifier named by many writers at once', async () => {
        const registries = [registry, open(), open()];
        const shared = email('shared');
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) => resolve(request(shared), registries[i % registries.length])),
        );
        const customers = new Set(await Promise.all(results.map((r) => registry.canonicalId(r.customerId))));
        expect(customers.size).toBe(1);
        expect(await registry.lookup(shared)).toBe([...customers][0]);
      }, 60_000);
    });
  });
}
