/**
 * `npm run fuzz -- [--cases N] [--seed S] [--from I] [--jobs J] [--timeout MS] [--out DIR]`
 * runs the structure-aware GGUF fuzzer (test/fuzz/) for long runs: every case is a fixture
 * model with seeded mutations, loaded, tokenized, chat-formatted and asked for a few tokens in
 * a child process. Crashes, hangs and errors without a code are written to DIR as
 * `seed<S>-case<I>.gguf` (+ `.json`); `npm run fuzz -- --replay FILE` runs one file again.
 * `--no-precheck` runs without lib/model-consistency.ts, to see what llama.cpp alone does.
 * Exits 1 when any case failed.
 */
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { replayFile, runFuzz, type CaseResult } from '../test/fuzz/runner.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const USAGE = 'usage: npm run fuzz -- [--cases N] [--seed S] [--from I] [--jobs J] [--timeout MS] [--out DIR] [--no-precheck] | --replay FILE';

const FLAGS = ['no-precheck'];

function parseArgs(argv: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument '${arg}'\n${USAGE}`);
    map.set(m[1]!, FLAGS.includes(m[1]!) ? 'true' : (m[2] ?? argv[++i] ?? ''));
  }
  return map;
}

function intArg(args: Map<string, string>, name: string, fallback: number, min: number): number {
  const raw = args.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got '${raw}'\n${USAGE}`);
  return n;
}

function describe(r: CaseResult): string {
  return `case ${r.index} (${r.base}): ${r.kind} — ${r.crashClass ?? r.outcome}\n    ${r.mutations.join('\n    ')}${r.file ? `\n    file: ${r.file}` : ''}`;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  for (const key of args.keys()) {
    if (!['cases', 'seed', 'from', 'jobs', 'timeout', 'out', 'replay', ...FLAGS].includes(key)) throw new Error(`unknown option --${key}\n${USAGE}`);
  }
  const replay = args.get('replay');
  if (replay !== undefined) {
    const r = await replayFile(resolve(replay), intArg(args, 'timeout', 30_000, 1), args.has('no-precheck'));
    console.log(`${replay}: ${r.kind} — ${r.crashClass ?? r.outcome} (${r.ms} ms)`);
    for (const s of r.stages ?? []) console.log(`  ${s.stage}: ${s.code}${s.cause ? ` (${s.cause})` : ''}${s.message ? ` ${s.message.split('\n')[0]}` : ''}`);
    if (r.stderr) console.log(r.stderr.trim().split('\n').slice(-10).join('\n'));
    return r.kind === 'ok' || r.kind === 'error' ? 0 : 1;
  }
  const seed = intArg(args, 'seed', 1, 0);
  const cases = intArg(args, 'cases', 1000, 1);
  const from = intArg(args, 'from', 0, 0);
  const jobs = intArg(args, 'jobs', 1, 1);
  const outDir = resolve(args.get('out') ?? join(REPO_ROOT, '.cache', 'fuzz', `seed${seed}`));
  console.log(`fuzz: seed ${seed}, cases ${from}..${from + cases - 1}, ${jobs} job(s); failing files go to ${outDir}`);
  let done = 0;
  const started = performance.now();
  const summary = await runFuzz({
    seed, cases, from, jobs, outDir,
    noPrecheck: args.has('no-precheck'),
    caseTimeoutMs: intArg(args, 'timeout', 30_000, 1),
    onCase: (r) => {
      done++;
      if (r.kind !== 'ok' && r.kind !== 'error') console.log(describe(r));
      if (done % 500 === 0) {
        const s = (performance.now() - started) / 1000;
        console.error(`  ${done}/${cases} cases, ${(done / s).toFixed(1)}/s`);
      }
    },
  });
  const seconds = summary.wallMs / 1000;
  const count = (kind: string): number => summary.failures.filter((f) => f.kind === kind).length;
  console.log(`\n${summary.cases} cases in ${seconds.toFixed(1)} s (${(summary.cases / seconds).toFixed(1)} cases/s)`);
  console.log(`crashes ${count('crash')}, hangs ${count('hang')}, errors without a code ${count('uncoded')}`);
  console.log('outcomes:');
  for (const [k, n] of Object.entries(summary.outcomes).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${k}`);
  if (Object.keys(summary.crashClasses).length > 0) {
    console.log('crash classes:');
    for (const [k, n] of Object.entries(summary.crashClasses).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${k}`);
  }
  if (summary.failures.length > 0) console.log(`failing files: ${outDir} (replay: npm run fuzz -- --replay FILE)`);
  return summary.failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 2;
  },
);
