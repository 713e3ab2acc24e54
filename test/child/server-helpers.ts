// Helpers of the server tests (test/server*.test.ts): start a server on 127.0.0.1:0, raw HTTP
// requests with node:http (so framing, headers and status codes are seen exactly as sent), SSE
// parsing and metric reading.
import { request, type IncomingHttpHeaders } from 'node:http';
import { createServer, type LlamaServer, type ServerOptions } from '../../lib/server/index.js';

export interface Started {
  server: LlamaServer;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
}

export async function start(options: ServerOptions): Promise<Started> {
  const server = createServer(options);
  const { url, port } = await server.listen(0, '127.0.0.1');
  return { server, url, port };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string or Buffer as is. */
  body?: unknown;
}

/** One request on its own connection (agent: false), the whole answer read. */
export function raw(port: number, { method = 'GET', path, headers = {}, body }: RawRequest): Promise<RawResponse> {
  const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, agent: false, headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The JSON body of a raw response. */
export function json(response: RawResponse): any {
  return JSON.parse(response.text);
}

/** The `data:` payloads of an SSE body, in order; asserts the framing (`data: …\n\n` only). */
export function sseEvents(text: string): string[] {
  const blocks = text.split('\n\n');
  if (blocks.at(-1) !== '') throw new Error(`SSE body does not end with a blank line: ${JSON.stringify(text.slice(-40))}`);
  return blocks.slice(0, -1).map((block) => {
    if (!block.startsWith('data: ') || block.includes('\n')) throw new Error(`not one data line: ${JSON.stringify(block)}`);
    return block.slice('data: '.length);
  });
}

/** A metric's value from /metrics (first sample whose name and labels start with `name`). */
export async function metric(port: number, name: string): Promise<number> {
  const { text } = await raw(port, { path: '/metrics' });
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  if (line === undefined) throw new Error(`no metric ${name}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Polls until `check` is true (or fails after `ms`). */
export async function until(check: () => Promise<boolean> | boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Greedy, length-limited, no cache surprises: the same request always gives the same text. */
export const GREEDY = { temperature: 0 } as const;
