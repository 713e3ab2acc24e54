/**
 * `npm run bench`: the binding against llama.cpp's own llama-bench, built from the same
 * vendored tree with the same flags, on a generated Mixtral-shaped Q4_K_M model; and against a
 * second llama-bench built the way llama.cpp's README tells users to (GGML_NATIVE, default
 * options; bench/tools.ts), the speed a user who builds llama.cpp for this machine gets.
 *
 * All sides run in one invocation, alternating round by round (the order reversed every other
 * round), so drift on a shared machine (thermal, page cache, neighbours) hits them alike; each
 * metric is the median over all repetitions of all rounds. Prints a table per anchor with the
 * ratios binding/native and PASS/MISS per target. A benchmark, not a test: it exits 0
 * whatever the numbers are (non-zero only when it cannot run).
 *
 * Then the concurrency table: aggregate generation tokens/s of 1, 2, 4 and 8 concurrent
 * streams in one context against llama-batched-bench (same context, batch sizes and threads),
 * alternating rounds as above; and the time to first token of a chat session's turn 10
 * against its turn 1.
 *
 * `--only server` instead: our OpenAI-compatible server against llama-server (server-bench.ts).
 * `--only rpc`: the model local against split over 1 and 2 loopback RPC servers (rpc-bench.ts).
 *
 *   npm run bench -- [--threads N] [--poll N] [--rounds N] [--reps N] [--quick] [--sweep] [--only pp-tg|concurrency|server|rpc]
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { defaultThreads, getBuildInfo } from '../lib/index.js';
import { DEFAULT_POLL } from '../lib/options/context.js';
import { runBatchedBench, type BatchedResult } from './batched-bench.js';
import { runBindingRound, type BindingRound } from './binding-bench.js';
import { runBindingConcurrency, runChatTtft, turnRatio, type ConcurrencyLevel } from './concurrency-bench.js';
import { ensureBenchModel, FULL_SPEC, QUANT_TYPE, QUICK_SPEC } from './model.js';
import { findTest, runLlamaBench, type NativeResult } from './native-bench.js';
import { runRpcBench } from './rpc-bench.js';
import { runServerBench } from './server-bench.js';
import { fmt, max, median, mib, pct, spread, table } from './stats.js';
import { ensureReadmeLlamaBench, ensureTools } from './tools.js';
import { inAlternatingOrder } from './alternate.js';

/** llama-bench's defaults (-p 512 -n 128 -b 2048 -ub 512), so the tests are the familiar ones. */
const N_PROMPT = 512;
const N_GEN = 128;
const BATCH = 2048;
const UBATCH = 512;
/** Prompt length for time to first token: a short chat turn. */
const TTFT_PROMPT = 16;

/** Concurrency test (llama-batched-bench -npp/-ntg/-npl/-c). */
const CONC_PROMPT = 128;
const CONC_GEN = 128;
const CONC_LEVELS = [1, 2, 4, 8] as const;
const CONC_CONTEXT = 8 * (CONC_PROMPT + CONC_GEN);
/** Chat sessions: short turns. */
const CHAT_TURNS = 10;
const CHAT_REPLY = 16;

/** Targets from the issues: against the same-build llama-bench (prompt raised from 98 % by issue 15)… */
const TARGET_TG = 0.99;
const TARGET_PP = 0.99;
/** …and against the README-built one (issue 15), for prompt and generation alike. */
const TARGET_README = 0.98;
const TARGET_LOOP_P99_MS = 2;
const TARGET_CONCURRENCY = 0.95;
const TARGET_TURN_RATIO = 1.5;

const USAGE = `Usage: npm run bench -- [options]
  --threads N   compute threads for both sides (default 2)
  --poll N      ggml thread-pool polling 0..100 for both sides (default ${DEFAULT_POLL}, the binding's default;
                llama-bench's own default is 50)
  --rounds N    alternating rounds (default 3)
  --reps N      repetitions per test per round (default 3)
  --quick       2-layer model instead of 8 (smoke run)
  --sweep       afterwards, threads {1,2} x poll {0,50}, one round each, to choose defaults from numbers
  --only WHAT   run only 'pp-tg' (the llama-bench comparison), 'concurrency' (streams and chat turns)
                or 'server' (our HTTP server against llama-server at 1, 4, 16 and 64 streaming clients;
                only with this option, it builds llama-server) or 'rpc' (local against 1 and 2 loopback
                RPC servers, binding and llama-bench -rpc, and load times with the servers' tensor cache)
  --help`;

