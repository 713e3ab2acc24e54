/**
 * Token log-probabilities in OpenAI's two shapes: the chat API's `logprobs: true` +
 * `top_logprobs: N` answered with `{ content: [{ token, logprob, bytes, top_logprobs }] }`, and
 * the legacy completions API's `logprobs: N` answered with parallel arrays (`tokens`,
 * `token_logprobs`, `top_logprobs`, `text_offset`). The numbers are the library's
 * (`GenerateOptions.logprobs`): of the model's distribution before sampling, as llama-server
 * reports them by default.
 */
import type { GenerateOptions, Model, TokenLogprob } from '../index.js';
import { invalidField } from './errors.js';
import { optionalBoolean, optionalInteger, type Body } from './fields.js';

/** Most alternatives per token a request may ask for (OpenAI's limit for `top_logprobs`). */
export const MAX_TOP_LOGPROBS = 20;

/** `logprobs` (boolean) and `top_logprobs` (0–20, only with `logprobs: true`) of a chat request. */
export function chatLogprobsFields(body: Body, options: GenerateOptions): void {
  const logprobs = optionalBoolean(body, 'logprobs');
  const top = optionalInteger(body, 'top_logprobs', 0, MAX_TOP_LOGPROBS);
  if (top !== undefined && top > 0 && logprobs !== true) {
    throw invalidField('top_logprobs', 'absent unless logprobs is true (send "logprobs": true with it)', top);
  }
  if (logprobs === true) {
    options.logprobs = true;
    options.topLogprobs = top ?? 0;
  }
}

/** The legacy completions API's `logprobs`: how many alternatives per token (0–20); absent, null or false: none. */
export function completionLogprobsFields(body: Body, options: GenerateOptions): void {
  if (body['logprobs'] === false) return;
  const top = optionalInteger(body, 'logprobs', 0, MAX_TOP_LOGPROBS);
  if (top === undefined) return;
  options.logprobs = true;
  options.topLogprobs = top;
}

/** A token's text and bytes, as the responses spell them. */
interface Piece {
  /** The piece as text (an incomplete UTF-8 character becomes U+FFFD; `bytes` has the truth). */
  token: string;
  bytes: number[];
}

/** Token pieces of one model, looked up once each: a response names up to 21 tokens per step. */
export class TokenPieces {
  readonly #model: Model;
  readonly #cache = new Map<number, Piece>();
  readonly #decoder = new TextDecoder();

  constructor(model: Model) {
    this.#model = model;
  }

  get(token: number): Piece {
    let piece = this.#cache.get(token);
    if (piece === undefined) {
      const bytes = this.#model.tokenPiece(token);
      piece = { token: this.#decoder.decode(bytes), bytes: Array.from(bytes) };
      this.#cache.set(token, piece);
    }
    return piece;
  }
}

const piecesByModel = new WeakMap<Model, TokenPieces>();

/** The piece cache of `model`, shared by its requests. */
export function tokenPiecesOf(model: Model): TokenPieces {
  let pieces = piecesByModel.get(model);
  if (pieces === undefined) {
    pieces = new TokenPieces(model);
    piecesByModel.set(model, pieces);
  }
  return pieces;
}

/** JSON has no -Infinity: the lowest float instead, as llama-server sends. */
function finite(logprob: number): number {
  return Number.isFinite(logprob) ? logprob : -3.4028234663852886e38;
}

/** The chat API's `choices[].logprobs` for these tokens. */
export function chatLogprobs(entries: readonly TokenLogprob[], pieces: TokenPieces): object {
  return {
    content: entries.map((entry) => ({
      ...pieces.get(entry.token),
      logprob: finite(entry.logprob),
      top_logprobs: entry.topLogprobs.map((alt) => ({ ...pieces.get(alt.token), logprob: finite(alt.logprob) })),
    })),
    refusal: null,
  };
}

/**
 * The legacy completions API's `choices[].logprobs`, for one response or for one stream chunk
 * after another: `text_offset` counts UTF-16 code units from the start of the completion text,
 * continuing across the chunks of one stream.
 */
export class CompletionLogprobs {
  readonly #pieces: TokenPieces;
  #offset = 0;

  constructor(pieces: TokenPieces) {
    this.#pieces = pieces;
  }

  next(entries: readonly TokenLogprob[]): object {
    const tokens: string[] = [];
    const textOffset: number[] = [];
    for (const entry of entries) {
      const { token } = this.#pieces.get(entry.token);
      tokens.push(token);
      textOffset.push(this.#offset);
      this.#offset += token.length;
    }
    return {
      tokens,
      token_logprobs: entries.map((entry) => finite(entry.logprob)),
      top_logprobs: entries.map((entry) =>
        Object.fromEntries(entry.topLogprobs.map((alt) => [this.#pieces.get(alt.token).token, finite(alt.logprob)])),
      ),
      text_offset: textOffset,
    };
  }
}
