import type { DataKey } from '../cipher/data-key';

/** A key id looked up for reading: the key, or the fact that it was destroyed (the customer was erased). */
export type KeyLookup = DataKey | 'destroyed';

/** The customer's key was destroyed: nothing may be written for this customer id any more. */
export class CustomerErasedError extends Error {
  constructor(readonly customerId: string) {
    super(`customer ${customerId} was erased; nothing more can be recorded for this customer id`);
    this.name = 'CustomerErasedError';
  }
}

/** An event names a key the key store never held (a key store from another deployment, or a lost file). */
export class UnknownKeyError extends Error {
  constructor(readonly keyId: string) {
    super(`data key ${keyId} is not in the key store (is the key store file the one this event log was written with?)`);
    this.name = 'UnknownKeyError';
  }
}

/** The configured master key is not the one the key store's keys are wrapped with. */
export class MasterKeyMismatchError extends Error {
  constructor(where: string) {
    super(`PRIVACY_MASTER_KEY does not match ${where}: its data keys were wrapped with another master key`);
    this.name = 'MasterKeyMismatchError';
  }
}

/**
 * The per-customer data keys (port). The embedded adapter keeps them in an SQLite file wrapped by a
 * master key (./sqlite-key-store.ts); an external KMS plugs in by implementing this interface (see
 * docs/privacy.md): `keysFor` creates or unwraps data keys (envelope encryption: the KMS wraps, the
 * wrapped key is stored next to the customer id), `keysById` unwraps, `destroy` deletes the wrapped key
 * for good. Keys never leave this port except as DataKey objects, which do not print their bytes.
 */
export interface CustomerKeyStore {
  /** Each customer's current key, created on first use. Throws CustomerErasedError for an erased customer. */
  keysFor(customerIds: readonly string[]): Promise<Map<string, DataKey>>;
  /**
   * The existing keys of these customers, for values stored by customer (the read store's copies of
   * identifiers): a customer without a key is absent; none is created.
   */
  keysOfCustomers(customerIds: readonly string[]): Promise<Map<string, KeyLookup>>;
  /** Keys by id for decryption; throws UnknownKeyError for an id the store never held. */
  keysById(keyIds: readonly string[]): Promise<Map<string, KeyLookup>>;
  /** Destroys every key of these customers, all or none; answers the key ids destroyed (already-destroyed ones excluded). */
  destroy(customerIds: readonly string[], at: string): Promise<string[]>;
  /** true when the customer's key was destroyed */
  isErased(customerId: string): Promise<boolean>;
  /**
   * Calls `listener` when this store learns of an erasure (its own `destroy`, or one by another
   * process, seen on its next call): what a process remembers of personal data beyond the keys (the
   * blind index's recent identifiers) is dropped then.
   */
  onErasure(listener: () => void): void;
  close(): Promise<void>;
}
