/**
 * POST /v1/completions: the request body → a raw prompt (text or token ids, no chat template)
 * plus generation options.
 */
import { invalidField, unsupportedField } from './errors.js';
import { cText, requestObject, sent, tokenArray } from './fields.js';
import { completionLogprobsFields } from './logprobs.js';
import { generationFields, type GenerationFields } from './sampling-fields.js';

export interface CompletionRequest extends GenerationFields {
  /** Text (tokenized with the model's BOS rules) or token ids used as given. */
  prompt: string | number[];
}

export function parseCompletionRequest(body: unknown, vocabularySize: number): CompletionRequest {
  const o = requestObject(body);
  if (o['echo'] === true) throw unsupportedField('echo', 'the prompt is not echoed back');
  if (sent(o, 'suffix') && o['suffix'] !== '') throw unsupportedField('suffix', 'fill-in-the-middle is not supported');
  const fields = generationFields(o, vocabularySize, ['max_tokens']);
  completionLogprobsFields(o, fields.options);
  return { prompt: prompt(o['prompt'], vocabularySize), ...fields };
}

/**
 * OpenAI accepts a string, an array of token ids, or a batch of either; a batch of one is
 * unwrapped, larger batches are a 400 (one completion per request here).
 */
function prompt(value: unknown, vocabularySize: number): string | number[] {
  if (typeof value === 'string') return cText(value, 'prompt');
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidField('prompt', 'a string, an array of token ids, or an array of one of those', value);
  }
  if (typeof value[0] === 'number') {
    return tokenArray(value, 'prompt', vocabularySize);
  }
  if (value.length > 1) throw unsupportedField('prompt', 'one prompt per request; send a batch as several requests');
  const only: unknown = value[0];
  if (typeof only === 'string') return cText(only, 'prompt[0]');
  const tokens = tokenArray(only, 'prompt[0]', vocabularySize);
  if (tokens.length === 0) throw invalidField('prompt[0]', 'at least one token id');
  return tokens;
}
