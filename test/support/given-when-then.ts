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

/** The decider shape of @cem/domain (repeated structurally so this helper needs no import). */
interface DeciderLike<C, S, E> {
  readonly initialState: S;
  decide(command: C, state: S): E[];
  evolve(state: S, event: E): S;
}

/**
 * given(events).when(command).then(events) for a decider: the state is folded from the given events
 * with `evolve`, from the decider's initial state.
 */
export function givenEvents<C, S, E>(decider: DeciderLike<C, S, E>, events: E[]) {
  const state = events.reduce((s, e) => decider.evolve(s, e), decider.initialState);
  return {
    when(command: C) {
      const decided = given(state).when((c: C, s: S) => decider.decide(c, s), command);
      return { then: decided.then, thenThrows: decided.thenThrows };
    },
  };
}
