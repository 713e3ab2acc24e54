/**
 * POST /v1/chat/completions: the request body → chat messages for the model's template plus
 * generation options.
 */
import type { ChatMessage } from '../index.js';
import { invalidField } from './errors.js';
import { cText, requestObject, type Body } from './fields.js';
import { chatLogprobsFields } from './logprobs.js';
import { generationFields, type GenerationFields } from './sampling-fields.js';

export interface ChatRequest extends GenerationFields {
  messages: ChatMessage[];
}

/** OpenAI's roles this server formats; `developer` is OpenAI's newer name for `system`. */
const ROLES: Readonly<Record<string, string>> = { system: 'system', developer: 'system', user: 'user', assistant: 'assistant' };

export function parseChatRequest(body: unknown, vocabularySize: number): ChatRequest {
  const o = requestObject(body);
  const list = o['messages'];
  if (!Array.isArray(list) || list.length === 0) throw invalidField('messages', 'a non-empty array of messages', list);
  const messages = list.map((message: unknown, i) => chatMessage(message, `messages[${i}]`));
  const fields = generationFields(o, vocabularySize, ['max_completion_tokens', 'max_tokens']);
  chatLogprobsFields(o, fields.options);
  return { messages, ...fields };
}

function chatMessage(value: unknown, param: string): ChatMessage {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidField(param, 'a { role, content } object', value);
  const m = value as Body;
  const role = ROLES[typeof m['role'] === 'string' ? m['role'] : ''];
  if (role === undefined) throw invalidField(`${param}.role`, "'system', 'developer', 'user' or 'assistant'", m['role']);
  return { role, content: cText(content(m['content'], `${param}.content`, role), `${param}.content`) };
}

/**
 * A string, or an array of `{ type: 'text', text }` parts joined with line breaks (as
 * llama-server joins them). An assistant message may have `null` content (OpenAI sends that
 * for tool calls). Images and audio are a 400: the engine reads text only.
 */
function content(value: unknown, param: string, role: string): string {
  if (typeof value === 'string') return value;
  if (value === null && role === 'assistant') return '';
  if (!Array.isArray(value)) throw invalidField(param, 'a string or an array of text parts', value);
  return value
    .map((part: unknown, i) => {
      const p = part as Body | null;
      if (p === null || typeof p !== 'object' || p['type'] !== 'text' || typeof p['text'] !== 'string') {
        throw invalidField(`${param}[${i}]`, "a { type: 'text', text } part (only text is supported)", p === null || typeof p !== 'object' ? p : p['type']);
      }
      return p['text'] as string;
    })
    .join('\n');
}
