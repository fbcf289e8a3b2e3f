import { followMergeChain, followMergeChainAsync, MAX_MERGE_HOPS, MergeChainTooLongError } from './merge-chain';

describe('followMergeChain', () => {
  const pointers = new Map<string, string | null>([
    ['a', 'b'],
    ['b', 'c'],
    ['c', null],
    ['d', 'd'],
  ]);
  const mergedIntoOf = (id: string) => pointers.get(id);

  it('walks a chain of merges to its live end, sync and async alike', async () => {
    expect(followMergeChain('a', mergedIntoOf)).toBe('c');
    expect(followMergeChain('c', mergedIntoOf)).toBe('c');
    expect(await followMergeChainAsync('a', async (id) => mergedIntoOf(id))).toBe('c');
  });

  it('stops at an unknown id and at an id pointing at itself', async () => {
    expect(followMergeChain('x', mergedIntoOf)).toBe('x');
    expect(followMergeChain('d', mergedIntoOf)).toBe('d');
    expect(await followMergeChainAsync('x', async (id) => mergedIntoOf(id))).toBe('x');
  });

  it('gives up on a cycle after MAX_MERGE_HOPS', async () => {
    let steps = 0;
    const cycle = (id: string) => (steps++, id === 'p' ? 'q' : 'p');
    expect(() => followMergeChain('p', cycle)).toThrow(MergeChainTooLongError);
    expect(steps).toBe(MAX_MERGE_HOPS);
    await expect(followMergeChainAsync('p', async (id) => cycle(id))).rejects.toBeInstanceOf(MergeChainTooLongError);
  });
});
