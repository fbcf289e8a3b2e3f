import { loadOrExit } from './boot';

describe('loadOrExit', () => {
  let previous: number;
  beforeEach(() => (previous = process.umask(0o022)));
  afterEach(() => process.umask(previous));

  it('sets the owner-only umask (077) for the whole process, so every file it creates is private', () => {
    expect(loadOrExit('test', () => 42)).toBe(42);
    expect(process.umask()).toBe(0o077);
  });
});
