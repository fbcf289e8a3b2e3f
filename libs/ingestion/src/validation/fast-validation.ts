import { getMetadataStorage, validateSync, type ValidationError, type ValidatorOptions } from 'class-validator';

/*
 * class-validator is the contract of every DTO, but two of its habits cost more than the checks
 * themselves on the ingest hot path (profiled: ~30% of validation time):
 *  - it recomputes and regroups a class's metadata on every call, so we memoise both per class;
 *  - class-transformer's plainToInstance walks every value generically, while all we need is the
 *    DTO prototype on each (nested) object, so class-validator finds its rules. We set exactly that,
 *    following the @Type metadata, and leave values untouched (no conversions are configured).
 */
const storage = getMetadataStorage() as unknown as {
  getTargetValidationMetadatas: (...args: unknown[]) => unknown[];
  groupByPropertyName: (metadata: unknown[]) => Record<string, unknown[]>;
};
const byTarget = new WeakMap<object, unknown[]>();
const grouped = new WeakMap<unknown[], Record<string, unknown[]>>();
const original = storage.getTargetValidationMetadatas.bind(storage);
const originalGroup = storage.groupByPropertyName.bind(storage);
storage.getTargetValidationMetadatas = (target: unknown, schema: unknown, always: unknown, strictGroups: unknown, groups?: unknown) => {
  // only the plain case (no groups, no schema) is memoised; everything else goes the usual way
  if (schema || (Array.isArray(groups) && groups.length > 0) || typeof target !== 'function') return original(target, schema, always, strictGroups, groups);
  let hit = byTarget.get(target);
  if (!hit) byTarget.set(target, (hit = original(target, schema, always, strictGroups, groups)));
  return hit;
};
storage.groupByPropertyName = (metadata: unknown[]) => {
  let hit = grouped.get(metadata);
  if (!hit) grouped.set(metadata, (hit = originalGroup(metadata)));
  return hit;
};

type Ctor = new () => object;
// class-transformer keeps its @Type registry here; the package ships no typings for this entry point
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as {
  defaultMetadataStorage: { _typeMetadatas: Map<Function, Map<string, { typeFunction: () => Ctor }>> };
};
const nestedTypes = new Map<Ctor, [string, Ctor][]>();

function nestedOf(dto: Ctor): [string, Ctor][] {
  let list = nestedTypes.get(dto);
  if (!list) {
    list = [];
    for (let proto = dto.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      const metas = defaultMetadataStorage._typeMetadatas.get(proto.constructor);
      for (const [prop, meta] of metas ?? []) list.push([prop, meta.typeFunction()]);
    }
    nestedTypes.set(dto, list);
  }
  return list;
}

/** A shallow copy of `plain` with the DTO's prototype, recursively along @Type properties. */
export function asDto<T extends object>(dto: new () => T, plain: Record<string, unknown>): T {
  const instance = Object.assign(Object.create(dto.prototype), plain);
  for (const [prop, type] of nestedOf(dto)) {
    const value = plain[prop];
    if (Array.isArray(value)) instance[prop] = value.map((v) => (isObject(v) ? asDto(type, v) : v));
    else if (isObject(value)) instance[prop] = asDto(type, value);
  }
  return instance;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function validateDto(dto: new () => object, plain: Record<string, unknown>, options: ValidatorOptions): ValidationError[] {
  return validateSync(asDto(dto, plain), options);
}
