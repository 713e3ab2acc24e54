/**
 * `npm run bench`: the binding against llama.cpp's own tools, built from the same vendored tree
 * with the same flags, on a generated Mixtral-shaped Q4_K_M model. This file is the command:
 * its options, the header it prints, and which comparisons run. A benchmark, not a test: it
 * exits 0 whatever the numbers are (non-zero only when it cannot run).
 *
 * First the llama-bench comparison (pp-tg-bench.ts): prompt, generation, time to first token and
 * event-loop delay against llama-bench of the same build and against one built the way
 * llama.cpp's README tells users to, all sides alternating round by round, a table per anchor
 * with the ratios binding/native and PASS/MISS per target. `--sweep` then runs one round of it
 * per threads × poll configuration, in one table.
 *
 * Then the concurrency table: aggregate generation tokens/s of 1, 2, 4 and 8 concurrent
 * streams in one context against llama-batched-bench (same context, batch sizes and threads),
 * alternating rounds as above; and the time to first token of a chat session's turn 10
 * against its turn 1.
 *
 * `--only server` instead: our OpenAI-compatible server against llama-server (server-bench.ts).
 * `--only rpc`: the model local against split over 1 and 2 loopback RPC servers (rpc-bench.ts).
 *
 *   npm run bench -- [--threads N] [--poll N] [--rounds N] [--reps N] [--quick] [--sweep] [--only pp-tg|concurrency|server|rpc|fast-paths|tokenize]
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { defaultThreads, getBuildInfo } from '../lib/index.js';
import { DEFAULT_POLL } from '../lib/options/context.js';
import { runBatchedBench, type BatchedResult } from './batched-bench.js';
import { runBindingConcurrency, runChatTtft, turnRatio, type ConcurrencyLevel } from './concurrency-bench.js';
import { ensureBenchModel, FULL_SPEC, QUANT_TYPE, QUICK_SPEC } from './model.js';
import { BATCH, emptyCollected, N_PROMPT, round, runPpTgBench, TARGET_LOOP_P99_MS, UBATCH } from './pp-tg-bench.js';
import { runFastPathsBench } from './fast-paths-bench.js';
import { runTokenizeBench } from './tokenize-bench.js';
import { runRpcBench } from './rpc-bench.js';
import { runServerBench } from './server-bench.js';
import { fmt, max, median, mib, pct, table, verdict } from './stats.js';
import { ensureReadmeLlamaBench, ensureTools } from './tools.js';
import { inAlternatingOrder } from './alternate.js';

/** Concurrency test (llama-batched-bench -npp/-ntg/-npl/-c). */
const CONC_PROMPT = 128;
const CONC_GEN = 128;
const CONC_LEVELS = [1, 2, 4, 8] as const;
const CONC_CONTEXT = 8 * (CONC_PROMPT + CONC_GEN);
/** Chat sessions: short turns. */
const CHAT_TURNS = 10;
const CHAT_REPLY = 16;

/** Targets from the issues: streams against llama-batched-bench, and chat turn 10 against turn 1. */
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
  --pin         with --only rpc: the RPC servers on CPU 1 (taskset), so that two servers never spread
                over both cores; needs --threads 1
  --only WHAT   run only 'pp-tg' (the llama-bench comparison), 'concurrency' (streams and chat turns)
                or 'server' (our HTTP server against llama-server at 1, 4, 16 and 64 streaming clients;
                only with this option, it builds llama-server) or 'rpc' (local against 1 and 2 loopback
                RPC servers, binding and llama-bench -rpc, and load times with the servers' tensor cache)
                or 'fast-paths' (the greedy argmax shortcut against llama.cpp's sampler chain)
                or 'tokenize' (tokenize's cost on the JS thread, and tokenizeAsync's)
  --help`;

interface Options {
  threads: number;
  poll: number;
  rounds: number;
  reps: number;
  quick: boolean;
  sweep: boolean;
  pin: boolean;
  only: 'pp-tg' | 'concurrency' | 'server' | 'rpc' | 'fast-paths' | 'tokenize' | undefined;
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
      pin: { type: 'boolean', default: false },
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
  if (values.pin && values.threads !== '1') throw new RangeError('--pin needs --threads 1: the RPC servers share CPU 1');
  return {
    threads: int('threads', values.threads, 2, 1, 256),
    poll: int('poll', values.poll, DEFAULT_POLL, 0, 100),
    rounds: int('rounds', values.rounds, 3, 1, 100),
    reps: int('reps', values.reps, 3, 1, 100),
    quick: values.quick ?? false,
    sweep: values.sweep ?? false,
    pin: values.pin ?? false,
    only: onlyOption(values.only),
  };
}

function onlyOption(value: string | undefined): Options['only'] {
  const known = ['pp-tg', 'concurrency', 'server', 'rpc', 'fast-paths', 'tokenize'] as const;
  if (value === undefined || (known as readonly string[]).includes(value)) return value as Options['only'];
  throw new RangeError(`--only must be one of ${known.join(', ')}, got ${value}`);
}

const log = (line: string): void => console.log(line);

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

  if (options.only === 'tokenize') {
    await runTokenizeBench({ modelPath: model.path, reps: options.reps, log });
  } else if (options.only === 'fast-paths') {
    await runFastPathsBench({ benchModel: model.path, threads: options.threads, rounds: options.rounds, reps: options.reps, log });
  } else if (options.only === 'rpc') {
    await runRpcBench({ llamaBench: tools.llamaBench, model: model.path, threads: options.threads, rounds: options.rounds, reps: options.reps, pin: options.pin, log });
  } else if (options.only === 'server') {
    await runServerBench({ llamaServer: tools.llamaServer!, model: model.path, threads: options.threads, rounds: options.rounds, log });
  } else {
    if (options.only !== 'concurrency') {
      const { threads, poll, rounds, reps } = options;
      await runPpTgBench({ llamaBench: tools.llamaBench, ...(readmeBench !== undefined ? { readmeBench } : {}), model: model.path, threads, poll, rounds, reps, log });
      if (options.sweep) await sweep(tools.llamaBench, model.path, options.reps);
    }
    if (options.only !== 'pp-tg') await concurrency(tools.llamaBatchedBench, model.path, options.threads, options.rounds);
  }
  log('');
  log(`Total ${((performance.now() - started) / 1000).toFixed(0)} s.`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
