/** One problem with one field of one input. `field` is a dotted path such as `data.nps`. */
export interface FieldError {
  field: string;
  reason: string;
}

/** Raised by pure domain code when an input breaks a rule; adapters map it to 422 / a reject row. */
export class DomainValidationError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.reason}`).join('; '));
    this.name = 'DomainValidationError';
  }
}
