/**
 * POST /v1/chat/completions and POST /v1/completions: parse, build the prompt, and describe the
 * response objects (`chat.completion[.chunk]`, `text_completion`) for the shared runner.
 */
import { randomUUID } from 'node:crypto';
import type { TokenLogprob } from '../index.js';
import { parseChatRequest } from './chat-request.js';
import { parseCompletionRequest } from './completion-request.js';
import type { Exchange } from './exchange.js';
import { runGeneration, type ResponseShape, type Usage } from './generation-runner.js';
import { generativeEngine } from './engine-guards.js';
import { chatPromptTokens, tokenizeRequestText } from './request-tokens.js';
import { CompletionLogprobs, chatLogprobs, tokenPiecesOf, type TokenPieces } from './logprobs.js';

export async function chatCompletions(x: Exchange): Promise<number> {
  const { model } = generativeEngine(x.engine);
  const request = parseChatRequest(await x.body(), model.info.vocabularySize);
  // The model's own template, tokenized exactly (special tokens in user text stay text); the
  // prompt cache then reuses whatever prefix this conversation's previous turn left in a sequence.
  const prompt = await chatPromptTokens(model, request.messages, x.engine.options.chatTemplate);
  const pieces = request.options.logprobs === true ? tokenPiecesOf(model) : undefined;
  return runGeneration(x, prompt, request, chatShape(x.engine.options.modelName, request.includeUsage, pieces), 'messages');
}

export async function completions(x: Exchange): Promise<number> {
  const { model } = generativeEngine(x.engine);
  const request = parseCompletionRequest(await x.body(), model.info.vocabularySize);
  const prompt = typeof request.prompt === 'string' ? await tokenizeRequestText(model, request.prompt) : request.prompt;
  const pieces = request.options.logprobs === true ? tokenPiecesOf(model) : undefined;
  return runGeneration(x, prompt, request, completionShape(x.engine.options.modelName, request.includeUsage, pieces), 'prompt');
}

/** `pieces`: the request asked for log-probabilities. */
function chatShape(model: string, includeUsage: boolean, pieces: TokenPieces | undefined): ResponseShape {
  const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const logprobs = (entries: readonly TokenLogprob[] | undefined): object | null =>
    pieces === undefined || entries === undefined || entries.length === 0 ? null : chatLogprobs(entries, pieces);
  const chunk = (delta: object, finishReason: string | null, entries?: readonly TokenLogprob[]): object => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: logprobs(entries), finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  return {
    opening: () => [chunk({ role: 'assistant', content: '' }, null)],
    delta: (text, entries) => chunk({ content: text }, null, entries),
    closing: (finishReason) => chunk({}, finishReason),
    usage: (usage: Usage) => ({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices: [], usage }),
    complete: (text, finishReason, usage, entries) => ({
      id,
      object: 'chat.completion',
      created,
      model,
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text, refusal: null },
          logprobs: pieces === undefined ? null : chatLogprobs(entries ?? [], pieces),
          finish_reason: finishReason,
        },
      ],
      usage,
    }),
  };
}

/** `pieces`: the request asked for log-probabilities. */
function completionShape(model: string, includeUsage: boolean, pieces: TokenPieces | undefined): ResponseShape {
  const id = `cmpl-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const offsets = pieces === undefined ? undefined : new CompletionLogprobs(pieces);
  const object = (text: string, finishReason: string | null, entries?: readonly TokenLogprob[]): object => ({
    id,
    object: 'text_completion',
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, text, logprobs: offsets === undefined || entries === undefined ? null : offsets.next(entries), finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  return {
    opening: () => [],
    delta: (text, entries) => object(text, null, entries),
    closing: (finishReason) => object('', finishReason),
    usage: (usage: Usage) => ({ id, object: 'text_completion', created, model, system_fingerprint: null, choices: [], usage }),
    complete: (text, finishReason, usage, entries) => ({ ...object(text, finishReason, entries ?? []), usage }),
  };
}
