import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { ChainHead } from './log-chain';

/**
 * A signed checkpoint of the log: a chain head (link number, position, hash), when it was taken and
 * on which store, signed with an Ed25519 key the operator keeps. Anyone holding the public key can
 * check it offline; `verify-log --checkpoint` checks the log still holds that link. Unlike a bare
 * anchor, a signed checkpoint proves who took it and when, so it can be kept anywhere (a ticket, a
 * mail, a timestamping service), even where others could write.
 */
export interface LogCheckpoint {
  format: 'cem-checkpoint';
  version: 1;
  seq: number;
  position: number;
  hash: string;
  store: string;
  createdAt: string;
  /** SHA-256 (hex, first 16 digits) of the public key (SPKI DER): which key signed it */
  keyId: string;
  /** Ed25519 signature (base64) over the canonical text of the fields above */
  signature: string;
}

export const CHECKPOINT_FORMAT = 'cem-checkpoint';

/** The checkpoint file or the key cannot be used; the message says why. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** The exact bytes signed: one field a line, in a fixed order, so no JSON canonicalisation is needed. */
function signedText(c: Omit<LogCheckpoint, 'signature'>): Buffer {
  return Buffer.from([`${c.format}/${c.version}`, c.seq, c.position, c.hash, c.store, c.createdAt, c.keyId].map(String).join('\n'), 'utf8');
}

export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** An Ed25519 private key from PEM text (PKCS#8, as `openssl genpkey -algorithm ed25519` writes it). */
export function parseSigningKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new CheckpointError(`not a PEM private key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new CheckpointError(`an Ed25519 key is needed, this one is ${key.asymmetricKeyType}`);
  return key;
}

/** An Ed25519 public key from PEM text: a public key (SPKI), or the private key it belongs to. */
export function parseVerifyKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
  } catch (e) {
    throw new CheckpointError(`not a PEM key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new CheckpointError(`an Ed25519 key is needed, this one is ${key.asymmetricKeyType}`);
  return key;
}

export function signCheckpoint(head: ChainHead, at: { store: string; createdAt: string }, key: KeyObject): LogCheckpoint {
  const unsigned = {
    format: CHECKPOINT_FORMAT,
    version: 1,
    seq: head.seq,
    position: head.position,
    hash: head.hash,
    store: at.store,
    createdAt: at.createdAt,
    keyId: keyIdOf(key),
  } as const;
  return { ...unsigned, signature: sign(null, signedText(unsigned), key).toString('base64') };
}

/** Parses a checkpoint file's text; every field is checked (a malformed file is an error, not a failed signature). */
export function parseCheckpoint(text: string): LogCheckpoint {
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CheckpointError('not JSON');
  }
  if (typeof c !== 'object' || c === null || c.format !== CHECKPOINT_FORMAT || c.version !== 1)
    throw new CheckpointError(`not a checkpoint (format "${CHECKPOINT_FORMAT}", version 1)`);
  const whole = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const problems = [
    !whole(c.seq) && 'seq',
    !whole(c.position) && 'position',
    !(typeof c.hash === 'string' && /^[0-9a-f]{64}$/.test(c.hash)) && 'hash',
    typeof c.store !== 'string' && 'store',
    !(typeof c.createdAt === 'string' && !Number.isNaN(Date.parse(c.createdAt))) && 'createdAt',
    !(typeof c.keyId === 'string' && /^[0-9a-f]{16}$/.test(c.keyId)) && 'keyId',
    !(typeof c.signature === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(c.signature)) && 'signature',
  ].filter(Boolean);
  if (problems.length > 0) throw new CheckpointError(`invalid field(s): ${problems.join(', ')}`);
  return c as unknown as LogCheckpoint;
}

export type CheckpointCheck = { ok: true } | { ok: false; reason: string };

/** Whether `key` signed exactly this checkpoint. */
export function verifyCheckpoint(c: LogCheckpoint, key: KeyObject): CheckpointCheck {
  const keyId = keyIdOf(key);
  if (c.keyId !== keyId) return { ok: false, reason: `signed by key ${c.keyId}, not by the key given (${keyId})` };
  const { signature, ...unsigned } = c;
  return verify(null, signedText(unsigned), key, Buffer.from(signature, 'base64'))
    ? { ok: true }
    : { ok: false, reason: 'the signature does not match its content: the checkpoint was altered, or not signed by this key' };
}
