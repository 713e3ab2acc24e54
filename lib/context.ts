/**
 * A llama.cpp context: the KV cache and the inference thread that generations run on.
 */
import { LlamaError, callNative, type CallerStack, captureCallerStack, disposedError, fromNativeError, withCallerStack } from './errors.js';
import { splitChatOptions, type ChatOptions, type ResolvedChatTemplateOptions } from './options/chat.js';
import { ChatSession, type ChatSessionHost, type ChatSessionOptions } from './chat-session.js';
import { chatMessages, type ChatMessage, type FormattedChat } from './chat-template.js';
import { Generation, type GenerationHost, type GenerationResult } from './generation.js';
import { INTERNAL, assertInternal, noop } from './lifetime.js';
import type { NativeContext } from './native.js';
import type { ResolvedContextOptions } from './options/context.js';
import { resolveGenerateOptions, type GenerateOptions, type ResolvedGenerateOptions } from './options/generate.js';
import { buildSamplerChain, samplesOnDevice, type OutputDevice } from './sampling.js';
import { argRangeError, booleanOption, optionsObject, tokenIds, typeError } from './validate.js';

/**
 * What a context needs from the model that created it.
 * @internal
 */
export interface ContextOwner {
  /** Vocabulary size, to validate token ids before they reach llama.cpp. */
  readonly vocabularySize: number;
  /** Whether generated text starts with the tokenizer's word-start space (SentencePiece). */
  readonly spaceBeforeText: boolean;
  /** Where the output layer runs (lib/sampling.ts decides device sampling from it). */
  readonly outputDevice: OutputDevice;
  /** Tokenizes prompt text: the model's own BOS rules, special-token text stays text. */
  tokenizePrompt(text: string): Int32Array;
  /** Formats and tokenizes a conversation (lib/chat-template.ts). */
  formatChat(messages: readonly ChatMessage[], addAssistant: boolean, options: ResolvedChatTemplateOptions): FormattedChat;
}

/** Set once by the class's static block: the only way to run a context's private init. */
let initContext: (context: Context) => Promise<void>;

/**
 * A context of a loaded {@link Model}: holds the conversation state (KV cache) and runs
 * generations on its own inference thread. Created with {@link Model.createContext}; disposed
 * with {@link Context.dispose}, `await using`, or when its model is disposed.
 *
 * A context runs up to `sequences` generations at once (continuous batching: one decode per
 * step for all of them); further ones wait for a free sequence, first come first served.
 * Each sequence remembers what it evaluated last: a generation whose prompt starts with the
 * same tokens evaluates only the rest (`cachePrompt`, on by default), and a new generation
 * goes to the free sequence sharing the longest prefix with its prompt. `evaluate` always
 * starts from an empty sequence.
 */
export class Context implements AsyncDisposable {
  readonly #owner: ContextOwner;
  readonly #native: NativeContext;
  readonly #params: ResolvedContextOptions;
  readonly #onDisposed: () => void;
  readonly #host: GenerationHost;
  #size = 0;
  #sequenceSize = 0;
  #disposed = false;
  #disposing: Promise<void> | undefined;
  /** Settles (never rejects) when native init has finished, successfully or not. */
  #initSettled: Promise<void> = Promise.resolve();

  static {
    initContext = (context) => context.#init();
  }

