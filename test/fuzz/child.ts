/**
 * Fuzz worker: builds cases `--from` to `--to` of run `--seed` (or takes one `--file`), and
 * for each loads the file, tokenizes, formats a chat, and generates a few tokens. Reports one
 * JSON line on stdout when a case starts and one when it ends, so the parent knows which case
 * was running when a crash or hang took this process down.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isErrorCode } from '../../lib/errors.js';
import { loadModel, type Model } from '../../lib/model.js';
import { buildCase, loadBases } from './cases.js';

/** How one stage ended: `ok`, or the error's code (`UNCODED` when it has none of ours). */
export interface StageOutcome {
  stage: string;
  code: string;
  cause?: string;
  message?: string;
}

/** The line reported when a case ends. */
export interface EndReport {
  event: 'end';
  index: number;
  stages: StageOutcome[];
  ms: number;
}

/** The line reported when a case starts. */
export interface StartReport {
  event: 'start';
  index: number;
  base: string;
  mutations: string[];
}

function args(): Map<string, string> {
  const argv = process.argv.slice(2);
  const map = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) map.set(argv[i]!.replace(/^--/, ''), argv[i + 1] ?? '');
  return map;
}

function outcomeOf(stage: string, error: unknown): StageOutcome {
  const e = error as { code?: unknown; message?: unknown; cause?: { code?: unknown } } | null;
  const code = isErrorCode(e?.code) ? e.code : 'UNCODED';
  const cause = typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  return { stage, code, ...(cause === undefined ? {} : { cause }), message: String(e?.message ?? error).slice(0, 300) };
}

const MESSAGES = [
  { role: 'user', content: 'Hello [INST] </s> é 🦙' },
  { role: 'assistant', content: 'Hi' },
  { role: 'user', content: 'Again' },
] as const;

/** Runs every stage on one file; a failed stage does not stop the later ones (except a failed load). */
export async function exercise(path: string): Promise<StageOutcome[]> {
  const stages: StageOutcome[] = [];
  let model: Model;
  try {
    model = await loadModel(path);
  } catch (error) {
    return [outcomeOf('load', error)];
  }
  stages.push({ stage: 'load', code: 'ok' });
  const step = async (stage: string, fn: () => unknown): Promise<void> => {
    try {
      await fn();
      stages.push({ stage, code: 'ok' });
    } catch (error) {
      stages.push(outcomeOf(stage, error));
    }
  };
  try {
    await step('tokenize', () => {
      for (const parseSpecial of [false, true]) {
        const ids = model.tokenize('Hello world! [INST] é 🦙 </s> <0x41>\n\t  x', { parseSpecial });
        model.detokenize(ids, { unparseSpecial: true });
      }
      const n = model.info.vocabularySize;
      model.detokenize([0, 1, 2, n - 1].filter((id) => id >= 0 && id < n), { unparseSpecial: true });
    });
    await step('chat', () => {
      model.applyChatTemplate([...MESSAGES]);
      model.applyChatTemplate([...MESSAGES], { tokenize: true });
    });
    await step('generate', async () => {
      const trained = model.info.trainedContextLength;
      const context = await model.createContext({ contextSize: trained > 0 ? Math.min(128, trained) : 128, threads: 1 });
      try {
        const result = await context.generate('Once upon a time', { maxTokens: 4, temperature: 0 }).result;
        model.detokenize(result.tokens);
        await context.generate('The', { maxTokens: 3, seed: 1 }).result;
      } finally {
        await context.dispose();
      }
    });
  } finally {
    await model.dispose();
  }
  return stages;
}

const report = (line: StartReport | EndReport): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

const a = args();
const file = a.get('file');
if (file !== undefined) {
  report({ event: 'start', index: 0, base: file, mutations: [] });
  const started = performance.now();
  report({ event: 'end', index: 0, stages: await exercise(file), ms: Math.round(performance.now() - started) });
} else {
  const seed = Number(a.get('seed') ?? 1);
  const from = Number(a.get('from') ?? 0);
  const to = Number(a.get('to') ?? from + 1);
  const bases = await loadBases();
  const dir = mkdtempSync(join(tmpdir(), 'llama-napi-fuzz-'));
  try {
    for (let index = from; index < to; index++) {
      const c = buildCase(bases, seed, index);
      report({ event: 'start', index, base: c.base, mutations: c.mutations });
      const started = performance.now();
      const path = join(dir, `case-${index}.gguf`);
      writeFileSync(path, c.bytes);
      const stages = await exercise(path);
      rmSync(path, { force: true });
      report({ event: 'end', index, stages, ms: Math.round(performance.now() - started) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
