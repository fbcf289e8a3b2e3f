import { isTouchpointType, SYSTEM_PERSONAL_DATA, TOUCHPOINT_CATALOGUE, type SystemType } from '@cem/domain';

/** A dotted path split into segments; `*` matches every key of an object or every element of an array. */
export type PathPattern = readonly string[];

export interface PersonalPaths {
  data: readonly PathPattern[];
  metadata: readonly PathPattern[];
}

/** The envelope's identifiers (ENVELOPE_PERSONAL_DATA) as they are stored: in the event's metadata. */
const METADATA_PATHS: readonly PathPattern[] = [['identifiers', '*', 'value']];
const cache = new Map<string, PersonalPaths>();

/** Where an event of this type holds personal data, from the event catalogue (the one list of it). */
export function personalPathsOf(type: string): PersonalPaths {
  let paths = cache.get(type);
  if (!paths) {
    const dotted = isTouchpointType(type) ? TOUCHPOINT_CATALOGUE[type].personalData : (SYSTEM_PERSONAL_DATA[type as SystemType] ?? []);
    paths = { data: dotted.map((p) => p.split('.')), metadata: METADATA_PATHS };
    cache.set(type, paths);
  }
  return paths;
}

/**
 * Paths through an `identifiers` key hold a customer's identifiers (the envelope's, those of a
 * registration or link, a merge's evidence): the same few values on many events, sealed per field.
 */
export const isIdentifierPath = (pattern: PathPattern): boolean => pattern.includes('identifiers');

/** true when the pattern reaches a value (not null or undefined) under `root`; copies nothing */
export function reaches(root: unknown, pattern: PathPattern, depth = 0): boolean {
  if (depth === pattern.length) return root !== undefined && root !== null;
  if (root === null || typeof root !== 'object') return false;
  const segment = pattern[depth];
  if (Array.isArray(root)) return segment === '*' && root.some((element) => reaches(element, pattern, depth + 1));
  const node = root as Record<string, unknown>;
  if (segment === '*') return Object.keys(node).some((k) => reaches(node[k], pattern, depth + 1));
  return Object.prototype.hasOwnProperty.call(node, segment) && reaches(node[segment], pattern, depth + 1);
}

/** Returned by a leaf function: the value is gone (its key is removed; an array element holding it is dropped). */
export const REMOVED = Symbol('removed');
export type LeafFn = (value: unknown, path: string) => unknown;

/**
 * Applies `fn` to every value the pattern reaches under `root` and returns a copy with the results;
 * `root` itself is never changed (the caller's event objects stay as they were). Values that are
 * absent, null or undefined are left alone. An array element in which something was removed is
 * dropped whole: an identifier without its value, or a merge key without its identifier, means nothing.
 */
export function mapPath(root: unknown, pattern: PathPattern, fn: LeafFn, prefix: string): unknown {
  return step(root, pattern, 0, fn, prefix).value;
}

function step(node: unknown, pattern: PathPattern, depth: number, fn: LeafFn, path: string): { value: unknown; removed: boolean } {
  if (depth === pattern.length) {
    if (node === undefined || node === null) return { value: node, removed: false };
    const out = fn(node, path);
    return out === REMOVED ? { value: undefined, removed: true } : { value: out, removed: false };
  }
  if (node === null || typeof node !== 'object') return { value: node, removed: false };
  const segment = pattern[depth];
  if (Array.isArray(node)) {
    if (segment !== '*') return { value: node, removed: false };
    const out: unknown[] = [];
    node.forEach((element, i) => {
      const r = step(element, pattern, depth + 1, fn, `${path}.${i}`);
      if (!r.removed) out.push(r.value);
    });
    return { value: out, removed: false };
  }
  const source = node as Record<string, unknown>;
  const keys = segment === '*' ? Object.keys(source) : Object.prototype.hasOwnProperty.call(source, segment) ? [segment] : [];
  if (keys.length === 0) return { value: node, removed: false };
  const copy: Record<string, unknown> = { ...source };
  let removedAny = false;
  for (const k of keys) {
    const r = step(source[k], pattern, depth + 1, fn, `${path}.${k}`);
    if (r.removed) {
      delete copy[k];
      removedAny = true;
    } else copy[k] = r.value;
  }
  // inside an array element, a removal drops the element (see mapPath); at the top it only drops keys
  return { value: copy, removed: removedAny && depth > 0 && isArrayIndexParent(pattern, depth) };
}

/** true when the object at `depth` is an element of an array matched by `*` (pattern[depth - 1] is `*`). */
const isArrayIndexParent = (pattern: PathPattern, depth: number): boolean => pattern[depth - 1] === '*';
