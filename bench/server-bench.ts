/**
 * `npm run bench -- --only server`: our OpenAI-compatible server against llama.cpp's own
 * llama-server, built from the same vendored tree in the same CMake build directory (tools.ts),
 * on the same model, with the same context, slots, threads, batch sizes and flash attention.
 *
 * Both servers run as child processes on 127.0.0.1 (ours: bench/our-server.ts, which calls
 * `runServer`, what `llama-napi serve` runs) and are driven by the same load generator
 * (load-generator.ts): N concurrent clients, each streaming fixed-length chat completions back
 * to back. Levels of 1, 4, 16 and 64 clients; each level runs on both servers back to back,
 * and the order alternates round by round, so drift on a shared machine hits both alike.
 *
 * Every request is the same for both servers: greedy (`temperature: 0`), `max_tokens` fixed,
 * `cache_prompt: false` and a different prompt per request (no prompt reuse on either side;
 * llama-server also runs with `--cache-ram 0`), and the end-of-sequence token banned with
 * `logit_bias` (-100, which both servers add to its logit; ours has no `ignore_eos`), so that
 * every request generates exactly `max_tokens` tokens (the high byte tokens too, see
 * bannedTokens); the token counts are checked from the `usage` of each stream, and requests
 * with another count are left out of the latencies and reported.
 *
 * Reported per level (medians over rounds): aggregate generation tokens/s (completion tokens
 * of all requests / wall time of the level), time to first token p50 / p99, inter-token
 * latency p99 (gaps between content events as the client sees them), and our server's
 * event-loop delay (monitorEventLoopDelay in its process) during the level.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { readGguf } from '../lib/index.js';
import { runLoad, summarize, type LoadSummary } from './load-generator.js';
import { fmt, max, median, pct, table, verdict } from './stats.js';

/** Levels of concurrent clients (the issue's). */
export const SERVER_LEVELS = [1, 4, 16, 64] as const;
/** Server slots (`--parallel`) and the context they share (1024 tokens per slot). */
const PARALLEL = 4;
const CONTEXT = 4096;
const BATCH = 2048;
const UBATCH = 512;
/** Output tokens per request, and the prompt's length in words (~64 tokens with the template). */
const MAX_TOKENS = 32;
const PROMPT_WORDS = 48;
/** Every level sends at least this many requests (1 client: 8 back to back). */
const MIN_REQUESTS = 8;

/** Targets from the issue. */
const TARGET_THROUGHPUT = 0.95;
const TARGET_TTFT_P99 = 1.2;
const TARGET_LOOP_P99_MS = 2;

export interface ServerBenchOptions {
  llamaServer: string;
  model: string;
  threads: number;
  rounds: number;
  log: (line: string) => void;
}

/** Our server's event-loop delay over one level, ms. */
interface LoopFigures {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** One level on one server in one round. */
interface Sample {
  summary: LoadSummary;
  loop?: LoopFigures;
}

/** A server under test: its URL, how to stop it, and (ours only) its event-loop monitor. */
interface Running {
  name: string;
  url: string;
  child: ChildProcess;
  /** Last lines of its output, for errors. */
  tail: () => string;
  loopReset?: () => Promise<void>;
  loopReport?: () => Promise<LoopFigures>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on 127.0.0.1 (free when asked: the server binds it right after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Keeps the last `limit` characters a stream wrote (and drains it, so the child never blocks). */
function keepTail(stream: NodeJS.ReadableStream | null, limit = 8000): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text = (text + chunk).slice(-limit);
  });
  return () => text;
}

/** Waits until GET /health answers 200 (llama-server answers 503 while it loads). */
async function waitHealthy(url: string, child: ChildProcess, tail: () => string, timeoutMs = 180_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`llama-server exited (${child.signalCode ?? `exit ${child.exitCode}`}) before it was ready:\n${tail()}`);
    }
    try {
      const response = await fetch(`${url}/health`);
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`llama-server was not ready after ${timeoutMs / 1000} s:\n${tail()}`);
}

