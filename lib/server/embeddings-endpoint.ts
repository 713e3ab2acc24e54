/**
 * POST /v1/embeddings (on a server started with `embeddings: true`): one or many inputs, each a
 * string or token ids, as float arrays or base64 (little-endian float32, as OpenAI encodes them).
 */
import type { Exchange } from './exchange.js';
import { CLIENT_GONE_STATUS } from './exchange.js';
import { embeddingEngine } from './engine-guards.js';
import { HttpError, invalidField } from './errors.js';
import { cText, optionalString, requestObject, tokenArray } from './fields.js';
import { sendJson } from './http-io.js';
import { tokenizeRequestText } from './request-tokens.js';

/** OpenAI's limit on inputs per request. */
const MAX_INPUTS = 2048;

export async function embeddings(x: Exchange): Promise<number> {
  const { model, context } = embeddingEngine(x.engine);
  const body = requestObject(await x.body());
  const format = optionalString(body, 'encoding_format') ?? 'float';
  if (format !== 'float' && format !== 'base64') throw invalidField('encoding_format', "'float' or 'base64'", format);
  const inputs = await Promise.all(
    parseInputs(body['input'], model.info.vocabularySize).map((input, i) =>
      typeof input === 'string' ? tokenizeRequestText(model, cText(input, `input[${i}]`)) : input,
    ),
  );
  const limit = context.sequenceSize - 1;
  inputs.forEach((tokens, i) => {
    if (tokens.length === 0) throw invalidField(`input[${i}]`, 'at least one token');
    if (tokens.length > limit) {
      throw new HttpError(400, `input[${i}] has ${tokens.length} tokens; an embedding takes at most ${limit}`, {
        param: 'input',
        code: 'context_length_exceeded',
      });
    }
  });

  let release: () => void;
  try {
    release = await x.engine.admission.acquire(x.clientGone);
  } catch (error) {
    if (x.clientGone.aborted) return CLIENT_GONE_STATUS;
    throw error;
  }
  const vectors: Float32Array[] = [];
  let promptTokens = 0;
  try {
    // One input at a time: the request holds one slot, like a generation; concurrent requests
    // are what fills the context's sequences.
    for (const tokens of inputs) {
      if (x.clientGone.aborted) return CLIENT_GONE_STATUS;
      vectors.push(await context.embed(tokens));
      promptTokens += tokens.length;
    }
  } finally {
    release();
    x.engine.metrics.tokens(promptTokens, 0, 0);
  }
  sendJson(x.res, 200, {
    object: 'list',
    data: vectors.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding: format === 'base64' ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64') : Array.from(vector),
    })),
    model: x.engine.options.modelName,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  });
  return 200;
}

/** A string, token ids, or a list of strings or of token-id lists. */
function parseInputs(value: unknown, vocabularySize: number): Array<string | number[]> {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidField('input', 'a string, an array of strings, an array of token ids or an array of token-id arrays', value);
  }
  if (value.length > MAX_INPUTS) throw invalidField('input', `at most ${MAX_INPUTS} inputs`, `${value.length} inputs`);
  if (typeof value[0] === 'number') return [tokenArray(value, 'input', vocabularySize)];
  return value.map((item: unknown, i) => (typeof item === 'string' ? item : tokenArray(item, `input[${i}]`, vocabularySize)));
}
