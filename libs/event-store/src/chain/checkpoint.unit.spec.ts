import { generateKeyPairSync } from 'node:crypto';
import { CheckpointError, keyIdOf, parseCheckpoint, parseSigningKey, parseVerifyKey, signCheckpoint, verifyCheckpoint } from './checkpoint';

describe('signed log checkpoints', () => {
  const pair = generateKeyPairSync('ed25519');
  const privatePem = String(pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const publicPem = String(pair.publicKey.export({ type: 'spki', format: 'pem' }));
  const head = { seq: 4894, position: 4901, hash: '671a5470eee53751d56ff8c36683916c411948c1475727e427f636dd73bd04e0' };
  const signed = signCheckpoint(head, { store: 'sqlite', createdAt: '2026-12-01T07:00:00.000Z' }, parseSigningKey(privatePem));

  it('carries the head, the store, the time and the signing key id, and verifies with the public key (or the private one)', () => {
    expect(signed).toMatchObject({ format: 'cem-checkpoint', version: 1, ...head, store: 'sqlite', createdAt: '2026-12-01T07:00:00.000Z' });
    expect(signed.keyId).toBe(keyIdOf(pair.publicKey));
    expect(verifyCheckpoint(parseCheckpoint(JSON.stringify(signed)), parseVerifyKey(publicPem))).toEqual({ ok: true });
    expect(verifyCheckpoint(signed, parseVerifyKey(privatePem))).toEqual({ ok: true });
  });

  it.each([
    ['seq', 1],
    ['position', 1],
    ['hash', '0'.repeat(64)],
    ['store', 'esdb'],
    ['createdAt', '2026-12-02T07:00:00.000Z'],
  ])('any change of %s breaks the signature', (field, value) => {
    const changed = { ...signed, [field]: value };
    expect(verifyCheckpoint(changed, pair.publicKey)).toEqual({
      ok: false,
      reason: 'the signature does not match its content: the checkpoint was altered, or not signed by this key',
    });
  });

  it('names the key it expected when another key is given, or when the key id was swapped', () => {
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(verifyCheckpoint(signed, other)).toEqual({
      ok: false,
      reason: `signed by key ${signed.keyId}, not by the key given (${keyIdOf(other)})`,
    });
    const resigned = signCheckpoint(head, { store: 'sqlite', createdAt: signed.createdAt }, generateKeyPairSync('ed25519').privateKey);
    expect(verifyCheckpoint({ ...resigned, keyId: signed.keyId }, pair.publicKey).ok).toBe(false);
  });

  it('refuses malformed files and keys that are not Ed25519, saying why', () => {
    expect(() => parseCheckpoint('nope')).toThrow(new CheckpointError('not JSON'));
    expect(() => parseCheckpoint('{"format":"cem-log","version":1}')).toThrow('not a checkpoint');
    expect(() => parseCheckpoint(JSON.stringify({ ...signed, seq: -1, hash: 'xyz' }))).toThrow('invalid field(s): seq, hash');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => parseSigningKey(String(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' })))).toThrow(
      'an Ed25519 key is needed, this one is rsa',
    );
    expect(() => parseSigningKey(publicPem)).toThrow('not a PEM private key');
    expect(() => parseVerifyKey('garbage')).toThrow('not a PEM key');
  });
});
