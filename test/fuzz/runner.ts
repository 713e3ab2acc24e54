/**
 * The fuzz driver: runs cases in child processes (test/fuzz/child.ts), many per child. When a
 * child dies (a signal, an abort) or a case runs past its time limit, the running case is
 * recorded as a crash or a hang and a new child carries on at the next case. Failing files are
 * rebuilt from their (seed, index) and written out for replay.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { buildCase, loadBases, type Bases } from './cases.js';
import type { EndReport, StageOutcome, StartReport } from './child.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const NO_PRECHECK = fileURLToPath(new URL('./no-precheck.mjs', import.meta.url));

function childArgs(noPrecheck: boolean, args: string[]): string[] {
  return ['--import', 'tsx', ...(noPrecheck ? ['--import', NO_PRECHECK] : []), CHILD, ...args];
}

export interface FuzzOptions {
  seed: number;
  /** First case index. Default 0. */
  from?: number;
  cases: number;
  /** A case running longer than this is a hang. Default 30 s. */
  caseTimeoutMs?: number;
  /** Children running at once, each on its own slice of cases. Default 1. */
  jobs?: number;
  /** Where failing files are written (with a .json beside each). */
  outDir?: string;
  /** Called after every case. */
  onCase?: (result: CaseResult) => void;
  /** Run without lib/model-consistency.ts (to measure what llama.cpp alone does). */
  noPrecheck?: boolean;
}

export type CaseKind = 'ok' | 'error' | 'crash' | 'hang' | 'uncoded';

export interface CaseResult {
  index: number;
  base: string;
  mutations: string[];
  kind: CaseKind;
  /** `ok`, the first failed stage and its code (`load ERR_MODEL_LOAD/ERR_GGUF_INVALID`), or the crash. */
  outcome: string;
  stages?: StageOutcome[];
  /** For crashes and hangs: the abort message from stderr, or the signal. */
  crashClass?: string;
  stderr?: string;
  /** The replay file, when written. */
  file?: string;
  ms: number;
}

export interface FuzzSummary {
  seed: number;
  from: number;
  cases: number;
  /** Cases by outcome (`ok`, `load ERR_MODEL_LOAD/ERR_GGUF_INVALID`, `crash`, …). */
  outcomes: Record<string, number>;
  /** Crashes and hangs by class (the abort message or signal). */
  crashClasses: Record<string, number>;
  failures: CaseResult[];
  wallMs: number;
}

/** The abort message in a crashed child's stderr (without its directory), else the signal. */
export function crashClassOf(stderr: string, signal: string | null, code: number | null): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = [...lines].reverse().find((l) => /GGML_ASSERT|GGML_ABORT|terminate called|what\(\)|Assertion .* failed|fatal error|unsupported|Segmentation/.test(l));
  const how = signal ?? `exit ${code}`;
  if (!line) return how;
  return `${line.replace(/^.*\/(src|ggml|vendor)\//, '').replace(/^(\S+?):\d+:/, '$1:')} (${how})`;
}

function outcomeOf(stages: StageOutcome[]): { kind: CaseKind; outcome: string } {
  const failed = stages.find((s) => s.code !== 'ok');
  if (!failed) return { kind: 'ok', outcome: 'ok' };
  const uncoded = stages.some((s) => s.code === 'UNCODED');
  return { kind: uncoded ? 'uncoded' : 'error', outcome: `${failed.stage} ${failed.code}${failed.cause && failed.cause !== failed.code ? `/${failed.cause}` : ''}` };
}

