/**
 * A conversation kept in a context: each turn evaluates only what is new since the last one.
 *
 * The session remembers the exact tokens the model has seen (the formatted history plus the
 * tokens it generated itself, not a re-tokenization of its text) and sends that history
 * followed by the template's tokens for the new user message. The context keeps the KV cache
 * entries of the longest common prefix (`cachePrompt`), so a turn costs its own tokens only.
 */
import { chatMessages, type ChatMessage, type FormattedChat } from './chat-template.js';
import {
  CHAT_TEMPLATE_KEYS,
  resolveChatTemplateOptions,
  splitChatOptions,
  type ChatOptions,
  type ChatTemplateOptions,
  type ResolvedChatTemplateOptions,
} from './options/chat.js';
import { LlamaError, captureCallerStack, type CallerStack } from './errors.js';
import type { Generation, GenerationResult } from './generation.js';
import { INTERNAL, assertInternal } from './lifetime.js';
import type { ResolvedGenerateOptions } from './options/generate.js';
import { enumOption, integerOption, optionsObject, stringArgument } from './validate.js';

/**
 * What a session does when the next prompt would not leave `reserveTokens` free:
 * - `'dropOldestTurns'`: forget the oldest user/assistant exchanges, keeping the leading
 *   system message(s) and the new message; the shortened conversation is evaluated again
 *   (its start, the system part, still comes from the KV cache).
 * - `'error'`: send the prompt as it is; a prompt that does not fit at all rejects with
 *   `ERR_CONTEXT_FULL`, and a reply that fills the context ends with `finishReason: 'length'`.
 */
export type ContextOverflow = 'dropOldestTurns' | 'error';

/** Options of {@link Context.createChatSession}. */
export interface ChatSessionOptions extends ChatTemplateOptions {
  /** A system message to start the conversation with. */
  systemPrompt?: string;
  /** Messages to start from (after `systemPrompt`), e.g. a restored conversation. */
  messages?: readonly ChatMessage[];
  /** See {@link ContextOverflow}. Default `'dropOldestTurns'`. */
  contextOverflow?: ContextOverflow;
  /**
   * Tokens that must stay free for the reply when a turn starts; only used by
   * `'dropOldestTurns'`. Default: the turn's `maxTokens` when set, else a quarter of the
   * context, at most half of it.
   */
  reserveTokens?: number;
}

/**
 * What a chat session needs from its context.
 * @internal
 */
export interface ChatSessionHost {
  /** Whether generated text starts with the tokenizer's word-start space (SentencePiece). */
  readonly spaceBeforeText: boolean;
  /** Formats and tokenizes a conversation with the model's vocabulary. */
  formatChat(messages: readonly ChatMessage[], addAssistant: boolean, options: ResolvedChatTemplateOptions): FormattedChat;
  /** Tokens one generation of the context can hold; throws ERR_DISPOSED once disposed. */
  size(): number;
  /** Queues a generation of `prompt` on the context. */
  start(
    prompt: Int32Array,
    resolved: ResolvedGenerateOptions,
    callerStack: CallerStack,
    onFinish: (result: GenerationResult) => void,
  ): Generation;
}

const SESSION_KEYS = [...CHAT_TEMPLATE_KEYS, 'systemPrompt', 'messages', 'contextOverflow', 'reserveTokens'] as const;
const OVERFLOW_MODES = ['dropOldestTurns', 'error'] as const;

/**
 * A conversation in one {@link Context}, created with {@link Context.createChatSession}.
 * One turn runs at a time. Other jobs may use the same context between turns; the next turn
 * then re-evaluates whatever they replaced.
 */
export class ChatSession {
  readonly #host: ChatSessionHost;
  readonly #template: ResolvedChatTemplateOptions;
  readonly #overflow: ContextOverflow;
  readonly #reserve: number | undefined;
  #messages: ChatMessage[];
  /** The tokens the model has seen for `#messages`, when known exactly (else re-formatted). */
  #history: number[] | null = null;
  #busy = false;

  /** @internal Use {@link Context.createChatSession}. */
  constructor(token: typeof INTERNAL, host: ChatSessionHost, options?: ChatSessionOptions) {
    assertInternal(token, 'ChatSession');
    this.#host = host;
    const o = optionsObject(options, 'chat session options', SESSION_KEYS);
    this.#template = resolveChatTemplateOptions(o);
    this.#overflow =
      o['contextOverflow'] === undefined ? 'dropOldestTurns' : enumOption('contextOverflow', o['contextOverflow'], OVERFLOW_MODES);
    this.#reserve =
      o['reserveTokens'] === undefined
        ? undefined
        : integerOption('reserveTokens', o['reserveTokens'], { min: 0, max: host.size() - 1 });
    const system =
      o['systemPrompt'] === undefined
        ? []
        : chatMessages('systemPrompt', [{ role: 'system', content: stringArgument('systemPrompt', o['systemPrompt']) }]);
    this.#messages = [...system, ...(o['messages'] === undefined ? [] : chatMessages('messages', o['messages']))];
  }

