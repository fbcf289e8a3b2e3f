/** given(state).when(command).then(events): the decider test helper (Emmett's style). */
export function given<S>(state: S) {
  return {
    when<C, E>(decide: (command: C, state: S) => E, command: C) {
      return {
        then(expected: E | ((actual: E) => void)) {
          const actual = decide(command, state);
          if (typeof expected === 'function') (expected as (a: E) => void)(actual);
          else expect(actual).toEqual(expected);
        },
        thenThrows(match: RegExp | (new (...a: any[]) => Error)) {
          expect(() => decide(command, state)).toThrow(match as never);
        },
      };
    },
  };
}
