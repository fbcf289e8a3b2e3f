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
 * `fn` gets the value's dotted path (`prefix.key.index...`), built only for the values it is called on.
 */
export function mapPath(root: unknown, pattern: PathPattern, fn: LeafFn, prefix: string): unknown {
  const out = step(root, pattern, 0, fn, prefix, []);
  return out === DROPPED ? undefined : out;
}

/**
 * mapPath's twin that changes `root` in place instead of copying (the same results: removed leaves
 * lose their key, an array element in which something was removed is dropped, the same dotted paths);
 * for objects nobody else holds, like the events a store has just parsed (`freshReads`). Answers the
 * updated root (undefined when the root itself was removed).
 */
export function updatePath(root: unknown, pattern: PathPattern, fn: LeafFn, prefix: string): unknown {
  const out = stepInPlace(root, pattern, 0, fn, prefix, []);
  return out === DROPPED ? undefined : out;
}

function stepInPlace(node: unknown, pattern: PathPattern, depth: number, fn: LeafFn, prefix: string, keys: (string | number)[]): unknown {
  if (depth === pattern.length) {
    if (node === undefined || node === null) return node;
    const out = fn(node, keys.length === 0 ? prefix : `${prefix}.${keys.join('.')}`);
    return out === REMOVED ? DROPPED : out;
  }
  if (node === null || typeof node !== 'object') return node;
  const segment = pattern[depth];
  if (Array.isArray(node)) {
    if (segment !== '*') return node;
    let kept = 0;
    const length = node.length;
    for (let i = 0; i < length; i++) {
      keys.push(i);
      const r = stepInPlace(node[i], pattern, depth + 1, fn, prefix, keys);
      keys.pop();
      if (r !== DROPPED) node[kept++] = r;
    }
    node.length = kept;
    return node;
  }
  const target = node as Record<string, unknown>;
  let removedAny = false;
  const visit = (k: string) => {
    keys.push(k);
    const r = stepInPlace(target[k], pattern, depth + 1, fn, prefix, keys);
    keys.pop();
    if (r === DROPPED) {
      delete target[k];
      removedAny = true;
    } else if (r !== target[k]) target[k] = r;
  };
  if (segment === '*') for (const k of Object.keys(target)) visit(k);
  else if (Object.prototype.hasOwnProperty.call(target, segment)) visit(segment);
  return removedAny && depth > 0 && pattern[depth - 1] === '*' ? DROPPED : node;
}

/** What step answers for a node that is gone: a removed leaf, or an array element in which something was removed. */
const DROPPED = Symbol('dropped');

// runs on every personal value of every event read or written: no result objects, and the path is
// joined only at a leaf (`keys` is the stack of keys and indices walked so far)
function step(node: unknown, pattern: PathPattern, depth: number, fn: LeafFn, prefix: string, keys: (string | number)[]): unknown {
  if (depth === pattern.length) {
    if (node === undefined || node === null) return node;
    const out = fn(node, keys.length === 0 ? prefix : `${prefix}.${keys.join('.')}`);
    return out === REMOVED ? DROPPED : out;
  }
  if (node === null || typeof node !== 'object') return node;
  const segment = pattern[depth];
  if (Array.isArray(node)) {
    if (segment !== '*') return node;
    const out: unknown[] = [];
    for (let i = 0; i < node.length; i++) {
      keys.push(i);
      const r = step(node[i], pattern, depth + 1, fn, prefix, keys);
      keys.pop();
      if (r !== DROPPED) out.push(r);
    }
    return out;
  }
  const source = node as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  let removedAny = false;
  const visit = (k: string) => {
    keys.push(k);
    const r = step(source[k], pattern, depth + 1, fn, prefix, keys);
    keys.pop();
    copy ??= { ...source };
    if (r === DROPPED) {
      delete copy[k];
      removedAny = true;
    } else copy[k] = r;
  };
  if (segment === '*') for (const k of Object.keys(source)) visit(k);
  else if (Object.prototype.hasOwnProperty.call(source, segment)) visit(segment);
  if (copy === undefined) return node;
  // inside an array element, a removal drops the element (see mapPath); at the top it only drops keys
  return removedAny && depth > 0 && pattern[depth - 1] === '*' ? DROPPED : copy;
}
