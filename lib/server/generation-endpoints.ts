/**
 * POST /v1/chat/completions and POST /v1/completions: parse, build the prompt, and describe the
 * response objects (`chat.completion[.chunk]`, `text_completion`) for the shared runner.
 */
import { randomUUID } from 'node:crypto';
import { parseChatRequest } from './chat-request.js';
import { parseCompletionRequest } from './completion-request.js';
import type { Exchange } from './exchange.js';
import { runGeneration, type ResponseShape, type Usage } from './generation-runner.js';
import { generativeEngine } from './engine-guards.js';

export async function chatCompletions(x: Exchange): Promise<number> {
  const { model } = generativeEngine(x.engine);
  const request = parseChatRequest(await x.body(), model.info.vocabularySize);
  // The model's own template, tokenized exactly (special tokens in user text stay text); the
  // prompt cache then reuses whatever prefix this conversation's previous turn left in a sequence.
  const template = x.engine.options.chatTemplate;
  const prompt = model.applyChatTemplate(request.messages, { tokenize: true, ...(template === undefined ? {} : { template }) });
  return runGeneration(x, prompt, request, chatShape(x.engine.options.modelName, request.includeUsage), 'messages');
}

export async function completions(x: Exchange): Promise<number> {
  const { model } = generativeEngine(x.engine);
  const request = parseCompletionRequest(await x.body(), model.info.vocabularySize);
  const prompt = typeof request.prompt === 'string' ? model.tokenize(request.prompt) : request.prompt;
  return runGeneration(x, prompt, request, completionShape(x.engine.options.modelName, request.includeUsage), 'prompt');
}

function chatShape(model: string, includeUsage: boolean): ResponseShape {
  const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: object, finishReason: string | null): object => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  return {
    opening: () => [chunk({ role: 'assistant', content: '' }, null)],
    delta: (text) => chunk({ content: text }, null),
    closing: (finishReason) => chunk({}, finishReason),
    usage: (usage: Usage) => ({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices: [], usage }),
    complete: (text, finishReason, usage) => ({
      id,
      object: 'chat.completion',
      created,
      model,
      system_fingerprint: null,
      choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finishReason }],
      usage,
    }),
  };
}

function completionShape(model: string, includeUsage: boolean): ResponseShape {
  const id = `cmpl-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const object = (text: string, finishReason: string | null): object => ({
    id,
    object: 'text_completion',
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  return {
    opening: () => [],
    delta: (text) => object(text, null),
    closing: (finishReason) => object('', finishReason),
    usage: (usage: Usage) => ({ id, object: 'text_completion', created, model, system_fingerprint: null, choices: [], usage }),
    complete: (text, finishReason, usage) => ({ ...object(text, finishReason), usage }),
  };
}
