import { BadRequestException } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export const FORBIDDEN_KEY_MESSAGE = 'the body contains a __proto__ or constructor.prototype key, which is refused';

/**
 * The only body parser of the JSON endpoints (Nest's own parsers are off): JSON, strictly UTF-8,
 * without prototype keys. Form-encoded and text bodies have no parser, so Fastify answers them 415
 * before anything reads them. Upload types are added by the imports controller.
 */
export function installJsonBodyParser(fastify: FastifyInstance): void {
  fastify.removeContentTypeParser(['application/json', 'text/plain']);
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
}

/**
 * Parses a JSON body. Invalid UTF-8 is refused (400 invalid_utf8, with the byte offset) instead of
 * being replaced with U+FFFD: the bytes are checked whole before JSON parsing, so the field is not
 * known there, and the request is refused whole anyway. A leading byte-order mark is allowed.
 */
export function parseJsonBody(body: Uint8Array): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(body);
  } catch {
    throw new BadRequestException({
      error: 'invalid_utf8',
      message: `the body is not valid UTF-8 (invalid sequence at byte ${firstInvalidUtf8(body)}); nothing was written`,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestException({ error: 'malformed_json', message: 'the body is not valid JSON' });
  }
  // the walk only runs when such a key can be there, spelled out or escaped
  if ((text.includes('__proto__') || text.includes('prototype') || text.includes('\\u')) && hasForbiddenKey(value)) {
    throw new BadRequestException({ error: 'forbidden_key', message: FORBIDDEN_KEY_MESSAGE });
  }
  return value;
}

/** A `__proto__` key, or a `constructor` object with a `prototype` key, anywhere in a parsed JSON value. */
export function hasForbiddenKey(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    for (const key of Object.keys(v)) {
      const child = (v as Record<string, unknown>)[key];
      if (key === '__proto__') return true;
      if (key === 'constructor' && child !== null && typeof child === 'object' && Object.hasOwn(child, 'prototype')) return true;
      stack.push(child);
    }
  }
  return false;
}

/** The offset of the first byte that does not start a valid UTF-8 sequence (-1: all valid). */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (n === 0 || i + n > b.length - 1) return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const x = b[i + k];
      if ((x & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (x & 0x3f);
    }
    const min = n === 1 ? 0x80 : n === 2 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}
