import { ChainVerifier, chainLink, GENESIS_HASH, type ChainedRow } from './log-chain';

/** A chained log of `n` rows at positions 10, 20, 30, ... as a store would keep it. */
function chained(n: number): ChainedRow[] {
  const rows: ChainedRow[] = [];
  let previous = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const fields = {
      eventId: `e-${seq}`,
      streamId: `s-${seq % 3}`,
      revision: Math.floor((seq - 1) / 3),
      type: 't',
      dataJson: `{"n":${seq}}`,
      metadataJson: '{}',
      recordedAt: '2026-12-01T00:00:00.000Z',
    };
    previous = chainLink(previous, seq, fields);
    rows.push({ ...fields, position: seq * 10, seq, hash: previous.toString('hex') });
  }
  return rows;
}

const verify = (rows: ChainedRow[], pageSize = 3) => {
  const v = new ChainVerifier();
  for (let i = 0; i < rows.length; i += pageSize) if (!v.push(rows.slice(i, i + pageSize))) break;
  return v.end();
};

describe('chainLink', () => {
  it('length-prefixes fields, so moving bytes from one field to the next changes the link', () => {
    const base = { eventId: 'e', streamId: 'ab', revision: 0, type: 'c', dataJson: '{}', metadataJson: '{}', recordedAt: 'x' };
    expect(chainLink(GENESIS_HASH, 1, base)).not.toEqual(chainLink(GENESIS_HASH, 1, { ...base, streamId: 'a', type: 'bc' }));
    expect(chainLink(GENESIS_HASH, 1, base)).not.toEqual(chainLink(GENESIS_HASH, 2, base));
    expect(chainLink(GENESIS_HASH, 1, base)).toEqual(chainLink(Buffer.alloc(32), 1, { ...base }));
  });
});

describe('ChainVerifier', () => {
  it('accepts an untouched chain in any page size and ends at its head', () => {
    for (const size of [1, 2, 7])
      expect(verify(chained(7), size)).toEqual({ ok: true, head: { seq: 7, position: 70, hash: chained(7)[6].hash } });
    expect(verify([])).toEqual({ ok: true, head: { seq: 0, position: 0, hash: GENESIS_HASH.toString('hex') } });
  });

  it('names an altered row, also when it is the last one', () => {
    const rows = chained(5);
    rows[2] = { ...rows[2], dataJson: '{"n":33}' };
    expect(verify(rows)).toMatchObject({
      ok: false,
      problem: { kind: 'altered', position: 30, seq: 3 },
      verified: { seq: 2, position: 20 },
    });
    const last = chained(5);
    last[4] = { ...last[4], type: 'u' };
    expect(verify(last)).toMatchObject({ ok: false, problem: { kind: 'altered', position: 50, seq: 5 } });
  });

  it('names the missing range before the row after a gap', () => {
    const rows = chained(8);
    expect(verify([...rows.slice(0, 2), ...rows.slice(5)])).toMatchObject({
      ok: false,
      problem: {
        kind: 'missing',
        beforePosition: 60,
        seqs: [3, 5],
        reason: 'events #3-#5 are missing before position 60 (after position 20)',
      },
    });
  });

  it('names an inserted row: without a link, with a used number, or with the number of the row it pushed along', () => {
    const rows = chained(4);
    const forged = { ...rows[1], eventId: 'x', position: 25 };
    expect(verify([...rows.slice(0, 2), { ...forged, seq: null, hash: null }, ...rows.slice(2)])).toMatchObject({
      problem: { kind: 'inserted', position: 25 },
    });
    expect(verify([...rows.slice(0, 2), { ...forged, seq: 1 }, ...rows.slice(2)])).toMatchObject({
      problem: { kind: 'inserted', position: 25 },
    });
    expect(verify([...rows.slice(0, 2), { ...forged, seq: 3, hash: rows[2].hash }, ...rows.slice(2)])).toMatchObject({
      problem: {
        kind: 'inserted',
        position: 25,
        reason: 'event at position 25 is not part of the chain: the next event chains from the one before it',
      },
    });
  });
});
