/**
 * The fuzzer's pseudo-random stream: xorshift32 seeded by {@link hashSeed} of a label, so a
 * (seed, case index) pair always draws the same choices on every platform.
 */
import { hashSeed } from '../fixtures/random.js';

export class Rng {
  #state: number;

  /** @param label - what the stream is for, e.g. `case:17`; @param seed - the run's seed */
  constructor(label: string, seed: number) {
    this.#state = hashSeed(label, seed >>> 0);
  }

  /** A uint32. */
  next(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }

  /** An integer in `[0, n)`. */
  below(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.next() / 2 ** 32) * n);
  }

  /** An integer in `[min, max]`. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.below(items.length)]!;
  }
}
