import { RE2JS, RE2JSException } from 're2js';

/**
 * The policy for every regular expression a user supplies (a mapping's `matches` conditions and
 * `extract` transforms):
 * patterns are RE2 syntax and run on RE2 (the pure-JS port `re2js`), whose matching time is linear
 * in the input, so no pattern can stall the event loop by backtracking (`^(a+)+$` included).
 * What RE2 cannot do in linear time (backreferences, lookahead, lookbehind) is refused when the
 * mapping is parsed, as are patterns longer than MAX_PATTERN_LENGTH characters or whose compiled
 * program is larger than MAX_PATTERN_PROGRAM (the cost per input character). RE2 itself refuses
 * repeat counts above 1000, nested ones included.
 */
export const MAX_PATTERN_LENGTH = 256;
/** RE2 program instructions; `x{1000}` is about 1,000. Bounds the work per input character. */
export const MAX_PATTERN_PROGRAM = 2000;

export type UserPattern =
  | {
      ok: true;
      test: (text: string) => boolean;
      /** capture groups of the pattern (not counting the whole match) */
      groups: number;
      /** named groups: name -> group number */
      names: Record<string, number>;
      /** the text of capture group `group` (0: the whole match) of the first match, or null without a match */
      extract: (text: string, group: number) => string | null;
    }
  | { ok: false; reason: string };

const UNSUPPORTED = 'is not supported: patterns run on a linear-time engine (RE2 syntax)';

/** Compiles a user-supplied pattern, or says why it is refused (the reason completes "<path> ..."). */
export function compileUserPattern(pattern: string): UserPattern {
  if (pattern.length > MAX_PATTERN_LENGTH)
    return { ok: false, reason: `is ${pattern.length} characters long; patterns may have at most ${MAX_PATTERN_LENGTH}` };
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (e) {
    if (!(e instanceof RE2JSException)) throw e;
    if (/\\[1-9]|\\k</.test(pattern)) return { ok: false, reason: `has a backreference (\\1, \\k<name>), which ${UNSUPPORTED}` };
    if (/\(\?<?[=!]/.test(pattern))
      return { ok: false, reason: `has a lookahead or lookbehind ((?=, (?!, (?<=, (?<!), which ${UNSUPPORTED}` };
    return { ok: false, reason: `is not a valid regular expression (RE2 syntax): ${e.message.replace(/^error parsing regexp: /, '')}` };
  }
  const size = re.programSize();
  if (size > MAX_PATTERN_PROGRAM)
    return { ok: false, reason: `is too complex (${size} RE2 instructions; at most ${MAX_PATTERN_PROGRAM}): use smaller repeat counts` };
  return {
    ok: true,
    test: (text) => re.test(text),
    groups: re.groupCount(),
    names: { ...re.namedGroups() },
    extract: (text, group) => {
      const m = re.matcher(text);
      return m.find() ? (m.group(group) ?? null) : null;
    },
  };
}
