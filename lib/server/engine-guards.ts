/**
 * Which endpoints a server serves depends on how it was started: an embedding server (the
 * context computes embeddings instead of logits) cannot generate, and a generating one cannot
 * embed. The other kind answers 501, as llama-server does.
 */
import type { Context, Model } from '../index.js';
import type { Engine } from './engine.js';
import { HttpError } from './errors.js';

export function generativeEngine(engine: Engine): { model: Model; context: Context } {
  const loaded = engine.loaded;
  if (engine.options.embeddings) {
    throw new HttpError(501, 'This server computes embeddings only; start it without `embeddings` to generate text', {
      code: 'not_supported',
    });
  }
  return loaded;
}

export function embeddingEngine(engine: Engine): { model: Model; context: Context } {
  const loaded = engine.loaded;
  if (!engine.options.embeddings) {
    throw new HttpError(501, 'This server does not compute embeddings; start it with `embeddings: true` (--embeddings)', {
      code: 'not_supported',
    });
  }
  return loaded;
}
