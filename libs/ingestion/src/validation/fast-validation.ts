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
  if (schema || (Array.isArray(groups) && groups.length > 0) || typeof target !== 'function')
    return original(target, schema, always, strictGroups, groups);
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

/*
 * The fast verdict. Most events are valid, and a valid event needs no error objects or messages: we
 * run the very constraint functions class-validator registered for the DTO (so the verdict is the
 * same) straight on the plain object. Only when it says "invalid" does class-validator run in full to
 * produce its errors and messages. Anything this checker does not model (async rules, nesting without
 * @Type) answers "invalid", which also falls back to the full run: a wrong "valid" is impossible by
 * construction, a wrong "invalid" only costs time.
 */
interface ConstraintCheck {
  validate: (value: unknown, args: object) => unknown;
  constraints: unknown[];
  each: boolean;
}
interface PropertyPlan {
  name: string;
  conditions: ((object: unknown, value: unknown) => boolean)[];
  checks: ConstraintCheck[];
  /** undefined: no nesting; null: nesting this checker cannot follow */
  nested?: Ctor | null;
}
interface ClassPlan {
  name: string;
  allowed: Set<string>;
  properties: PropertyPlan[];
}
const plans = new Map<Ctor, ClassPlan>();
const fullStorage = getMetadataStorage() as unknown as {
  getTargetValidatorConstraints: (cls: Function) => { instance: { validate: ConstraintCheck['validate'] }; async: boolean }[];
};

function planOf(dto: Ctor): ClassPlan {
  let plan = plans.get(dto);
  if (plan) return plan;
  const metadata = storage.getTargetValidationMetadatas(dto, undefined, false, false, undefined) as {
    type: string;
    propertyName: string;
    constraints: unknown[];
    constraintCls: Function;
    each?: boolean;
  }[];
  const byProperty = storage.groupByPropertyName(metadata) as Record<string, typeof metadata>;
  const types = new Map(nestedOf(dto));
  plan = { name: dto.name, allowed: new Set(Object.keys(byProperty)), properties: [] };
  for (const [name, metas] of Object.entries(byProperty)) {
    const property: PropertyPlan = { name, conditions: [], checks: [] };
    for (const m of metas) {
      if (m.type === 'conditionalValidation') property.conditions.push(m.constraints[0] as PropertyPlan['conditions'][number]);
      else if (m.type === 'nestedValidation') property.nested = types.get(name) ?? null;
      else if (m.type === 'customValidation') {
        for (const c of fullStorage.getTargetValidatorConstraints(m.constraintCls)) {
          if (c.async) property.nested = null; // async rules: let class-validator decide
          property.checks.push({ validate: c.instance.validate.bind(c.instance), constraints: m.constraints, each: m.each === true });
        }
      } else if (m.type !== 'whitelistValidation') property.nested = null; // unmodelled rule type
    }
    plan.properties.push(property);
  }
  plans.set(dto, plan);
  return plan;
}

/** True only when class-validator (whitelist + forbidNonWhitelisted + forbidUnknownValues) would find no error. */
export function passesFast(dto: Ctor, object: Record<string, unknown>): boolean {
  const plan = planOf(dto);
  if (plan.properties.length === 0) return false;
  for (const key in object) if (!plan.allowed.has(key)) return false;
  // one arguments object per call (constraints read it synchronously), not one per property
  const args = { targetName: plan.name, property: '', object, value: undefined as unknown, constraints: undefined as unknown };
  for (const p of plan.properties) {
    const value = object[p.name];
    let applies = true;
    for (const condition of p.conditions) if (!condition(object, value)) applies = false;
    if (!applies) continue;
    if (p.nested === null) return false;
    args.property = p.name;
    args.value = value;
    for (const check of p.checks) {
      args.constraints = check.constraints;
      if (check.each && (Array.isArray(value) || value instanceof Set || value instanceof Map)) {
        for (const item of Array.isArray(value) ? value : [...(value as Set<unknown>).values()])
          if (check.validate(item, args) !== true) return false;
      } else if (check.validate(value, args) !== true) return false;
    }
    if (p.nested) {
      if (Array.isArray(value)) {
        for (const item of value) if (!isObject(item) || !passesFast(p.nested, item)) return false;
      } else if (!isObject(value) || !passesFast(p.nested, value)) return false;
    }
  }
  return true;
}

export function validateDto(dto: new () => object, plain: Record<string, unknown>, options: ValidatorOptions): ValidationError[] {
  if (passesFast(dto, plain)) return [];
  return validateSync(asDto(dto, plain), options);
}
