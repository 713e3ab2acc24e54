/**
 * Who may call the server: the API key check (Bearer token) and CORS headers for browsers.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './errors.js';

/**
 * Returns a check of `Authorization: Bearer <key>` against `apiKey`, or `null` when no key is
 * configured. Both sides are hashed first so that `timingSafeEqual` compares equal lengths and
 * the time taken says nothing about the key, not even its length.
 */
export function bearerCheck(apiKey: string | undefined): ((req: IncomingMessage) => void) | null {
  if (apiKey === undefined) return null;
  const expected = sha256(apiKey);
  return (req) => {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
    if (match === null || !timingSafeEqual(sha256(match[1]!), expected)) {
      throw new HttpError(401, match === null ? 'Missing API key: send "Authorization: Bearer <key>"' : 'Invalid API key', {
        code: 'invalid_api_key',
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** `true`: any origin (`*`); a string or list: those origins only. */
export type CorsOption = boolean | string | readonly string[];

/**
 * Adds CORS headers for `cors` (nothing when it is off or the origin is not allowed). Returns
 * whether this was a preflight (`OPTIONS` with `Access-Control-Request-Method`) that has been
 * answered.
 */
export function applyCors(cors: CorsOption, req: IncomingMessage, res: ServerResponse): boolean {
  if (cors === false) return false;
  const origin = req.headers.origin;
  const allowed = cors === true ? '*' : allowedOrigin(cors, origin);
  if (allowed === null) return false;
  res.setHeader('Access-Control-Allow-Origin', allowed);
  if (allowed !== '*') res.setHeader('Vary', 'Origin');
  if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return false;
  res.writeHead(204, {
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'Authorization, Content-Type',
    'Access-Control-Max-Age': '86400',
    'Content-Length': '0',
  });
  res.end();
  return true;
}

function allowedOrigin(cors: string | readonly string[], origin: string | undefined): string | null {
  if (origin === undefined) return null;
  const list = typeof cors === 'string' ? [cors] : cors;
  return list.includes(origin) ? origin : null;
}