  /** The conversation as the model sees it now (oldest turns may have been dropped). */
  get messages(): readonly ChatMessage[] {
    return this.#messages.map((m) => ({ ...m }));
  }

  /** Whether a turn is running. */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Adds a user message and generates the reply. The returned {@link Generation} streams it;
   * once it has finished (before `result` resolves) the reply is part of the conversation.
   *
   * @param text - the user's message
   * @param options - generation options (and template options overriding the session's)
   * @throws LlamaError `ERR_BUSY` - synchronously, while the previous turn is running
   */
  send(text: string, options?: ChatOptions): Generation {
    const callerStack = captureCallerStack(this.send);
    if (this.#busy) throw new LlamaError('ERR_BUSY', 'A ChatSession runs one turn at a time; wait for the previous reply');
    const [user] = chatMessages('text', [{ role: 'user', content: stringArgument('text', text) }]);
    const { generate, template } = splitChatOptions(options, 'send options');
    const format = { ...this.#template, ...definedOnly(template, options) };
    const size = this.#host.size();
    const reserve =
      this.#reserve ?? Math.min(generate.maxTokens > 0 ? generate.maxTokens : Math.floor(size / 4), Math.floor(size / 2));

    let messages = [...this.#messages, user!];
    let prompt = this.#nextPrompt(messages, format);
    if (this.#overflow === 'dropOldestTurns' && prompt.length + reserve > size) {
      messages = this.#fit(messages, format, size - reserve);
      prompt = this.#host.formatChat(messages, true, format).tokens;
    }
    const onFinish = (result: GenerationResult): void => {
      this.#busy = false;
      this.#remember(messages, prompt, result, format);
    };
    const generation = this.#host.start(Int32Array.from(prompt), generate, callerStack, onFinish);
    this.#busy = true;
    generation.result.catch(() => {
      this.#busy = false; // failed turn: the conversation stays as it was
    });
    return generation;
  }

  /** History + the template's tokens for the new message, or the whole conversation formatted anew. */
  #nextPrompt(messages: ChatMessage[], format: ResolvedChatTemplateOptions): number[] {
    const full = this.#host.formatChat(messages, true, format).tokens;
    if (this.#history === null) return full;
    const before = this.#host.formatChat(this.#messages, false, format).tokens;
    if (!startsWith(full, before)) return full; // the template rewrites earlier turns
    return [...this.#history, ...full.slice(before.length)];
  }

  /** Drops the oldest exchanges after the leading system messages until the prompt fits `limit`. */
  #fit(messages: ChatMessage[], format: ResolvedChatTemplateOptions, limit: number): ChatMessage[] {
    const system = messages.findIndex((m) => m.role !== 'system');
    const head = messages.slice(0, system);
    let turns = messages.slice(system);
    while (turns.length > 1 && this.#host.formatChat([...head, ...turns], true, format).tokens.length > limit) {
      // One exchange: the oldest message and everything up to the next user message.
      const next = turns.findIndex((m, i) => i > 0 && m.role === 'user');
      turns = turns.slice(next > 0 ? next : turns.length - 1);
    }
    this.#history = null;
    return [...head, ...turns];
  }

  /** Records the finished turn: the reply joins the conversation, its tokens the history. */
  #remember(messages: ChatMessage[], prompt: number[], result: GenerationResult, format: ResolvedChatTemplateOptions): void {
    // SentencePiece replies start with the word-start space that the template adds back.
    const content = this.#host.spaceBeforeText ? result.text.replace(/^ /, '') : result.text;
    const withReply = [...messages, { role: 'assistant', content }];
    this.#messages = withReply;
    this.#history = null;
    // After a stop string the tokens hold text the reply does not: format the reply anew.
    if (result.finishReason === 'stop') return;
    const formatted = this.#host.formatChat(withReply, false, format);
    if (formatted.afterLastContent === null) return;
    // The template's closing of the reply (e.g. `</s>`) follows the tokens the model produced.
    this.#history = [...prompt, ...result.tokens, ...formatted.tokens.slice(formatted.afterLastContent)];
  }
}

function startsWith(list: readonly number[], prefix: readonly number[]): boolean {
  return prefix.length <= list.length && prefix.every((t, i) => list[i] === t);
}

/** The template options the caller actually set for this turn. */
function definedOnly(template: ResolvedChatTemplateOptions, options: ChatOptions | undefined): Partial<ResolvedChatTemplateOptions> {
  const out: Partial<ResolvedChatTemplateOptions> = {};
  if (options?.template !== undefined) out.template = template.template;
  if (options?.specialTokensInContent !== undefined) out.specialTokensInContent = template.specialTokensInContent;
  return out;
}
