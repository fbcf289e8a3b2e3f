import { FIELD_SEALED_PREFIX, IDENTIFIER_FIELD, isSealed, SealedValueError } from './cipher/data-key';
import { REMOVED } from './cipher/personal-paths';
import { UnknownKeyError, type CustomerKeyStore, type KeyLookup } from './keys/key-store';

/**
 * How one customer's identifiers are kept outside the event log (the customer 360's document and
 * timeline in the read store): sealed with the customer's data key in the log's own per-field format
 * (`cem:enc:2:`, the field `identifiers`), so a read store holds no plaintext identifier and the
 * ciphertext of a customer's own identifier is the one its events hold. Erasure destroys the key:
 * the copies read as removed, like the log's.
 */
export interface StoredValueSeal {
  /** the stored form of a value; REMOVED when the customer's key was destroyed (store nothing) */
  seal(value: unknown): unknown;
  /** the value of a stored form; a value stored in plain (before sealing) is answered as it is; REMOVED once erased */
  open(stored: unknown): unknown;
}

/**
 * The seals of customers, fetched in one call per batch or query (one key lookup each, cached by the
 * key store). Values are sealed per customer (not per key id): a customer has one key for life, and
 * a row names its customer, so no key id is stored beside the values.
 */
export interface StoredValues {
  /** true when values are sealed (privacy on); false: values are stored as they are */
  readonly sealed: boolean;
  /** for writing: a customer without a key yet gets one (its events were written before encryption) */
  forWriting(customerIds: readonly string[]): Promise<Map<string, StoredValueSeal>>;
  /** for reading: no key is created */
  forReading(customerIds: readonly string[]): Promise<Map<string, StoredValueSeal>>;
}

const PLAIN_SEAL: StoredValueSeal = { seal: (value) => value, open: (stored) => stored };

/** Privacy off: values are stored in plain. */
export const PLAIN_STORED_VALUES: StoredValues = {
  sealed: false,
  forWriting: async (ids) => new Map(ids.map((id) => [id, PLAIN_SEAL])),
  forReading: async (ids) => new Map(ids.map((id) => [id, PLAIN_SEAL])),
};

/** A customer's seal over its key (or the fact that it was destroyed, or that it never had one). */
class CustomerValueSeal implements StoredValueSeal {
  constructor(
    private readonly customerId: string,
    private readonly key: KeyLookup | undefined,
  ) {}

  seal(value: unknown): unknown {
    if (this.key === 'destroyed') return REMOVED;
    if (this.key === undefined) throw new UnknownKeyError(`of customer ${this.customerId}`);
    return this.key.sealField(value, IDENTIFIER_FIELD);
  }

  open(stored: unknown): unknown {
    if (!isSealed(stored)) return stored; // stored before the read store sealed identifiers
    if (this.key === 'destroyed') return REMOVED;
    if (this.key === undefined) throw new UnknownKeyError(`of customer ${this.customerId}`);
    // only the per-field format is stored outside the log (a per-event value is bound to its event's id and path)
    if (!stored.startsWith(FIELD_SEALED_PREFIX)) throw new SealedValueError(this.key.keyId);
    return this.key.openField(stored, IDENTIFIER_FIELD);
  }
}

/** Privacy on: values sealed with the customer's key from the key store (EncryptingEventStore.storedValues). */
export class KeyedStoredValues implements StoredValues {
  readonly sealed = true;

  constructor(private readonly keys: CustomerKeyStore) {}

  async forWriting(customerIds: readonly string[]): Promise<Map<string, StoredValueSeal>> {
    const found = await this.keys.keysOfCustomers(customerIds);
    const missing = customerIds.filter((id) => !found.has(id));
    if (missing.length > 0) for (const [id, key] of await this.keys.keysFor(missing)) found.set(id, key);
    return this.seals(customerIds, found);
  }

  async forReading(customerIds: readonly string[]): Promise<Map<string, StoredValueSeal>> {
    return this.seals(customerIds, await this.keys.keysOfCustomers(customerIds));
  }

  private seals(customerIds: readonly string[], keys: Map<string, KeyLookup>): Map<string, StoredValueSeal> {
    return new Map(customerIds.map((id) => [id, new CustomerValueSeal(id, keys.get(id))]));
  }
}