/** The llama-server command line: every setting that matters spelled out. */
export function llamaServerArgs(model: string, port: number, threads: number): string[] {
  return [
    '-m', model, '--host', '127.0.0.1', '--port', String(port),
    '--parallel', String(PARALLEL), '-c', String(CONTEXT), '-t', String(threads), '-tb', String(threads),
    '-b', String(BATCH), '-ub', String(UBATCH), '-fa', 'auto',
    // A KV cache split per slot (llama-server's default with an explicit --parallel; ours too),
    // no host-memory prompt cache, no web UI. --no-jinja: llama.cpp's built-in chat templates
    // (llama_chat_apply_template), which ours uses too, and plain content out; with Jinja,
    // llama-server parses the output for tool calls and fails random-weight output with a 500
    // ("does not match the expected peg-native format") in the middle of the stream.
    '--no-kv-unified', '--cache-ram', '0', '--no-webui', '--no-jinja',
  ];
}

async function startLlamaServer(path: string, model: string, threads: number): Promise<Running> {
  const port = await freePort();
  const child = spawn(path, llamaServerArgs(model, port, threads), { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = keepTail(child.stdout);
  const err = keepTail(child.stderr);
  const tail = (): string => `${out()}\n${err()}`.trim().slice(-4000);
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, child, tail);
  return { name: 'llama-server', url, child, tail };
}

async function startOurServer(model: string, threads: number): Promise<Running> {
  const entry = fileURLToPath(new URL('./our-server.ts', import.meta.url));
  const config = { model, parallel: PARALLEL, contextSize: CONTEXT, threads, batchSize: BATCH, ubatchSize: UBATCH };
  const child = fork(entry, [JSON.stringify(config)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const out = keepTail(child.stdout);
  const err = keepTail(child.stderr);
  const tail = (): string => `${out()}\n${err()}`.trim().slice(-4000);
  const waitFor = <T>(type: string, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`our server sent no '${type}' in ${timeoutMs / 1000} s:\n${tail()}`)), timeoutMs);
      const onMessage = (message: { type?: string }): void => {
        if (message.type === type) done(undefined, message as T);
      };
      const onExit = (code: number | null, signal: string | null): void =>
        done(new Error(`our server exited (${signal ?? `exit ${code}`}):\n${tail()}`));
      const done = (error?: Error, value?: T): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (error) reject(error);
        else resolve(value as T);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
  const { url } = await waitFor<{ url: string }>('listening', 180_000);
  return {
    name: 'ours',
    url,
    child,
    tail,
    loopReset: async () => {
      const reply = waitFor<unknown>('loop-reset', 10_000);
      child.send({ type: 'loop-reset' });
      await reply;
    },
    loopReport: async () => {
      const reply = waitFor<LoopFigures>('loop', 10_000);
      child.send({ type: 'loop-report' });
      return reply;
    },
  };
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
async function stop(server: Running | undefined, graceMs = 15_000): Promise<void> {
  if (server === undefined) return;
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Plain words, so prompts tokenize alike everywhere (about one token per word with a 32k vocabulary). */
const WORDS = (
  'the of and to in is was for on that with as by at from his her are were this be which an or had not ' +
  'but have they one all their has been can more when there will who would time out about into some than ' +
  'other first new these only two its made over after most many also may then world city year under house ' +
  'water river north south light music story people school great small place part while where between'
).split(' ');

/** Request `index` of client `client` in a run: a distinct prompt (no reuse), the same on both servers. */
function prompt(run: number, client: number, index: number): string {
  let state = (run * 7919 + client * 104729 + index * 15485863 + 1) >>> 0;
  const words: string[] = [];
  for (let i = 0; i < PROMPT_WORDS; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    words.push(WORDS[(state >>> 8) % WORDS.length]!);
  }
  return `Request ${run}-${client}-${index}: ${words.join(' ')}.`;
}

/**
 * The tokens both servers are told never to pick (`logit_bias` -100): end-of-sequence, so that
 * every request generates exactly MAX_TOKENS; and the byte tokens <0x80>..<0xFF>, whose runs
 * from a random-weight model are invalid UTF-8, which llama-server's chat output parser rejects
 * with a 500 in the middle of the stream ("does not match the expected Content-only format").
 */
async function bannedTokens(model: string): Promise<{ eos: number; bytes: number[] }> {
  const file = await readGguf(model);
  const value = file.metadata['tokenizer.ggml.eos_token_id'];
  if (value === undefined || value.type === 'array' || typeof value.value !== 'number') {
    throw new Error(`${model} has no tokenizer.ggml.eos_token_id`);
  }
  const tokens = file.metadata['tokenizer.ggml.tokens'];
  const bytes: number[] = [];
  if (tokens?.type === 'array' && tokens.itemType === 'string') {
    tokens.value.forEach((text, id) => {
      if (/^<0x[89A-F][0-9A-F]>$/.test(text)) bytes.push(id);
    });
  }
  return { eos: value.value, bytes };
}

/** One level on one server. */
async function runLevel(server: Running, clients: number, run: number, logitBias: Record<string, number>): Promise<Sample> {
  await server.loopReset?.();
  const result = await runLoad({
    url: server.url,
    clients,
    requestsPerClient: Math.max(1, Math.ceil(MIN_REQUESTS / clients)),
    body: (client, index) => ({
      model: 'bench',
      messages: [{ role: 'user', content: prompt(run, client, index) }],
      max_tokens: MAX_TOKENS,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
      cache_prompt: false,
      logit_bias: logitBias,
    }),
  });
  const loop = await server.loopReport?.();
  return { summary: summarize(result, MAX_TOKENS), ...(loop === undefined ? {} : { loop }) };
}

/** Runs the comparison and prints its table. */
export async function runServerBench(o: ServerBenchOptions): Promise<void> {
  const { log } = o;
  const { eos, bytes } = await bannedTokens(o.model);
  const logitBias = Object.fromEntries([eos, ...bytes].map((id) => [String(id), -100]));
  log('');
  log(`Server: llama-server (built from the same tree) vs ours (runServer), ${o.rounds} rounds, alternating order`);
  log(`  both: --parallel ${PARALLEL} -c ${CONTEXT} -t ${o.threads} -tb ${o.threads} -b ${BATCH} -ub ${UBATCH} -fa auto, split KV cache, 127.0.0.1`);
  log(`  llama-server ${llamaServerArgs('MODEL', 0, o.threads).join(' ')}`);
  log(`  requests: POST /v1/chat/completions, stream, temperature 0, max_tokens ${MAX_TOKENS}, cache_prompt false, ` +
    `logit_bias -100 on EOS (${eos}) and the ${bytes.length} byte tokens <0x80>..<0xFF>, a distinct ~${PROMPT_WORDS}-word prompt each; ` +
    `each client sends max(1, ${MIN_REQUESTS} / clients) requests back to back`);

  let llama: Running | undefined;
  let ours: Running | undefined;
  const samples = new Map<string, Sample[][]>([['llama-server', []], ['ours', []]]);
  try {
    log('  starting llama-server…');
    llama = await startLlamaServer(o.llamaServer, o.model, o.threads);
    log('  starting our server…');
    ours = await startOurServer(o.model, o.threads);
    // Warm-up: one request and one full batch of slots on each, not measured.
    for (const server of [llama, ours]) {
      await runLevel(server, 1, 1000, logitBias);
      await runLevel(server, PARALLEL, 1001, logitBias);
    }
    for (let r = 0; r < o.rounds; r++) {
      const t0 = performance.now();
      const order = r % 2 === 0 ? [llama, ours] : [ours, llama];
      const perServer = new Map<string, Sample[]>([['llama-server', []], ['ours', []]]);
      for (const clients of SERVER_LEVELS) {
        for (const server of order) {
          await sleep(500); // let the other server's OpenMP threads stop spinning
          perServer.get(server.name)!.push(await runLevel(server, clients, r, logitBias));
        }
      }
      for (const [name, list] of perServer) samples.get(name)!.push(list);
      log(`  server round ${r + 1}/${o.rounds} (${order[0]!.name} first) done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await Promise.all([stop(llama), stop(ours)]);
  }
  report(samples.get('llama-server')!, samples.get('ours')!, o.rounds, log);
}

function report(native: Sample[][], ours: Sample[][], rounds: number, log: (line: string) => void): void {
  const rows: string[][] = [];
  const loopRows: string[][] = [];
  const notes: string[] = [];
  SERVER_LEVELS.forEach((clients, i) => {
    const n = native.map((round) => round[i]!.summary);
    const b = ours.map((round) => round[i]!.summary);
    const m = (list: LoadSummary[], key: keyof LoadSummary): number => median(list.map((s) => s[key] as number));
    const tps = m(b, 'tokensPerSecond') / m(n, 'tokensPerSecond');
    const paired = median(b.map((s, r) => s.tokensPerSecond / n[r]!.tokensPerSecond));
    const ttft99 = m(b, 'ttftP99Ms') / m(n, 'ttftP99Ms');
    rows.push([
      String(clients),
      fmt(m(n, 'tokensPerSecond')), fmt(m(b, 'tokensPerSecond')), pct(tps), pct(paired),
      `${fmt(m(n, 'ttftP50Ms'), 0)} / ${fmt(m(b, 'ttftP50Ms'), 0)}`,
      `${fmt(m(n, 'ttftP99Ms'), 0)} / ${fmt(m(b, 'ttftP99Ms'), 0)}`, `${fmt(ttft99, 2)}x`,
      `${fmt(m(n, 'itlP99Ms'), 1)} / ${fmt(m(b, 'itlP99Ms'), 1)}`,
      `${verdict(tps >= TARGET_THROUGHPUT)} / ${verdict(ttft99 <= TARGET_TTFT_P99)}`,
    ]);
    const loops = ours.map((round) => round[i]!.loop).filter((l): l is LoopFigures => l !== undefined);
    loopRows.push([
      String(clients), fmt(median(loops.map((l) => l.p50Ms)), 2), fmt(median(loops.map((l) => l.p99Ms)), 2),
      fmt(max(loops.map((l) => l.maxMs)), 2), fmt(median(loops.map((l) => l.meanMs)), 2),
      verdict(median(loops.map((l) => l.p99Ms)) < TARGET_LOOP_P99_MS),
    ]);
    for (const [name, list] of [['llama-server', n], ['ours', b]] as const) {
      const failed = list.reduce((sum, s) => sum + s.failed, 0);
      const wrong = list.reduce((sum, s) => sum + s.wrongCount, 0);
      if (failed > 0) notes.push(`${name}, ${clients} clients: ${failed} failed requests (${list.find((s) => s.firstError)?.firstError})`);
      if (wrong > 0) notes.push(`${name}, ${clients} clients: ${wrong} requests with a completion count other than ${MAX_TOKENS}`);
    }
  });
  log('');
  log(`Server: aggregate generation tokens/s (completion tokens / wall time of the level), medians of ${rounds} rounds; ` +
    `"native / ours" columns: llama-server / ours`);
  log(table(
    ['clients', 'llama-server tok/s', 'ours tok/s', 'ours/native', 'paired', 'TTFT p50 ms', 'TTFT p99 ms', 'p99 ours/native',
      'ITL p99 ms', `>= ${pct(TARGET_THROUGHPUT)} / <= ${TARGET_TTFT_P99}x`],
    rows,
  ));
  log('');
  log('Our server process, event-loop delay during each level (ms; monitorEventLoopDelay, resolution 1 ms, included in every sample):');
  log(table(['clients', 'p50', 'p99 (median of rounds)', 'max (all rounds)', 'mean', `p99 < ${TARGET_LOOP_P99_MS} ms`], loopRows));
  const prompts = (list: Sample[][]): string => [...new Set(list.flat().flatMap((s) => s.summary.promptTokens))].join(', ');
  log(`  prompt tokens per request (from usage): llama-server ${prompts(native)}; ours ${prompts(ours)}`);
  log('  paired = median over rounds of each round\'s ours/llama-server throughput (the two ran back to back).');
  log('  TTFT: request start to the first event with content; at 16 and 64 clients most of it is the wait for one of the 4 slots.');
  log('  ITL: gaps between successive content events at the client (includes the queueing of other requests\' prompts).');
  for (const note of notes) log(`  note: ${note}`);
  log('');
  log('Per round (tokens/s, llama-server | ours; TTFT p99 ms):');
  for (let r = 0; r < rounds; r++) {
    const cells = SERVER_LEVELS.map((clients, i) => {
      const n = native[r]![i]!.summary;
      const b = ours[r]![i]!.summary;
      return `${clients}: ${fmt(n.tokensPerSecond)} | ${fmt(b.tokensPerSecond)} (${fmt(n.ttftP99Ms, 0)} | ${fmt(b.ttftP99Ms, 0)})`;
    });
    log(`  round ${r + 1} (${r % 2 === 0 ? 'llama-server first' : 'ours first'}): ${cells.join('; ')}`);
  }
}

