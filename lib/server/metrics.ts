/**
 * Server metrics in the Prometheus text exposition format (version 0.0.4): request counts by
 * endpoint and status, token counters, queue and sequence gauges, and latency histograms.
 * Kept in plain maps — no client library — since the format is a few lines of text.
 */

/** Bucket bounds (seconds) for time to first token: from a cached prompt to a long queue wait. */
const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Bucket bounds (seconds) for the time between two generated tokens. */
const TOKEN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number, times = 1): void {
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) this.counts[i]! += times;
    this.sum += value * times;
    this.count += times;
  }

  render(name: string): string[] {
    const lines = this.bounds.map((bound, i) => `${name}_bucket{le="${bound}"} ${this.counts[i]}`);
    lines.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum}`, `${name}_count ${this.count}`);
    return lines;
  }
}

/** What the gauges read at scrape time. */
export interface GaugeSource {
  readonly active: number;
  readonly queued: number;
  readonly slots: number;
}

export class Metrics {
  readonly #requests = new Map<string, number>();
  #promptTokens = 0;
  #cachedTokens = 0;
  #generatedTokens = 0;
  readonly #ttft = new Histogram(TTFT_BUCKETS);
  readonly #perToken = new Histogram(TOKEN_BUCKETS);

  /** Counts one answered request. `endpoint` is the route pattern, never the raw URL (bounded label values). */
  request(endpoint: string, status: number): void {
    const key = `endpoint="${endpoint}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  /** Counts the tokens of one finished (or aborted) generation or embedding. */
  tokens(prompt: number, cached: number, generated: number): void {
    this.#promptTokens += prompt;
    this.#cachedTokens += cached;
    this.#generatedTokens += generated;
  }

  /** Seconds from the request's arrival to its first generated token (queue wait included). */
  firstToken(seconds: number): void {
    this.#ttft.observe(seconds);
  }

  /** `tokens` tokens that arrived `seconds` after the previous ones: each counts `seconds / tokens`. */
  interTokens(seconds: number, tokens: number): void {
    if (tokens > 0) this.#perToken.observe(seconds / tokens, tokens);
  }

  /** The exposition text. */
  render(gauges: GaugeSource): string {
    const p = 'llama_napi';
    const lines: string[] = [
      `# HELP ${p}_requests_total HTTP requests answered, by endpoint and status.`,
      `# TYPE ${p}_requests_total counter`,
      ...[...this.#requests].map(([labels, count]) => `${p}_requests_total{${labels}} ${count}`),
      `# HELP ${p}_prompt_tokens_total Prompt tokens of finished requests (cached ones included).`,
      `# TYPE ${p}_prompt_tokens_total counter`,
      `${p}_prompt_tokens_total ${this.#promptTokens}`,
      `# HELP ${p}_prompt_tokens_cached_total Prompt tokens whose KV cache was reused.`,
      `# TYPE ${p}_prompt_tokens_cached_total counter`,
      `${p}_prompt_tokens_cached_total ${this.#cachedTokens}`,
      `# HELP ${p}_generated_tokens_total Tokens generated.`,
      `# TYPE ${p}_generated_tokens_total counter`,
      `${p}_generated_tokens_total ${this.#generatedTokens}`,
      `# HELP ${p}_queue_depth Requests waiting for a free sequence.`,
      `# TYPE ${p}_queue_depth gauge`,
      `${p}_queue_depth ${gauges.queued}`,
      `# HELP ${p}_active_sequences Requests running on a sequence.`,
      `# TYPE ${p}_active_sequences gauge`,
      `${p}_active_sequences ${gauges.active}`,
      `# HELP ${p}_sequences Sequences of the context (parallel requests).`,
      `# TYPE ${p}_sequences gauge`,
      `${p}_sequences ${gauges.slots}`,
      `# HELP ${p}_time_to_first_token_seconds From a request's arrival to its first generated token.`,
      `# TYPE ${p}_time_to_first_token_seconds histogram`,
      ...this.#ttft.render(`${p}_time_to_first_token_seconds`),
      `# HELP ${p}_time_per_output_token_seconds Time between generated tokens.`,
      `# TYPE ${p}_time_per_output_token_seconds histogram`,
      ...this.#perToken.render(`${p}_time_per_output_token_seconds`),
    ];
    return `${lines.join('\n')}\n`;
  }
}
