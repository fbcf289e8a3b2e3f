/** Injection token of the wired Platform (see libs/platform). */
export const PLATFORM = Symbol('PLATFORM');