/** Runs cases `[from, to)` in as many successive children as crashes need. */
async function runRange(seed: number, from: number, to: number, timeoutMs: number, noPrecheck: boolean, record: (r: CaseResult) => void): Promise<void> {
  let next = from;
  while (next < to) {
    next = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, childArgs(noPrecheck, ['--seed', String(seed), '--from', String(next), '--to', String(to)]), {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let current: StartReport | undefined;
      let startedAt = performance.now();
      let resume = next;
      let stderr = '';
      let hung = false;
      // The first case also covers the child's start (tsx, the addon, the base files).
      let timer = setTimeout(() => kill(), timeoutMs + 30_000);
      const kill = (): void => {
        hung = true;
        child.kill('SIGKILL');
      };
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
      createInterface({ input: child.stdout }).on('line', (line) => {
        let msg: StartReport | EndReport;
        try {
          msg = JSON.parse(line) as StartReport | EndReport;
        } catch {
          return;
        }
        if (msg.event === 'start') {
          current = msg;
          startedAt = performance.now();
          stderr = '';
          clearTimeout(timer);
          timer = setTimeout(kill, timeoutMs);
          return;
        }
        const started = current;
        current = undefined;
        resume = msg.index + 1;
        record({ index: msg.index, base: started?.base ?? '?', mutations: started?.mutations ?? [], stages: msg.stages, ms: msg.ms, ...outcomeOf(msg.stages) });
      });
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (current === undefined && resume >= to && code === 0) return resolve(resume);
        // A death between cases (or at start) is charged to the next case, so the run always advances.
        const index = current?.index ?? resume;
        const kind: CaseKind = hung ? 'hang' : 'crash';
        const crashClass = hung ? `hang (no result in ${timeoutMs} ms)` : crashClassOf(stderr, signal, code);
        record({ index, base: current?.base ?? '?', mutations: current?.mutations ?? [], kind, outcome: kind, crashClass, stderr: stderr.slice(-3000), ms: Math.round(performance.now() - startedAt) });
        resolve(index + 1);
      });
    });
  }
}

/** Runs `cases` cases of run `seed`; see {@link FuzzOptions}. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const { seed, cases } = options;
  const from = options.from ?? 0;
  const timeoutMs = options.caseTimeoutMs ?? 30_000;
  const jobs = Math.max(1, Math.min(options.jobs ?? 1, cases));
  const started = performance.now();
  const summary: FuzzSummary = { seed, from, cases, outcomes: {}, crashClasses: {}, failures: [], wallMs: 0 };
  let bases: Promise<Bases> | undefined;
  const saves: Promise<void>[] = [];
  const record = (r: CaseResult): void => {
    summary.outcomes[r.outcome] = (summary.outcomes[r.outcome] ?? 0) + 1;
    if (r.kind === 'crash' || r.kind === 'hang') summary.crashClasses[r.crashClass!] = (summary.crashClasses[r.crashClass!] ?? 0) + 1;
    if (r.kind !== 'ok' && r.kind !== 'error') {
      summary.failures.push(r);
      if (options.outDir !== undefined) {
        const dir = options.outDir;
        r.file = join(dir, `seed${seed}-case${r.index}.gguf`);
        bases ??= loadBases();
        saves.push(bases.then(async (b) => {
          await mkdir(dir, { recursive: true });
          let c: ReturnType<typeof buildCase> | undefined;
          try {
            c = buildCase(b, seed, r.index);
            await writeFile(r.file!, c.bytes);
          } catch (error) {
            // The fuzzer itself failed on this case (the child died building it too): say so.
            r.crashClass = `fuzzer error: ${(error as Error).message}`;
          }
          await writeFile(`${r.file}.json`, `${JSON.stringify({ ...r, base: c?.base ?? r.base, mutations: c?.mutations ?? r.mutations }, null, 2)}\n`);
        }));
      }
    }
    options.onCase?.(r);
  };
  // Slices of 100 cases go to whichever child slot is free.
  const SLICE = 100;
  let nextSlice = from;
  const end = from + cases;
  await Promise.all(Array.from({ length: jobs }, async () => {
    while (nextSlice < end) {
      const a = nextSlice;
      nextSlice = Math.min(end, a + SLICE);
      await runRange(seed, a, nextSlice, timeoutMs, options.noPrecheck ?? false, record);
    }
  }));
  await Promise.all(saves);
  summary.failures.sort((x, y) => x.index - y.index);
  summary.wallMs = Math.round(performance.now() - started);
  return summary;
}

/** Runs the stages on one file in a child (a replay); the result says how it ended. */
export async function replayFile(path: string, timeoutMs = 30_000, noPrecheck = false): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, childArgs(noPrecheck, ['--file', path]), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hung = false;
    const started = performance.now();
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, timeoutMs + 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Math.round(performance.now() - started);
      const end = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as StartReport | EndReport).find((m): m is EndReport => m.event === 'end');
      if (end && !hung) return resolve({ index: 0, base: path, mutations: [], stages: end.stages, ms, ...outcomeOf(end.stages) });
      const kind: CaseKind = hung ? 'hang' : 'crash';
      resolve({ index: 0, base: path, mutations: [], kind, outcome: kind, crashClass: hung ? 'hang' : crashClassOf(stderr, signal, code), stderr, ms });
    });
  });
}
