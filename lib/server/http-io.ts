/**
 * Reading request bodies (bounded) and writing JSON answers. The limit is enforced while
 * reading, not after: a client cannot make the server buffer more than `maxBodyBytes`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './errors.js';

/**
 * Reads and parses a JSON body of at most `maxBytes`. Over the limit → 413 (from the
 * `Content-Length` header when there is one, before reading anything); not JSON → 400.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const tooLarge = (): HttpError =>
    new HttpError(413, `The request body is larger than the limit of ${maxBytes} bytes`, { code: 'request_too_large' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'The request body is empty; expected a JSON object', { code: 'invalid_json' });
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(400, `The request body is not valid JSON: ${(error as Error).message}`, { code: 'invalid_json' });
  }
}

/** Sends `body` as JSON with `status`, unless the response is already under way. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Sends a plain-text body (the Prometheus exposition format). */
export function sendText(res: ServerResponse, status: number, text: string, contentType: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * For an answer given before the request body was read (413 from Content-Length, 404, 401, …):
 * `Connection: close` makes node:http close the socket once the answer is sent, so the unread
 * bytes are never parsed as the next request and the client is not left uploading into the void.
 */
export function closeAfterResponse(req: IncomingMessage, res: ServerResponse): void {
  if (!req.complete && !res.headersSent) res.setHeader('Connection', 'close');
}
