/**
 * The sampling and stopping fields shared by /v1/chat/completions and /v1/completions, mapped
 * onto the library's GenerateOptions.
 *
 * Defaults: a field the client sends has OpenAI's meaning; a field it omits takes llama.cpp's
 * default, as llama-server does (temperature 0.8, top_p 0.95, top-k 40, min-p 0.05, no length
 * limit). llama-server's extension fields `top_k`, `min_p`, `repeat_penalty`, `repeat_last_n`,
 * `cache_prompt` and `grammar` are accepted too. `logprobs` differs between the two APIs: each
 * request parser reads it (./logprobs.ts).
 */
import type { GenerateOptions, JsonSchema } from '../index.js';
import { MAX_SEED, MAX_STOP_STRINGS } from '../options/generate.js';
import { INT32_MAX } from '../validate.js';
import { invalidField, unsupportedField } from './errors.js';
import { optionalBoolean, optionalInteger, optionalNumber, optionalObject, optionalString, sent, type Body } from './fields.js';

/** What a generation endpoint takes from the body besides its prompt. */
export interface GenerationFields {
  options: GenerateOptions;
  stream: boolean;
  includeUsage: boolean;
}

/** Parses the shared fields; `lengthKeys` are the names of the length limit, first one wins. */
export function generationFields(body: Body, vocabularySize: number, lengthKeys: readonly string[]): GenerationFields {
  const options: GenerateOptions = {};
  for (const key of lengthKeys) {
    const value = optionalInteger(body, key, 1, INT32_MAX);
    if (value !== undefined) {
      options.maxTokens = value;
      break;
    }
  }
  const temperature = optionalNumber(body, 'temperature', 0, 2);
  if (temperature !== undefined) options.temperature = temperature;
  const topP = optionalNumber(body, 'top_p', 0, 1);
  // OpenAI allows top_p 0: keep only the most likely token, which is top-k 1 (the library's
  // topP must be > 0).
  if (topP === 0) options.topK = 1;
  else if (topP !== undefined) options.topP = topP;
  const topK = optionalInteger(body, 'top_k', 0, INT32_MAX);
  if (topK !== undefined && options.topK === undefined) options.topK = topK;
  const minP = optionalNumber(body, 'min_p', 0, 1);
  if (minP !== undefined) options.minP = minP;
  const repeatPenalty = optionalNumber(body, 'repeat_penalty', Number.MIN_VALUE, 1e6);
  if (repeatPenalty !== undefined) options.repeatPenalty = repeatPenalty;
  const repeatLastN = optionalInteger(body, 'repeat_last_n', -1, INT32_MAX);
  if (repeatLastN !== undefined) options.repeatLastN = repeatLastN;
  const seed = optionalInteger(body, 'seed', 0, MAX_SEED);
  if (seed !== undefined) options.seed = seed;
  penalties(body, options);
  const stop = stopStrings(body);
  if (stop.length > 0) options.stop = stop;
  const cachePrompt = optionalBoolean(body, 'cache_prompt');
  if (cachePrompt !== undefined) options.cachePrompt = cachePrompt;
  const logitBias = logitBiasField(body, vocabularySize);
  if (logitBias !== undefined) options.logitBias = logitBias;
  constraint(body, options);
  rejectUnsupported(body);

  const stream = optionalBoolean(body, 'stream') ?? false;
  const streamOptions = optionalObject(body, 'stream_options');
  const includeUsage = streamOptions === undefined ? false : (optionalBoolean(streamOptions, 'include_usage', 'stream_options.include_usage') ?? false);
  return { options, stream, includeUsage };
}

/**
 * presence_penalty / frequency_penalty ([-2, 2], 0 = off) are llama.cpp's penalties sampler,
 * the library's `presencePenalty` / `frequencyPenalty`, over the last `repeat_last_n` tokens
 * (64 by default; OpenAI counts the whole completion).
 */