interface Options {
  threads: number;
  poll: number;
  rounds: number;
  reps: number;
  quick: boolean;
  sweep: boolean;
  only: 'pp-tg' | 'concurrency' | 'server' | 'rpc' | undefined;
}

function parseOptions(): Options | undefined {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string' },
      poll: { type: 'string' },
      rounds: { type: 'string' },
      reps: { type: 'string' },
      quick: { type: 'boolean', default: false },
      sweep: { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const int = (name: string, raw: string | undefined, fallback: number, lo: number, hi: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new RangeError(`--${name} must be an integer in [${lo}, ${hi}], got ${raw}`);
    return n;
  };
  return {
    threads: int('threads', values.threads, 2, 1, 256),
    poll: int('poll', values.poll, DEFAULT_POLL, 0, 100),
    rounds: int('rounds', values.rounds, 3, 1, 100),
    reps: int('reps', values.reps, 3, 1, 100),
    quick: values.quick ?? false,
    sweep: values.sweep ?? false,
    only: onlyOption(values.only),
  };
}

function onlyOption(value: string | undefined): Options['only'] {
  if (value === undefined || value === 'pp-tg' || value === 'concurrency' || value === 'server' || value === 'rpc') return value;
  throw new RangeError(`--only must be pp-tg, concurrency, server or rpc, got ${value}`);
}

const log = (line: string): void => console.log(line);

/** One llama-bench's samples over all rounds. */
interface NativeSamples {
  pp: number[];
  tg: number[];
  ppShort: number[];
  /** Samples per round, in the same order as `Collected.binding`. */
  rounds: Array<{ pp: number[]; tg: number[] }>;
  results: NativeResult[];
}

/** Samples of one configuration, every side, over all rounds. */
interface Collected {
  /** llama-bench from the addon's build (same libraries and CPU module). */
  native: NativeSamples;
  /** llama-bench built the README's way, when that anchor runs. */
  readme?: NativeSamples;
  binding: BindingRound[];
}

function emptyNative(): NativeSamples {
  return { pp: [], tg: [], ppShort: [], rounds: [], results: [] };
}

/** Runs one llama-bench for a round and adds its samples. */
async function runNativeRound(
  llamaBench: string,
  cfg: { model: string; threads: number; poll: number; reps: number },
  into: NativeSamples,
): Promise<void> {
  const results = await runLlamaBench({
    llamaBench,
    model: cfg.model,
    threads: [cfg.threads],
    poll: [cfg.poll],
    prompts: [N_PROMPT, TTFT_PROMPT],
    generate: N_GEN,
    repetitions: cfg.reps,
    batchSize: BATCH,
    ubatchSize: UBATCH,
  });
  const at = { threads: cfg.threads, poll: cfg.poll };
  const pp = findTest(results, { ...at, nPrompt: N_PROMPT, nGen: 0 });
  const ppShort = findTest(results, { ...at, nPrompt: TTFT_PROMPT, nGen: 0 });
  const tg = findTest(results, { ...at, nPrompt: 0, nGen: N_GEN });
  if (!pp || !ppShort || !tg) throw new Error(`${llamaBench} did not report every test`);
  into.pp.push(...pp.samplesTs);
  into.ppShort.push(...ppShort.samplesTs);
  into.tg.push(...tg.samplesTs);
  into.rounds.push({ pp: pp.samplesTs, tg: tg.samplesTs });
  into.results.push(...results);
}

/**
 * One round: the same-build llama-bench, the README-built one (when given) and the binding, in
 * that order for 'native-first' and reversed for 'binding-first': over two rounds every pair of
 * sides runs in both orders, and the binding is next to the README build in both.
 */
async function round(
  order: 'native-first' | 'binding-first',
  cfg: { llamaBench: string; readmeBench?: string; model: string; threads: number; poll: number; reps: number },
  into: Collected,
): Promise<void> {
  const native = (): Promise<void> => runNativeRound(cfg.llamaBench, cfg, into.native);
  const readme = async (): Promise<void> => {
    if (cfg.readmeBench !== undefined) await runNativeRound(cfg.readmeBench, cfg, (into.readme ??= emptyNative()));
  };
  const binding = async (): Promise<void> => {
    into.binding.push(
      await runBindingRound({
        modelPath: cfg.model,
        threads: cfg.threads,
        poll: cfg.poll,
        nPrompt: N_PROMPT,
        nGen: N_GEN,
        ttftPrompt: TTFT_PROMPT,
        repetitions: cfg.reps,
        batchSize: BATCH,
        ubatchSize: UBATCH,
      }),
    );
  };
  const sides = [native, readme, binding];
  if (order === 'binding-first') sides.reverse();
  for (const side of sides) await side();
}

function emptyCollected(): Collected {
  return { native: emptyNative(), binding: [] };
}

const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');

/**
 * Median over rounds of the per-round ratio median(binding) / median(native). Each round's two
 * sides ran back to back, so this "paired" ratio cancels drift between rounds that the ratio
 * of overall medians does not.
 */
function pairedRatio(c: Collected, side: 'pp' | 'tg', anchor: NativeSamples = c.native): number {
  return median(
    c.binding.map((r, i) => median(side === 'pp' ? r.ppTs : r.tgTs) / median(anchor.rounds[i]![side])),
  );
}

/** Prints the main comparison table and the per-round samples. */
function report(c: Collected): void {
  const b = c.binding;
  const bindingPp = b.flatMap((r) => r.ppTs);
  const bindingTg = b.flatMap((r) => r.tgTs);
  const ttft = b.flatMap((r) => r.ttftMs);
  const ttftLib = b.flatMap((r) => r.ttftLibraryMs);
  const loopP99 = median(b.map((r) => r.loop.p99Ms));
  const loopMax = max(b.map((r) => r.loop.maxMs));
  const idleP99 = median(b.map((r) => r.loopIdle.p99Ms));
  const idleMax = max(b.map((r) => r.loopIdle.maxMs));
  const nPp = median(c.native.pp);
  const nTg = median(c.native.tg);
  const bPp = median(bindingPp);
  const bTg = median(bindingTg);
  // The native "time to first token" is llama-bench's decode time of the same short prompt:
  // the floor the binding's wall-clock latency (queue, sampling, thread hop to JS) sits on.
  const nTtft = (TTFT_PROMPT / median(c.native.ppShort)) * 1000;
  const bTtft = median(ttft);
  const withSpread = (v: number, samples: number[]): string => `${fmt(v)} ±${(spread(samples) * 50).toFixed(1)}%`;

  log('');
  log(
    table(
      ['metric', 'llama-bench', 'binding', 'binding/native', 'paired', 'target'],
      [
        [`prompt tokens/s (pp${N_PROMPT})`, withSpread(nPp, c.native.pp), withSpread(bPp, bindingPp), pct(bPp / nPp),
          pct(pairedRatio(c, 'pp')), `>= ${pct(TARGET_PP)} ${verdict(bPp / nPp >= TARGET_PP)}`],
        [`generation tokens/s (tg${N_GEN})`, withSpread(nTg, c.native.tg), withSpread(bTg, bindingTg), pct(bTg / nTg),
          pct(pairedRatio(c, 'tg')), `>= ${pct(TARGET_TG)} ${verdict(bTg / nTg >= TARGET_TG)}`],
        [`time to first token, ${TTFT_PROMPT}-token prompt (ms)`, `${fmt(nTtft, 2)} (pp${TTFT_PROMPT} decode)`, fmt(bTtft, 2),
          pct(bTtft / nTtft), '-', 'lower is better'],
        ['event-loop delay p99 during generation (ms)', '-', fmt(loopP99, 2), '-', '-',
          `< ${TARGET_LOOP_P99_MS} ms ${verdict(loopP99 < TARGET_LOOP_P99_MS)}`],
        ['event-loop delay max during generation (ms)', '-', fmt(loopMax, 2), '-', '-', '-'],
        ['event-loop delay p99 / max while idle (ms)', '-', `${fmt(idleP99, 2)} / ${fmt(idleMax, 2)}`, '-', '-', 'reference'],
      ],
    ),
  );
  log('');
  log(`  llama-bench here is the one built with the addon (same libraries, same CPU backend module).`);
  log(`  medians over ${c.native.tg.length} native / ${bindingTg.length} binding samples; ± = half the (max - min) / median spread;`);
  log(`  paired = median over rounds of each round's binding/native ratio (the two sides of a round ran back to back).`);
  log(`  PASS/MISS uses binding/native; a target finer than the ± spread cannot be decided by one run.`);
  log(`  binding tg counts single-token decodes per second of native generation time, which also includes greedy sampling,`);
  log(`  detokenizing and handing each token to a JS \`for await\` loop (llama-bench's tg only decodes).`);
  log(`  event-loop delay: monitorEventLoopDelay({ resolution: 1 }); each sample includes the 1 ms timer period.`);
  log(`  library timeToFirstTokenMs (native start -> first token): median ${fmt(median(ttftLib), 2)} ms;`);
  log(`  generation run with the event-loop monitor on: ${fmt(median(b.map((r) => r.tgMonitoredTs)))} tokens/s;`);
  log(`  model load (binding, mmap): median ${fmt(median(b.map((r) => r.loadMs)), 0)} ms.`);
  const notes = [...new Set(b.flatMap((r) => r.notes))];
  for (const note of notes) log(`  note: ${note}`);
  if (c.readme !== undefined) reportReadme(c, c.readme, bindingPp, bindingTg);
  log('');
  log(`Per round (tokens/s; native = llama-bench of the same build${c.readme ? ', readme = llama-bench built the README\'s way' : ''}):`);
  b.forEach((r, i) => {
    const n = c.native.rounds[i]!;
    const m = c.readme?.rounds[i];
    const list = (values: number[]): string => values.map((v) => fmt(v)).join(' ');
    const order = c.readme ? (i % 2 === 0 ? 'native, readme, binding' : 'binding, readme, native') : i % 2 === 0 ? 'native first' : 'binding first';
    log(
      `  round ${i + 1} (${order}): pp native ${list(n.pp)}${m ? ` | readme ${list(m.pp)}` : ''} | binding ${list(r.ppTs)}` +
        `; tg native ${list(n.tg)}${m ? ` | readme ${list(m.tg)}` : ''} | binding ${list(r.tgTs)}; loop p99/max ${fmt(r.loop.p99Ms, 2)}/${fmt(r.loop.maxMs, 2)} ms`,
    );
  });
}

/**
 * The second anchor's table: the binding against llama-bench built the README's way, and what
 * the build alone is worth (same-build llama-bench / README-built llama-bench).
 */
function reportReadme(c: Collected, readme: NativeSamples, bindingPp: number[], bindingTg: number[]): void {
  const withSpread = (v: number, samples: number[]): string => `${fmt(v)} ±${(spread(samples) * 50).toFixed(1)}%`;
  const rPp = median(readme.pp);
  const rTg = median(readme.tg);
  const bPp = median(bindingPp);
  const bTg = median(bindingTg);
  const buildRatio = (side: 'pp' | 'tg'): number => median(c.native.rounds.map((n, i) => median(n[side]) / median(readme.rounds[i]![side])));
  log('');
  log('Second anchor: llama-bench built as llama.cpp\'s README says (cmake -B build && cmake --build build --config Release:');
  log('GGML_NATIVE, default options, no loadable backends), from the same vendored tree, in the same rounds:');
  log(
    table(
      ['metric', 'llama-bench (README)', 'binding', 'binding/README', 'paired', 'target', 'same build/README'],
      [
        [`prompt tokens/s (pp${N_PROMPT})`, withSpread(rPp, readme.pp), withSpread(bPp, bindingPp), pct(bPp / rPp),
          pct(pairedRatio(c, 'pp', readme)), `>= ${pct(TARGET_README)} ${verdict(bPp / rPp >= TARGET_README)}`, pct(buildRatio('pp'))],
        [`generation tokens/s (tg${N_GEN})`, withSpread(rTg, readme.tg), withSpread(bTg, bindingTg), pct(bTg / rTg),
          pct(pairedRatio(c, 'tg', readme)), `>= ${pct(TARGET_README)} ${verdict(bTg / rTg >= TARGET_README)}`, pct(buildRatio('tg'))],
      ],
    ),
  );
  log(`  same build/README = paired ratio of the two llama-benches: what the binding's build (loadable CPU module`);
  log(`  ${getBuildInfo().cpuVariant}, shared libraries) costs or gains against llama.cpp built for this machine, before any binding code.`);
}

/**
 * `--sweep`: threads × poll, one round per configuration. Each configuration runs llama-bench
 * and the binding back to back (alternating which goes first), not all native runs first:
 * on a shared VM the speed drifts over minutes, and only adjacent runs compare fairly.
 */
async function sweep(llamaBench: string, model: string, reps: number): Promise<void> {
  const threadsList = [1, 2];
  const pollList = [0, 50];
  log('');
  log(`Sweep: threads {${threadsList.join(',')}} x poll {${pollList.join(',')}}, 1 round x ${reps} repetitions each…`);
  const rows: string[][] = [];
  let index = 0;
  for (const threads of threadsList) {
    for (const poll of pollList) {
      const c = emptyCollected();
      await round(index++ % 2 === 0 ? 'native-first' : 'binding-first', { llamaBench, model, threads, poll, reps }, c);
      const r = c.binding[0]!;
      const nPp = median(c.native.pp);
      const nTg = median(c.native.tg);
      const bPp = median(r.ppTs);
      const bTg = median(r.tgTs);
      rows.push([
        String(threads), String(poll),
        fmt(nPp), fmt(bPp), pct(bPp / nPp),
        fmt(nTg), fmt(bTg), pct(bTg / nTg),
        fmt(median(r.ttftMs), 2), fmt(r.loop.p99Ms, 2), fmt(r.loop.maxMs, 2),
      ]);
    }
  }
  log('');
  log(
    table(
      ['threads', 'poll', 'native pp', 'binding pp', 'pp ratio', 'native tg', 'binding tg', 'tg ratio', 'TTFT ms', 'loop p99 ms', 'loop max ms'],
      rows,
    ),
  );
}

/**
 * Concurrent streams against llama-batched-bench, alternating rounds, then chat-turn TTFT.
 */
async function concurrency(tool: string, model: string, threads: number, rounds: number): Promise<void> {
  const cfg = {
    modelPath: model,
    threads,
    contextSize: CONC_CONTEXT,
    batchSize: BATCH,
    ubatchSize: UBATCH,
    prompt: CONC_PROMPT,
    generate: CONC_GEN,
    levels: CONC_LEVELS,
  };
  const native: BatchedResult[][] = [];
  const binding: ConcurrencyLevel[][] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const runNative = async (): Promise<void> => {
      native.push(await runBatchedBench({ tool, model, ...cfg, batchSize: BATCH, ubatchSize: UBATCH }));
    };
    const runBinding = async (): Promise<void> => {
      binding.push(await runBindingConcurrency(cfg, r));
    };
    await inAlternatingOrder(r, runNative, runBinding);
    log(`  concurrency round ${r + 1}/${rounds} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const rows = CONC_LEVELS.map((pl, i) => {
    const n = native.map((round) => round[i]!.speedTg);
    const b = binding.map((round) => round[i]!.speedTg);
    const paired = median(b.map((v, r) => v / n[r]!));
    const loopP99 = median(binding.map((round) => round[i]!.loopP99Ms));
    const loopMax = max(binding.map((round) => round[i]!.loopMaxMs));
    return [
      String(pl), fmt(median(n)), fmt(median(b)), pct(median(b) / median(n)), pct(paired),
      `>= ${pct(TARGET_CONCURRENCY)} ${verdict(paired >= TARGET_CONCURRENCY)}`,
      `${fmt(loopP99, 2)} / ${fmt(loopMax, 2)}`, verdict(loopP99 < TARGET_LOOP_P99_MS),
    ];
  });
  log('');
  log(`Concurrent streams: aggregate generation tokens/s, -npp ${CONC_PROMPT} -ntg ${CONC_GEN} -c ${CONC_CONTEXT} -b ${BATCH} -ub ${UBATCH}, ` +
    `${threads} threads, ${rounds} rounds`);
  log(table(['streams', 'llama-batched-bench', 'binding', 'binding/native', 'paired', 'target', 'loop p99 / max ms', 'p99 < 2 ms'], rows));
  log('  binding: one context with sequences 8; all streams generating (window from the last first token to the first last token),');
  log('  each sampling greedily, detokenizing and streaming to a `for await` loop; llama-batched-bench decodes random tokens only.');

  const ttfts: number[][] = [];
  for (let r = 0; r < rounds; r++) ttfts.push(await runChatTtft({ modelPath: model, threads, turns: CHAT_TURNS, replyTokens: CHAT_REPLY }));
  const ratio = turnRatio(ttfts, CHAT_TURNS);
  log('');
  log(`Chat session, ${CHAT_TURNS} short turns (${CHAT_REPLY}-token replies), time to first token per turn (ms, median of ${rounds} sessions):`);
  log(`  ${Array.from({ length: CHAT_TURNS }, (_, t) => `turn ${t + 1}: ${fmt(median(ttfts.map((s) => s[t]!)), 1)}`).join(', ')}`);
  log(`  turn ${CHAT_TURNS} / turn 1: ${fmt(ratio, 2)}x (target <= ${TARGET_TURN_RATIO}x ${verdict(ratio <= TARGET_TURN_RATIO)})`);
}

async function main(): Promise<void> {
  const options = parseOptions();
  if (options === undefined) {
    log(USAGE);
    return;
  }
  const started = performance.now();
  const load = loadavg()[0]!;
  if (load > 0.5) log(`warning: 1-minute load average is ${load.toFixed(2)}: other work is running, numbers will be noisy`);

  const tools = await ensureTools(log, { server: options.only === 'server' });
  const ppTgRuns = options.only === undefined || options.only === 'pp-tg';
  const readmeBench = ppTgRuns ? await ensureReadmeLlamaBench(log) : undefined;
  const spec = options.quick ? QUICK_SPEC : FULL_SPEC;
  const model = await ensureBenchModel(spec, tools.llamaQuantize, availableParallelism(), log);
  if (model.buildSeconds > 0) log(`Model built in ${model.buildSeconds.toFixed(0)} s.`);

  const build = getBuildInfo();
  log('');
  log('llama-napi benchmark: binding vs llama-bench (same vendored llama.cpp, same build flags)');
  log(`model:   ${model.path}`);
  log(
    `         ${mib(model.sizeBytes)} ${QUANT_TYPE}, Mixtral-shaped MoE: ${spec.layerCount} layers, n_embd ${spec.embeddingLength}, ` +
      `${spec.expertCount} experts (${spec.expertUsedCount} used) of n_ff ${spec.feedForwardLength}, ` +
      `${spec.headCount} heads / ${spec.headCountKv} KV heads, 32k vocab`,
  );
  log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} logical CPUs; ${build.systemInfo.trim()}`);
  log(`llama.cpp ${build.llamaTag} (${build.llamaCommit.slice(0, 12)}); binding's CPU backend: ${build.cpuVariant} (${build.backends.find((x) => x.name === 'CPU')?.path ?? '?'})`);
  if (readmeBench !== undefined) log(`anchors: ${tools.llamaBench} (same build), ${readmeBench} (README build)`);
  log(
    `config:  threads ${options.threads} (defaultThreads() here: ${defaultThreads()}), poll ${options.poll}, ` +
      `-b ${BATCH} -ub ${UBATCH} (pp${N_PROMPT} decodes as one 512-token ubatch), flash attention auto, F16 KV, mmap, CPU`,
  );
  if (/OPENMP = 1/.test(build.systemInfo)) {
    log('         (OpenMP build: ggml runs graphs on an OpenMP team, so `poll` has no effect; libgomp spins, then sleeps)');
  }
  log(`runs:    ${options.rounds} rounds x ${options.reps} repetitions, alternating order, medians`);

  if (options.only === 'rpc') {
    await runRpcBench({ llamaBench: tools.llamaBench, model: model.path, threads: options.threads, rounds: options.rounds, reps: options.reps, log });
  } else if (options.only === 'server') {
    await runServerBench({ llamaServer: tools.llamaServer!, model: model.path, threads: options.threads, rounds: options.rounds, log });
  } else {
    if (options.only !== 'concurrency') await ppTg(options, tools.llamaBench, readmeBench, model.path);
    if (options.only !== 'pp-tg') await concurrency(tools.llamaBatchedBench, model.path, options.threads, options.rounds);
  }
  log('');
  log(`Total ${((performance.now() - started) / 1000).toFixed(0)} s.`);
}

/** The llama-bench comparison (prompt, generation, TTFT, event loop). */
async function ppTg(options: Options, llamaBench: string, readmeBench: string | undefined, modelPath: string): Promise<void> {
  const collected = emptyCollected();
  for (let r = 0; r < options.rounds; r++) {
    const order = r % 2 === 0 ? 'native-first' : 'binding-first';
    const t0 = performance.now();
    const cfg = { llamaBench, ...(readmeBench !== undefined ? { readmeBench } : {}), model: modelPath, threads: options.threads, poll: options.poll, reps: options.reps };
    await round(order, cfg, collected);
    log(`  round ${r + 1}/${options.rounds} (${order}) done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  report(collected);
  if (options.sweep) await sweep(llamaBench, modelPath, options.reps);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
