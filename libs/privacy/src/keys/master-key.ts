/** What is wrong with a 256-bit secret given as base64 (or hex), or undefined when it is usable. */
export function secretKeyProblem(text: string): string | undefined {
  return parseSecretKey(text)
    ? undefined
    : 'must be 32 random bytes, base64 (44 characters) or hex (64 characters); e.g. `openssl rand -base64 32`';
}

/** A 256-bit secret from configuration: 64 hex characters or base64 of 32 bytes. */
export function parseSecretKey(text: string): Buffer | undefined {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === 32) return b;
  }
  return undefined;
}
