/**
 * The load generator of the server benchmark (server-bench.ts): N concurrent clients, each
 * sending K streaming `/v1/chat/completions` requests back to back over `node:http`, timing every
 * server-sent event. It knows nothing of which server it talks to: llama-server and ours get the
 * very same requests, the same HTTP agent settings and the same parsing.
 *
 * Per request it records the time to first token (request start → first event carrying
 * content), the gaps between successive content events (inter-token latency as a client sees
 * it), and the token counts from the final `usage` (sent with `stream_options.include_usage`).
 * Per run: the wall time from the first request to the last response's end, and the aggregate
 * generation speed, completion tokens of all requests / that wall time.
 */
import { Agent, request } from 'node:http';

/** One streamed request, as the client saw it. */
export interface RequestRecord {
  client: number;
  index: number;
  /** HTTP status (0 when the connection failed). */
  status: number;
  /** Error text when the request failed (status ≠ 200, connection error, bad event). */
  error?: string;
  /** Request start → first event with non-empty `delta.content`, ms. */
  ttftMs: number;
  /** Gaps between successive content events, ms. */
  itlMs: number[];
  /** Events with non-empty content. */
  contentEvents: number;
  /** From the `usage` object (undefined when the server sent none). */
  promptTokens: number | undefined;
  completionTokens: number | undefined;
  /** Request start → end of the response, ms. */
  totalMs: number;
  /** When the request started (`performance.now()` of the load generator), to line requests up in time. */
  startedAt: number;
}

/** One run of the load: every client's every request. */
export interface LoadResult {
  clients: number;
  requests: RequestRecord[];
  /** First request start → last response end, ms. */
  wallMs: number;
}

export interface LoadOptions {
  /** Server base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  clients: number;
  requestsPerClient: number;
  /** The JSON body of client `client`'s request number `index`. */
  body: (client: number, index: number) => Record<string, unknown>;
  /** Per-request timeout, ms (default 300 s). */
  timeoutMs?: number;
}

/** Nearest-rank percentile (`p` in [0, 100]) of `values`; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Streams one chat completion and times its events. */
function streamOne(
  agent: Agent,
  url: URL,
  body: Record<string, unknown>,
  client: number,
  index: number,
  timeoutMs: number,
): Promise<RequestRecord> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve) => {
    const started = performance.now();
    const record: RequestRecord = {
      client, index, status: 0, ttftMs: Number.NaN, itlMs: [], contentEvents: 0,
      promptTokens: undefined, completionTokens: undefined, totalMs: Number.NaN, startedAt: started,
    };
    let last = Number.NaN;
    let settled = false;
    const finish = (error?: string): void => {
      if (settled) return;
      settled = true;
      record.totalMs = performance.now() - started;
      if (error !== undefined) record.error = error;
      resolve(record);
    };
    const onEvent = (data: string, at: number): void => {
      if (data === '[DONE]') return;
      let event: {
        choices?: Array<{ delta?: { content?: string | null } }>;
        usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
        error?: unknown;
      };
      try {
        event = JSON.parse(data) as typeof event;
      } catch {
        record.error = `unparsable event: ${data.slice(0, 200)}`;
        return;
      }
      if (event.error !== undefined) record.error = `error event: ${JSON.stringify(event.error).slice(0, 200)}`;
      const content = event.choices?.[0]?.delta?.content;
      if (typeof content === 'string' && content.length > 0) {
        if (record.contentEvents === 0) record.ttftMs = at - started;
        else record.itlMs.push(at - last);
        last = at;
        record.contentEvents++;
      }
      if (event.usage) {
        record.promptTokens = event.usage.prompt_tokens;
        record.completionTokens = event.usage.completion_tokens;
      }
    };
    const req = request(
      new URL('/v1/chat/completions', url),
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': payload.length, accept: 'text/event-stream' },
        timeout: timeoutMs,
      },
      (res) => {
        record.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          const at = performance.now();
          buffer += chunk;
          // Events end with a blank line; each carries one `data:` line here.
          let end: number;
          while ((end = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, end).replace(/\r$/, '');
            buffer = buffer.slice(end + 1);
            if (line.startsWith('data:')) onEvent(line.slice(5).trim(), at);
          }
        });
        res.on('end', () => finish(record.status === 200 ? record.error : `HTTP ${record.status}: ${buffer.slice(0, 300)}`));
        res.on('error', (error) => finish(String(error)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (error) => finish(String(error)));
    req.end(payload);
  });
}

/** Runs `clients` concurrent clients, each sending `requestsPerClient` requests back to back. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const url = new URL(o.url);
  // A new connection per request: with keep-alive, Node reuses a socket llama-server (cpp-httplib)
  // may be closing after a streamed response ("socket hang up"). A localhost connect costs ~0.1 ms.
  const agent = new Agent({ keepAlive: false, maxSockets: o.clients });
  const timeoutMs = o.timeoutMs ?? 300_000;
  try {
    const started = performance.now();
    const perClient = await Promise.all(
      Array.from({ length: o.clients }, async (_, client) => {
        const records: RequestRecord[] = [];
        for (let index = 0; index < o.requestsPerClient; index++) {
          records.push(await streamOne(agent, url, o.body(client, index), client, index, timeoutMs));
        }
        return records;
      }),
    );
    return { clients: o.clients, requests: perClient.flat(), wallMs: performance.now() - started };
  } finally {
    agent.destroy();
  }
}

/** What one run amounts to. */
export interface LoadSummary {
  /** Requests that succeeded with exactly the expected completion tokens. */
  ok: number;
  /** Failed requests (with the first error), and those with another token count. */
  failed: number;
  firstError: string | undefined;
  wrongCount: number;
  /** Completion tokens of all requests (content events of failed ones) / wall time. */
  tokensPerSecond: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  itlP50Ms: number;
  itlP99Ms: number;
  promptTokens: number[];
}

/**
 * Summarises a run; `expectedTokens` is max_tokens: requests that stopped early (or reported
 * another count) are counted in `wrongCount` and left out of the latency percentiles.
 */
export function summarize(result: LoadResult, expectedTokens: number): LoadSummary {
  const failed = result.requests.filter((r) => r.error !== undefined);
  const done = result.requests.filter((r) => r.error === undefined);
  const count = (r: RequestRecord): number => r.completionTokens ?? r.contentEvents;
  const good = done.filter((r) => count(r) === expectedTokens);
  // Tokens delivered, failed requests included (those count what they streamed before failing).
  const tokens = done.reduce((sum, r) => sum + count(r), 0) + failed.reduce((sum, r) => sum + r.contentEvents, 0);
  return {
    ok: good.length,
    failed: failed.length,
    firstError: failed[0]?.error,
    wrongCount: done.length - good.length,
    tokensPerSecond: tokens / (result.wallMs / 1000),
    ttftP50Ms: percentile(good.map((r) => r.ttftMs), 50),
    ttftP99Ms: percentile(good.map((r) => r.ttftMs), 99),
    itlP50Ms: percentile(good.flatMap((r) => r.itlMs), 50),
    itlP99Ms: percentile(good.flatMap((r) => r.itlMs), 99),
    promptTokens: [...new Set(done.map((r) => r.promptTokens ?? -1))].sort((a, b) => a - b),
  };
}