  /** @internal Use {@link Model.createContext}. */
  constructor(
    token: typeof INTERNAL,
    owner: ContextOwner,
    nativeContext: NativeContext,
    params: ResolvedContextOptions,
    onDisposed: () => void,
  ) {
    assertInternal(token, 'Context');
    this.#owner = owner;
    this.#native = nativeContext;
    this.#params = params;
    this.#onDisposed = onDisposed;
    const self = this;
    this.#host = {
      // The addon schedules: generations run together, or wait for a free sequence in order.
      enqueue: (job) => job(),
      assertUsable: () => this.#assertUsable(),
      get disposed() {
        return self.#disposed;
      },
      get size() {
        return self.#sequenceSize;
      },
      generate: (prompt, sampler, params, onTokens) => this.#native.generate(prompt, sampler, params, onTokens),
      abort: (id) => this.#native.abort(id),
    };
  }

  /** Tokens this context holds (llama.cpp may allocate a little more than requested). */
  get size(): number {
    this.#assertUsable();
    return this.#size;
  }

  /**
   * Tokens one generation can hold: {@link Context.size} split evenly between the context's
   * `sequences` (equal to `size` with one sequence).
   */
  get sequenceSize(): number {
    this.#assertUsable();
    return this.#sequenceSize;
  }

  /** Generations this context runs at once (the `sequences` option). */
  get sequences(): number {
    return this.#params.sequences;
  }

  /** Whether {@link Context.dispose} has been called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Generates text after `prompt`. Returns at once; the job is queued and starts as soon as
   * the context is free, whether or not the result is iterated.
   *
   * @param prompt - text (tokenized with the model's BOS rules; special-token text such as
   *   `</s>` stays plain text), or token ids used exactly as given
   * @param options - sampling and stopping options, see {@link GenerateOptions}
   * @returns the running {@link Generation}: iterate it for chunks, await `.result` for totals
   * @throws TypeError / RangeError - synchronously, for invalid options or an empty prompt
   * @throws LlamaError `ERR_DISPOSED` - synchronously, when the context is disposed
   *
   * Errors that depend on running (`ERR_CONTEXT_FULL` when the prompt does not leave room for
   * one generated token, `ERR_DISPOSED` when disposed while queued or running, `ERR_DECODE`)
   * reject `result` and are thrown by the iteration.
   */
  generate(prompt: string | readonly number[], options?: GenerateOptions): Generation {
    const callerStack = captureCallerStack(this.generate);
    this.#assertUsable();
    this.#assertGenerative('generate');
    const resolved = resolveGenerateOptions(options);
    return this.#start(this.#promptTokens(prompt), resolved, callerStack);
  }

  /**
   * Generates the assistant's reply to a conversation: the messages are formatted with the
   * model's chat template (see {@link Model.applyChatTemplate} with `tokenize: true`) and
   * generation runs as in {@link Context.generate}. Each call is independent; for a
   * conversation that keeps its state between turns, use {@link Context.createChatSession}.
   *
   * @param messages - the conversation so far, ending with the user's message
   * @param options - generation options plus `template` / `specialTokensInContent`
   * @throws LlamaError `ERR_CHAT_TEMPLATE` - synchronously, when the template is missing or unknown
   */
  chat(messages: readonly ChatMessage[], options?: ChatOptions): Generation {
    const callerStack = captureCallerStack(this.chat);
    this.#assertUsable();
    this.#assertGenerative('chat');
    const list = chatMessages('messages', messages);
    const { generate, template } = splitChatOptions(options, 'chat options');
    const prompt = this.#owner.formatChat(list, true, template).tokens;
    return this.#start(Int32Array.from(prompt), generate, callerStack);
  }

  /**
   * Starts a conversation kept in this context: each turn evaluates only the tokens that are
   * new since the last one (its KV cache keeps the rest). See {@link ChatSession}.
   */
  createChatSession(options?: ChatSessionOptions): ChatSession {
    this.#assertUsable();
    this.#assertGenerative('createChatSession');
    return new ChatSession(INTERNAL, this.#sessionHost, options);
  }

  /**
   * Evaluates `tokens` from an empty sequence and returns the logits of the last one
   * (one score per vocabulary entry). Meant for tests and tools, e.g. to check sampling.
   *
   * @param tokens - 1 to {@link Context.sequenceSize} - 1 token ids
   * @returns a new `Float32Array` of length `vocabularySize`
   */
  async evaluate(tokens: readonly number[]): Promise<Float32Array> {
    const callerStack = captureCallerStack(this.evaluate);
    this.#assertUsable();
    this.#assertGenerative('evaluate');
    const ids = tokenIds('tokens', tokens, this.#owner.vocabularySize);
    if (ids.length === 0) throw argRangeError('Invalid argument "tokens": expected at least 1 token id, got 0');
    if (ids.length >= this.#sequenceSize) {
      throw new LlamaError(
        'ERR_CONTEXT_FULL',
        `Cannot evaluate ${ids.length} tokens in a sequence of ${this.#sequenceSize}`,
      );
    }
    try {
      return await this.#native.evaluate(ids);
    } catch (error) {
      const failure = this.#disposed
        ? new LlamaError('ERR_DISPOSED', 'The context was disposed during evaluation', { cause: error })
        : fromNativeError(error, 'ERR_DECODE');
      throw withCallerStack(failure, callerStack);
    }
  }

  /**
   * The embedding of `input` in an embedding context (`createContext({ embeddings: true })`):
   * the token states pooled as the context's `pooling` says, L2-normalised unless
   * `normalize: false`. Concurrent calls are evaluated together, up to `sequences` at a time.
   *
   * @param input - text (tokenized with the model's rules, BOS/EOS as the model asks) or token
   *   ids; at most `ubatchSize` tokens, since llama.cpp pools over one batch
   * @throws LlamaError `ERR_INVALID_ARG` on a context that is not an embedding context;
   *   `ERR_CONTEXT_FULL` when the input has more tokens than `ubatchSize`
   */
  async embed(input: string | readonly number[], options?: EmbedOptions): Promise<Float32Array> {
    const callerStack = captureCallerStack(this.embed);
    this.#assertUsable();
    if (!this.#params.embeddings) {
      throw new LlamaError('ERR_INVALID_ARG', 'embed() needs an embedding context: createContext({ embeddings: true })');
    }
    const o = optionsObject(options, 'embed options', ['normalize']);
    const normalize = o['normalize'] === undefined ? true : booleanOption('normalize', o['normalize']);
    const tokens = this.#promptTokens(input);
    if (tokens.length === 0) throw argRangeError('Invalid argument "input": expected at least 1 token, got an empty input');
    const limit = Math.min(this.#params.ubatchSize, this.#sequenceSize - 1);
    if (tokens.length > limit) {
      throw new LlamaError('ERR_CONTEXT_FULL', `The input has ${tokens.length} tokens; an embedding takes at most ${limit} (ubatchSize)`);
    }
    let vector: Float32Array;
    try {
      vector = await this.#native.embed(tokens);
    } catch (error) {
      const failure = this.#disposed
        ? new LlamaError('ERR_DISPOSED', 'The context was disposed during embedding', { cause: error })
        : fromNativeError(error, 'ERR_DECODE');
      throw withCallerStack(failure, callerStack);
    }
    return normalize ? l2Normalize(vector) : vector;
  }

  /**
   * Aborts the job in flight, fails queued jobs with `ERR_DISPOSED`, and frees the context
   * once native work has stopped. Idempotent: every call returns the same promise.
   */
  dispose(): Promise<void> {
    this.#disposing ??= this.#dispose();
    return this.#disposing;
  }

  /** Same as {@link Context.dispose}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  async #dispose(): Promise<void> {
    this.#disposed = true; // before any await: queued jobs see it when they start
    try {
      this.#native.abort();
    } catch {
      // Nothing in flight, or not initialised yet: nothing to abort.
    }
    try {
      await this.#initSettled;
      await callNative(() => this.#native.dispose());
    } finally {
      this.#onDisposed();
    }
  }

  async #init(): Promise<void> {
    const init = this.#native.init({ ...this.#params });
    this.#initSettled = init.then(noop, noop);
    try {
      await init;
    } catch (error) {
      // An allocation failure keeps its code: Model.createContext adds the numbers.
      if ((error as { code?: unknown } | null)?.code === 'ERR_OUT_OF_MEMORY') throw error;
      const code = (error as { code?: unknown } | null)?.code === 'ERR_RPC' ? 'ERR_RPC' : 'ERR_CONTEXT_CREATE'; // a remote server failed
      throw new LlamaError(code, `Cannot create the context: ${messageOf(error)}`, { cause: error });
    }
    if (this.#disposed) throw disposedError('The model');
    this.#size = this.#native.size();
    this.#sequenceSize = this.#native.sequenceSize();
  }

  #assertUsable(): void {
    if (this.#disposed) throw disposedError('The context');
  }

  #assertGenerative(method: string): void {
    if (this.#params.embeddings) {
      throw new LlamaError('ERR_INVALID_ARG', `${method}() needs logits, which an embedding context does not compute`);
    }
  }

  #start(
    prompt: Int32Array,
    resolved: ResolvedGenerateOptions,
    callerStack: CallerStack,
    onFinish?: (result: GenerationResult) => void,
  ): Generation {
    if (prompt.length === 0) throw argRangeError('Invalid argument "prompt": expected at least 1 token, got an empty prompt');
    const sampler = buildSamplerChain(resolved, this.#sequenceSize, this.#owner.vocabularySize);
    return new Generation(this.#host, {
      prompt,
      sampler,
      deviceSampling: samplesOnDevice(sampler, resolved, this.#owner.vocabularySize, this.#owner.outputDevice),
      maxTokens: resolved.maxTokens,
      cachePrompt: resolved.cachePrompt,
      priority: resolved.priority,
      topLogprobs: resolved.topLogprobs,
      stop: resolved.stop,
      signal: resolved.signal,
      callerStack,
      onFinish,
    });
  }

  /** What a {@link ChatSession} uses of its context. */
  get #sessionHost(): ChatSessionHost {
    return {
      spaceBeforeText: this.#owner.spaceBeforeText,
      formatChat: (messages, addAssistant, options) => this.#owner.formatChat(messages, addAssistant, options),
      size: () => this.sequenceSize,
      start: (prompt, resolved, callerStack, onFinish) => this.#start(prompt, resolved, callerStack, onFinish),
    };
  }

  #promptTokens(prompt: unknown): Int32Array {
    let tokens: Int32Array;
    if (typeof prompt === 'string') tokens = this.#owner.tokenizePrompt(prompt);
    else if (Array.isArray(prompt)) tokens = tokenIds('prompt', prompt, this.#owner.vocabularySize);
    else throw typeError('prompt', 'a string or an array of token ids', prompt, 'argument');
    return tokens;
  }
}

/**
 * Creates and initialises a context; on failure frees what was allocated.
 *
 * @param register - called with the new context before init (so disposing the model during
 *   init disposes it too); returns the function that unregisters it
 * @internal
 */
export async function openContext(
  owner: ContextOwner,
  nativeContext: NativeContext,
  params: ResolvedContextOptions,
  register: (context: Context) => () => void,
): Promise<Context> {
  let unregister: () => void = noop;
  const context = new Context(INTERNAL, owner, nativeContext, params, () => unregister());
  unregister = register(context);
  try {
    await initContext(context);
    return context;
  } catch (error) {
    await context.dispose().catch(noop);
    throw error;
  }
}

/** Options of {@link Context.embed}. */
export interface EmbedOptions {
  /** Scale the vector to unit length (cosine similarity becomes a dot product). Default `true`. */
  normalize?: boolean;
}

/** `vector` scaled to unit L2 norm (a zero vector stays zero). */
function l2Normalize(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! / norm;
  return vector;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
