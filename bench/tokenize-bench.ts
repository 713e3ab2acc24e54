/**
 * `npm run bench -- --only tokenize`: what tokenizing costs the JS thread, and what
 * `tokenizeAsync` leaves of it. For English-like text of 1, 10 and 100 KB (the Llama vocabulary
 * of the bench model, loaded with `vocabOnly`): milliseconds of `tokenize` (the event loop is
 * blocked for all of it), wall milliseconds of `tokenizeAsync`, and the longest event-loop
 * turn during the async call (a `setImmediate` chain: the largest gap between turns).
 */
import { loadModel } from '../lib/index.js';
import { fmt, median, table } from './stats.js';

const SIZES_KB = [1, 10, 100] as const;
const WORDS = 'the quick brown fox jumps over a lazy dog while seventeen zebras calculate quantum entropy'.split(' ');

function text(kb: number): string {
  let out = '';
  for (let i = 0; out.length < kb * 1024; i++) out += `${WORDS[(i * 7) % WORDS.length]} `;
  return out;
}

/** Runs `work` while a setImmediate chain measures the longest gap between event-loop turns. */
async function longestTurnDuring(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  let running = true;
  const turn = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(turn);
  };
  setImmediate(turn);
  await work();
  running = false;
  return Math.max(longest, performance.now() - last);
}

export async function runTokenizeBench(o: { modelPath: string; reps: number; log: (line: string) => void }): Promise<void> {
  await using model = await loadModel(o.modelPath, { vocabOnly: true });
  const rows: string[][] = [];
  for (const kb of SIZES_KB) {
    const input = text(kb);
    const sync: number[] = [];
    const async: number[] = [];
    const stall: number[] = [];
    let tokens = 0;
    for (let r = 0; r < o.reps + 1; r++) {
      const t0 = performance.now();
      tokens = model.tokenize(input).length;
      const t1 = performance.now();
      let t3 = 0;
      const gap = await longestTurnDuring(async () => {
        await model.tokenizeAsync(input);
        t3 = performance.now();
      });
      if (r === 0) continue; // warm-up
      sync.push(t1 - t0);
      async.push(t3 - t1);
      stall.push(gap);
    }
    rows.push([`${kb} KB`, String(tokens), fmt(median(sync), 2), fmt(median(sync) / kb, 2), fmt(median(async), 2), fmt(median(stall), 2)]);
  }
  o.log('');
  o.log(`Tokenizing English-like text with the bench model's Llama vocabulary, medians of ${o.reps} runs:`);
  o.log(table(['text', 'tokens', 'tokenize ms (loop blocked)', 'ms per KB', 'tokenizeAsync wall ms', 'longest loop turn during it, ms'], rows));
}