function penalties(body: Body, options: GenerateOptions): void {
  const presence = optionalNumber(body, 'presence_penalty', -2, 2);
  const frequency = optionalNumber(body, 'frequency_penalty', -2, 2);
  if (presence !== undefined) options.presencePenalty = presence;
  if (frequency !== undefined) options.frequencyPenalty = frequency;
}

function stopStrings(body: Body): string[] {
  const value = body['stop'];
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((item) => typeof item !== 'string')) {
    throw invalidField('stop', 'a string or an array of strings', value);
  }
  const strings = [...new Set((list as string[]).filter((item) => item !== ''))];
  if (strings.length > MAX_STOP_STRINGS) throw invalidField('stop', `at most ${MAX_STOP_STRINGS} strings`, `${strings.length} strings`);
  if (strings.some((item) => item.includes('\0'))) throw invalidField('stop', 'strings without NUL characters');
  return strings;
}

/** `{ "<token id>": bias }`, bias in [-100, 100], added to the token's logit as llama-server does. */
function logitBiasField(body: Body, vocabularySize: number): Record<number, number> | undefined {
  const bias = optionalObject(body, 'logit_bias');
  if (bias === undefined) return undefined;
  const result: Record<number, number> = {};
  for (const [key, value] of Object.entries(bias)) {
    const token = /^(0|[1-9]\d*)$/.test(key) ? Number(key) : NaN;
    if (!(token < vocabularySize)) throw invalidField(`logit_bias.${key}`, `a token id in [0, ${vocabularySize}) as the key`);
    if (typeof value !== 'number' || !(value >= -100 && value <= 100)) {
      throw invalidField(`logit_bias.${key}`, 'a number in [-100, 100]', value);
    }
    result[token] = value;
  }
  return Object.keys(result).length > 0 ? result : undefined;
}

/** response_format (OpenAI) or grammar (llama-server) → the library's jsonSchema / grammar. */
function constraint(body: Body, options: GenerateOptions): void {
  const format = optionalObject(body, 'response_format');
  const grammar = optionalString(body, 'grammar');
  let schema: JsonSchema | undefined;
  if (format !== undefined) {
    const type = format['type'];
    if (type === 'json_object') schema = { type: 'object' };
    else if (type === 'json_schema') {
      const spec = optionalObject(format, 'json_schema', 'response_format.json_schema');
      if (spec === undefined) throw invalidField('response_format.json_schema', 'an object { name, schema, strict }');
      const inner = spec['schema'];
      if (inner !== undefined && inner !== null && (typeof inner !== 'object' || Array.isArray(inner))) {
        throw invalidField('response_format.json_schema.schema', 'a JSON schema object', inner);
      }
      schema = (inner ?? {}) as JsonSchema;
    } else if (type !== 'text') {
      throw invalidField('response_format.type', "'text', 'json_object' or 'json_schema'", type);
    }
  }
  if (schema !== undefined && grammar !== undefined) throw invalidField('grammar', 'absent when response_format asks for JSON');
  if (schema !== undefined) options.jsonSchema = schema;
  if (grammar !== undefined) options.grammar = grammar;
}

function rejectUnsupported(body: Body): void {
  const tools = body['tools'];
  if (Array.isArray(tools) ? tools.length > 0 : tools !== undefined && tools !== null) {
    throw unsupportedField('tools', 'tool calling is not supported yet');
  }
  if (sent(body, 'functions')) throw unsupportedField('functions', 'function calling is not supported yet');
  const n = body['n'];
  if (n !== undefined && n !== null && n !== 1) {
    if (typeof n !== 'number' || !Number.isInteger(n)) throw invalidField('n', 'an integer', n);
    throw unsupportedField('n', 'only one choice per request (n = 1); send several requests instead');
  }
  const bestOf = body['best_of'];
  if (bestOf !== undefined && bestOf !== null && bestOf !== 1) throw unsupportedField('best_of', 'only best_of = 1');
}
