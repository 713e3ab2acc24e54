/**
 * Turns the byte stream of generated token pieces into text chunks that are always valid
 * Unicode, and ends the text at the first stop string without ever emitting any part of it.
 *
 * Pure (no native code) so that every split position can be unit-tested.
 */

/** What one {@link TextStream.push} or {@link TextStream.end} produced. */
export interface TextStreamOutput {
  /** Text that is safe to emit now (may be empty). */
  text: string;
  /** True once a stop string has been seen; everything after it is dropped. */
  stopped: boolean;
}

/**
 * Incremental UTF-8 decoder with stop strings.
 *
 * - Token pieces may end inside a multi-byte character; the streaming decoder holds those bytes
 *   until the character is complete, and invalid bytes become U+FFFD. So each emitted chunk is
 *   well-formed UTF-16 (and re-encodes to valid UTF-8).
 * - Stop strings: the longest suffix of the pending text that is a prefix of some stop string is
 *   held back, because the next piece may complete it. When a stop string appears, only the
 *   text before its first occurrence is emitted and the stream is stopped.
 */
export class TextStream {
  readonly #decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  readonly #stops: readonly string[];
  readonly #longestStop: number;
  #pending = '';
  #stopString: string | undefined;

  /** @param stops - non-empty stop strings (empty strings are ignored: they would match everywhere) */
  constructor(stops: readonly string[] = []) {
    this.#stops = stops.filter((stop) => stop.length > 0);
    this.#longestStop = this.#stops.reduce((max, stop) => Math.max(max, stop.length), 0);
  }

  /** Whether a stop string has been seen. */
  get stopped(): boolean {
    return this.#stopString !== undefined;
  }

  /** The stop string that ended the text, if any. */
  get stopString(): string | undefined {
    return this.#stopString;
  }

  /** Feeds the next bytes; returns the text that can be emitted now. */
  push(bytes: Uint8Array): TextStreamOutput {
    if (this.stopped) return { text: '', stopped: true };
    this.#pending += this.#decoder.decode(bytes, { stream: true });
    return this.#release(false);
  }

  /**
   * Ends the stream: incomplete trailing bytes become U+FFFD and held-back text is released
   * (it turned out not to be a stop string).
   */
  end(): TextStreamOutput {
    if (this.stopped) return { text: '', stopped: true };
    this.#pending += this.#decoder.decode();
    return this.#release(true);
  }

  #release(final: boolean): TextStreamOutput {
    const pending = this.#pending;
    const stopAt = this.#firstStop(pending);
    if (stopAt !== undefined) {
      this.#pending = '';
      this.#stopString = stopAt.stop;
      return { text: pending.slice(0, stopAt.index), stopped: true };
    }
    const hold = final ? 0 : this.#heldBackLength(pending);
    this.#pending = pending.slice(pending.length - hold);
    return { text: pending.slice(0, pending.length - hold), stopped: false };
  }

  /** Earliest occurrence of any stop string in `text`. */
  #firstStop(text: string): { index: number; stop: string } | undefined {
    let best: { index: number; stop: string } | undefined;
    for (const stop of this.#stops) {
      const index = text.indexOf(stop);
      if (index !== -1 && (best === undefined || index < best.index)) best = { index, stop };
    }
    return best;
  }

  /**
   * Length of the longest suffix of `text` that is a proper prefix of a stop string. The
   * suffix never starts inside a surrogate pair: stop strings are well-formed, so no prefix of
   * one starts with a low surrogate.
   */
  #heldBackLength(text: string): number {
    for (let length = Math.min(text.length, this.#longestStop - 1); length > 0; length--) {
      const suffix = text.slice(text.length - length);
      if (this.#stops.some((stop) => stop.startsWith(suffix))) return length;
    }
    return 0;
  }
}
