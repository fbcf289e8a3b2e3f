import { randomBytes } from 'node:crypto';
import { EventStoreDBClient } from '@eventstore/db-client';
import { blindIdentifierIndex, PLAIN_IDENTIFIER_INDEX } from '@cem/domain';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import { email, request } from '../../test/requests';
import { IdentifierIndexMismatchError } from '../port';
import { EsdbIdentityRegistry } from './esdb-identity-registry';

const PHONE = { kind: 'phone' as const, value: '+31612345678' };
const PLAIN = ['usera@example.com', 'userb@example.com', 'userc@example.com', '+31612345678'];

/** Everything the double holds: stream names, event types, data and metadata bytes. */
const serverBytes = (server: EsdbDouble): Buffer =>
  Buffer.concat(
    server.log.flatMap((e) => [Buffer.from(`${e.streamName}\n${e.type}\n`, 'utf8'), Buffer.from(e.data), Buffer.from(e.customMetadata)]),
  );
const plaintextIn = (bytes: Buffer) => PLAIN.filter((v) => bytes.includes(Buffer.from(v, 'utf8')));

describe('identity registry on EventStoreDB (gRPC double) with the blind index', () => {
  let server: EsdbDouble;
  let client: EventStoreDBClient;
  let opened: EsdbIdentityRegistry[];
  /** a registry closed after the test (it follows the registry streams once used) */
  const open = (options?: ConstructorParameters<typeof EsdbIdentityRegistry>[1]) => {
    const reg = new EsdbIdentityRegistry(client, options);
    opened.push(reg);
    return reg;
  };
  beforeEach(async () => {
    server = new EsdbDouble();
    client = EventStoreDBClient.connectionString(await server.start());
    opened = [];
  });
  afterEach(async () => {
    await Promise.all(opened.map((r) => r.close()));
    await client.dispose();
    server.stop();
  });

  async function history(reg: EsdbIdentityRegistry) {
    const [a] = await reg.resolveBatch([request(email('a'))]);
    const [b] = await reg.resolveBatch([request(email('b'), PHONE)]);
    const [c] = await reg.resolveBatch([request(email('c'))]);
    const [m] = await reg.resolveBatch([request(email('a'), email('b'))]);
    return { a, b, c, m };
  }

  it('names no reservation stream and writes no registry event with a plaintext identifier, and still resolves', async () => {
    const index = blindIdentifierIndex(randomBytes(32));
    const reg = open({ index });
    await reg.checkIndex(false);
    const { a, c, m } = await history(reg);
    expect(m.merges[0].evidence.identifiers).toEqual([index.keyOf(email('a')), index.keyOf(email('b'))].sort());
    // another instance (its own memory) resolves through the server
    const other = open({ index, followRegistry: false });
    expect(await other.lookup(PHONE)).toBe(a.customerId);
    expect(await other.lookup(email('c'))).toBe(c.customerId);
    expect(server.log.some((e) => e.streamName === `cem-internal-identifier-${index.keyOf(PHONE)}`)).toBe(true);
    expect(plaintextIn(serverBytes(server))).toEqual([]);
  });

  it('the plain registry does hold them (what the blind index removes)', async () => {
    const reg = open();
    await reg.checkIndex(false);
    await history(reg);
    expect(plaintextIn(serverBytes(server))).toEqual(PLAIN);
  });

  it('records its index once and refuses an instance keyed otherwise', async () => {
    const index = blindIdentifierIndex(randomBytes(32));
    await open({ index }).checkIndex(false);
    await open({ index }).checkIndex(true); // the same index again: fine
    await expect(open().checkIndex(true)).rejects.toThrow(/PRIVACY_INDEX_SECRET: required/);
    await expect(open({ index: blindIdentifierIndex(randomBytes(32)) }).checkIndex(true)).rejects.toThrow(/PRIVACY_INDEX_SECRET: differs/);
  });

  it('refuses the blind index over a registry that predates the record (plain streams: re-key first)', async () => {
    const plain = open({ index: PLAIN_IDENTIFIER_INDEX });
    await history(plain);
    const blind = open({ index: blindIdentifierIndex(randomBytes(32)) });
    await expect(blind.checkIndex(true)).rejects.toThrow(IdentifierIndexMismatchError);
    await expect(blind.checkIndex(true)).rejects.toThrow(/holds identifiers in plain; re-key it first/);
    await plain.checkIndex(true); // recorded as plain: the plain instance goes on
  });
});
