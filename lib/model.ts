/**
 * Loading a GGUF model and the {@link Model} class: metadata, tokenizer, contexts.
 */
import { LlamaError, callNative, callNativeSync, captureCallerStack, disposedError, withCallerStack } from './errors.js';
import { loadAddon } from './addon.js';
import { chatMessages, formatChat, formatChatAsync, type ChatMessage, type ChatVocabulary, type FormattedChat } from './chat-template.js';
import type { ResolvedChatTemplateOptions } from './options/chat.js';
import { openContext, type Context, type ContextOwner } from './context.js';
import { readModelFiles, type ModelFiles } from './model-files.js';
import { modelInfo, type ModelInfo } from './model-info.js';
import { INTERNAL, assertInternal } from './lifetime.js';
import { guardCallback } from './logger.js';
import type { NativeModel } from './native.js';
import { listDevices } from './devices.js';
import type { OutputDevice } from './sampling.js';
import { resolveContextOptions, type ContextOptions, type Pooling } from './options/context.js';
import { nativeModelParams, resolveLoadModelOptions, type LoadModelOptions } from './options/load.js';
import { fitGpuLayers, modelShape } from './estimate.js';
import { allocationFailure, checkContextMemory, checkLoadMemory, type LoadPlan } from './memory-check.js';
import { ADVICE, type OutOfMemoryError } from './memory-limits.js';
import { checkModelConsistency } from './model-consistency.js';
import { connectRpcServers } from './rpc/client.js';
import {
  resolveApplyChatTemplateOptions,
  resolveDetokenizeOptions,
  resolveTokenizeOptions,
  type ApplyChatTemplateOptions,
  type DetokenizeOptions,
  type TokenizeOptions,
} from './options/text.js';
import { integerOption, nonEmptyString, stringArgument, toWellFormed, tokenIds } from './validate.js';

export type { ApplyChatTemplateOptions, DetokenizeOptions, TokenizeOptions };

/**
 * A loaded model. Create one with {@link loadModel}; free it with {@link Model.dispose} or
 * `await using`. Disposing a model disposes every context created from it.
 */
export class Model implements AsyncDisposable {
  /** Facts about the model (architecture, sizes, vocabulary, quantisation). */
  readonly info: ModelInfo;

  readonly #native: NativeModel;
  readonly #vocabOnly: boolean;
  readonly #contexts = new Set<Context>();
  readonly #owner: ContextOwner;
  readonly #decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  readonly #chatVocabulary: ChatVocabulary;
  readonly #plan: LoadPlan | undefined;
  #disposed = false;
  #disposing: Promise<void> | undefined;

  /** @internal Use {@link loadModel}. `plan`: how it was loaded, for the memory pre-checks. */
  constructor(token: typeof INTERNAL, nativeModel: NativeModel, info: ModelInfo, vocabOnly: boolean, plan?: LoadPlan) {
    assertInternal(token, 'Model');
    this.#native = nativeModel;
    this.#plan = plan;
    this.info = info;
    this.#vocabOnly = vocabOnly;
    let controlTokens: Array<[number, string]> | undefined;
    this.#chatVocabulary = {
      render: (template, messages, addAssistant) =>
        callNativeSync(() => this.#native.applyChatTemplate(template, [...messages], addAssistant)),
      controlTokens: () =>
        (controlTokens ??= callNativeSync(() => this.#native.controlTokens()).sort((a, b) => b[1].length - a[1].length)),
      tokenizeRaw: (text) => this.#tokenize(text, false, false),
      tokenizeRawMany: (texts) => this.#tokenizeMany(texts, false, false),
      bosToken: info.bosToken,
      addBos: info.addBos,
    };
    this.#owner = {
      vocabularySize: info.vocabularySize,
      spaceBeforeText: info.vocabularyType === SPM_VOCABULARY,
      outputDevice: outputDevice(plan),
      tokenizePrompt: (text) => this.#tokenize(text, true, false),
      formatChat: (messages, addAssistant, options) => this.#formatChat(messages, addAssistant, options),
    };
  }

  /** Whether {@link Model.dispose} has been called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Converts text to token ids. Lone UTF-16 surrogates are encoded as U+FFFD.
   * @param text - any string (may be empty)
   * @param options - see {@link TokenizeOptions}
   */
  tokenize(text: string, options?: TokenizeOptions): number[] {
    this.#assertUsable();
    const { addSpecial, parseSpecial } = resolveTokenizeOptions(options, 'tokenize options');
    return Array.from(this.#tokenize(stringArgument('text', text), addSpecial, parseSpecial));
  }

  /**
   * {@link Model.tokenize} off the JS thread, for long texts: tokenizing costs about 0.6 ms per
   * KB of text (64 ms for 100 KB with the Llama vocabulary on a 2-vCPU machine), which
   * `tokenize` spends blocking the event loop. Short texts are faster with `tokenize` (no thread
   * hop). The model may be disposed meanwhile: the running call still completes.
   * @param text - any string (may be empty)
   * @param options - see {@link TokenizeOptions}
   */
  async tokenizeAsync(text: string, options?: TokenizeOptions): Promise<number[]> {
    const callerStack = captureCallerStack(this.tokenizeAsync);
    this.#assertUsable();
    const { addSpecial, parseSpecial } = resolveTokenizeOptions(options, 'tokenizeAsync options');
    const [ids] = await this.#tokenizeMany([stringArgument('text', text)], addSpecial, parseSpecial).catch((error: unknown) => {
      throw withCallerStack(error as Error, callerStack);
    });
    return Array.from(ids!);
  }

  /**
   * Converts token ids to text. Bytes that do not form valid UTF-8 (a token sequence that
   * ends inside a character) become U+FFFD.
   * @param tokens - ids in `[0, vocabularySize)`; others are a RangeError
   * @param options - see {@link DetokenizeOptions}
   */
  detokenize(tokens: readonly number[], options?: DetokenizeOptions): string {
    this.#assertUsable();
    const ids = tokenIds('tokens', tokens, this.info.vocabularySize);
    const { removeSpecial, unparseSpecial } = resolveDetokenizeOptions(options);
    if (ids.length === 0) return '';
    return this.#decoder.decode(callNativeSync(() => this.#native.detokenize(ids, removeSpecial, unparseSpecial)));
  }

  /**
   * The bytes one token contributes to text — llama.cpp's `llama_token_to_piece`, with a
   * SentencePiece token's leading space kept (which {@link Model.detokenize} drops at the start
   * of a text) and control tokens such as `</s>` as their text. A piece may be part of a UTF-8
   * character, which is why this returns bytes (OpenAI's `logprobs[].bytes`).
   * @param token - an id in `[0, vocabularySize)`
   */
  tokenPiece(token: number): Uint8Array {
    this.#assertUsable();
    const id = integerOption('token', token, { min: 0, max: this.info.vocabularySize - 1 });
    return callNativeSync(() => this.#native.tokenPiece(id, true));
  }

  /**
   * Formats a conversation with the model's chat template (or `options.template`) through
   * llama.cpp's template support. With `tokenize: true` it returns the exact prompt tokens:
   * BOS once, special tokens only where the template puts them (a message's `"</s>"` stays
   * text), and for `[INST]` (Mistral/Llama 2) templates each marker and message tokenized on
   * its own, as the Mixtral model card's recipe does.
   *
   * @param messages - the conversation, `{ role, content }` each
   * @param options - see {@link ApplyChatTemplateOptions}
   * @throws LlamaError `ERR_CHAT_TEMPLATE` when the model has no template (and none is given)
   *   or llama.cpp does not recognise it
   */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ApplyChatTemplateOptions & { tokenize?: false }): string;
  applyChatTemplate(messages: readonly ChatMessage[], options: ApplyChatTemplateOptions & { tokenize: true }): number[];
  applyChatTemplate(messages: readonly ChatMessage[], options?: ApplyChatTemplateOptions): string | number[];
  applyChatTemplate(messages: readonly ChatMessage[], options?: ApplyChatTemplateOptions): string | number[] {
    this.#assertUsable();
    const list = chatMessages('messages', messages);
    const { addAssistant, tokenize, format } = resolveApplyChatTemplateOptions(options, 'applyChatTemplate options');
    if (!tokenize) return callNativeSync(() => this.#native.applyChatTemplate(format.template, list, addAssistant));
    return this.#formatChat(list, addAssistant, format).tokens;
  }

  /**
   * {@link Model.applyChatTemplate} with the tokenizing done off the JS thread (see
   * {@link Model.tokenizeAsync}), for long conversations; the same result. Formatting itself
   * (llama.cpp's template) stays on the calling thread: it is a small part of the cost.
   * @param messages - the conversation, `{ role, content }` each
   * @param options - see {@link ApplyChatTemplateOptions}
   * @throws LlamaError `ERR_CHAT_TEMPLATE` (as a rejection), as {@link Model.applyChatTemplate}
   */
  applyChatTemplateAsync(messages: readonly ChatMessage[], options?: ApplyChatTemplateOptions & { tokenize?: false }): Promise<string>;
  applyChatTemplateAsync(messages: readonly ChatMessage[], options: ApplyChatTemplateOptions & { tokenize: true }): Promise<number[]>;
  applyChatTemplateAsync(messages: readonly ChatMessage[], options?: ApplyChatTemplateOptions): Promise<string | number[]>;
  async applyChatTemplateAsync(messages: readonly ChatMessage[], options?: ApplyChatTemplateOptions): Promise<string | number[]> {
    const callerStack = captureCallerStack(this.applyChatTemplateAsync);
    this.#assertUsable();
    const list = chatMessages('messages', messages);
    const { addAssistant, tokenize, format } = resolveApplyChatTemplateOptions(options, 'applyChatTemplateAsync options');
    if (!tokenize) return callNativeSync(() => this.#native.applyChatTemplate(format.template, list, addAssistant));
    try {
      return (await formatChatAsync(this.#chatVocabulary, list, addAssistant, format)).tokens;
    } catch (error) {
      throw withCallerStack(error as Error, callerStack);
    }
  }

  /**
   * Creates a context (KV cache + inference thread) for generation.
   * @param options - sizes and threads, see {@link ContextOptions}
   * @throws TypeError / RangeError - (as a rejection) for invalid options
   * @throws LlamaError `ERR_OUT_OF_MEMORY` ({@link OutOfMemoryError}) when its KV cache and
   *   compute buffers do not fit in the memory this process can get (checked before
   *   allocating), or an allocation inside llama.cpp failed; `ERR_CONTEXT_CREATE` when llama.cpp
   *   cannot create it otherwise (e.g. a model loaded with `vocabOnly`); `ERR_DISPOSED` when the
   *   model is disposed
   */
  async createContext(options?: ContextOptions): Promise<Context> {
    const callerStack = captureCallerStack(this.createContext);
    this.#assertUsable();
    const params = resolveContextOptions(options, this.info.trainedContextLength);
    if (params.embeddings && params.pooling === undefined) params.pooling = modelPooling(this.info);
    if (this.#vocabOnly) {
      throw new LlamaError('ERR_CONTEXT_CREATE', 'Cannot create a context: the model was loaded with vocabOnly');
    }
    const what = `A context of ${params.contextSize} tokens (${params.sequences} sequence${params.sequences === 1 ? '' : 's'})`;
    let needed = 0;
    try {
      if (this.#plan) needed = await checkContextMemory(this.#plan, this.info, params, what);
    } catch (error) {
      throw withCallerStack(error as Error, callerStack);
    }
    this.#assertUsable();
    const nativeContext = callNativeSync(() => new (loadAddon().Context)(this.#native), 'ERR_CONTEXT_CREATE');
    try {
      return await openContext(this.#owner, nativeContext, params, (context) => {
        this.#contexts.add(context);
        return () => this.#contexts.delete(context);
      });
    } catch (error) {
      throw withCallerStack(allocationFailure(error, what, needed, ADVICE.context) ?? (error as Error), callerStack);
    }
  }

  /**
   * Disposes every context of this model (aborting their work), then frees the model.
   * Idempotent: every call returns the same promise.
   */
  dispose(): Promise<void> {
    this.#disposing ??= this.#dispose();
    return this.#disposing;
  }

  /** Same as {@link Model.dispose}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  async #dispose(): Promise<void> {
    this.#disposed = true;
    const results = await Promise.allSettled([...this.#contexts].map((context) => context.dispose()));
    this.#native.dispose();
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure) throw failure.reason;
  }

  #formatChat(messages: readonly ChatMessage[], addAssistant: boolean, options: ResolvedChatTemplateOptions): FormattedChat {
    this.#assertUsable();
    return formatChat(this.#chatVocabulary, messages, addAssistant, options);
  }

  #tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array {
    this.#assertUsable();
    return callNativeSync(() => this.#native.tokenize(toWellFormed(text), addSpecial, parseSpecial));
  }

  #tokenizeMany(texts: string[], addSpecial: boolean, parseSpecial: boolean): Promise<Int32Array[]> {
    this.#assertUsable();
    return callNative(() => this.#native.tokenizeMany(texts.map(toWellFormed), addSpecial, parseSpecial));
  }

  #assertUsable(): void {
    if (this.#disposed) throw disposedError('The model');
  }
}

/**
 * Loads a GGUF model file off the JS thread.
 *
 * The file's header is checked in TypeScript first, so a missing, empty, truncated or corrupt
 * file is an error (`ERR_MODEL_LOAD`, with the precise reason as `cause`) instead of a crash
 * inside llama.cpp.
 *
 * @param path - path of a `.gguf` file
 * @param options - see {@link LoadModelOptions}
 * @throws TypeError / RangeError - (as a rejection) for an invalid path or options
 * @throws LlamaError `ERR_MODEL_LOAD` (the file is unusable; `cause` has `ERR_FILE_NOT_FOUND`,
 *   `ERR_NOT_A_FILE`, `ERR_GGUF_INVALID` or the native error), `ERR_ABORTED` (the signal fired),
 *   `ERR_OUT_OF_MEMORY` ({@link OutOfMemoryError}: weights that must be resident with
 *   `useMmap: false` or `useMlock`, or offloaded with `gpuLayers`, do not fit — checked before
 *   loading — or an allocation inside llama.cpp failed)
 */
export async function loadModel(path: string, options?: LoadModelOptions): Promise<Model> {
  const callerStack = captureCallerStack(loadModel);
  nonEmptyString('path', path);
  const opts = resolveLoadModelOptions(options, () => listDevices().map((d) => d.name));
  const { signal } = opts;
  const aborted = (): LlamaError => new LlamaError('ERR_ABORTED', `Loading "${path}" was aborted`, { cause: signal?.reason });
  if (signal?.aborted) throw aborted();

  let files: ModelFiles;
  let shape: ReturnType<typeof modelShape>;
  try {
    files = await readModelFiles(path);
    shape = modelShape(files.first);
    checkModelConsistency(files, opts);
  } catch (error) {
    throw withCallerStack(
      new LlamaError('ERR_MODEL_LOAD', `Cannot load model "${path}": ${messageOf(error)}`, { cause: error }),
      callerStack,
    );
  }
  if (signal?.aborted) throw aborted();
  if (opts.rpcServers.length > 0) {
    // Reached and greeted here, so that llama.cpp never meets an unreachable server (ERR_RPC).
    await connectRpcServers(opts.rpcServers, opts.rpcTimeout).catch((error: unknown) => {
      throw withCallerStack(error as Error, callerStack);
    });
    if (signal?.aborted) throw aborted();
  }
  let gpuLayers: number;
  if (opts.gpuLayers === 'auto' && !opts.vocabOnly) {
    try {
      gpuLayers = await fitGpuLayers(path, opts, shape);
    } catch (error) {
      throw withCallerStack(error as Error, callerStack);
    }
    if (signal?.aborted) throw aborted();
  } else {
    gpuLayers = opts.gpuLayers === 'auto' ? 0 : opts.gpuLayers;
  }
  const plan: LoadPlan = { path, opts, gpuLayers, layerCount: shape.layerCount };
  let needed: number;
  try {
    needed = await checkLoadMemory(plan, files, opts.gpuLayers === 'auto');
  } catch (error) {
    throw withCallerStack(error as Error, callerStack);
  }
  if (signal?.aborted) throw aborted();

  const nativeModel = new (loadAddon().Model)();
  const onAbort = (): void => nativeModel.abortLoad();
  signal?.addEventListener('abort', onAbort, { once: true });
  const onProgress = opts.onProgress ? guardCallback('onProgress', opts.onProgress) : null;
  try {
    await nativeModel.load(path, nativeModelParams(opts, gpuLayers, shape.layerCount), onProgress);
    // The signal may fire after the last progress report: the caller still asked to abort.
    if (signal?.aborted) throw aborted();
    const addon = loadAddon();
    const info = modelInfo(path, files, nativeModel.info(), opts.vocabOnly, (type) => addon.fileTypeName(type));
    return new Model(INTERNAL, nativeModel, info, opts.vocabOnly, plan);
  } catch (error) {
    try {
      nativeModel.dispose();
    } catch {
      // Already freed by the failed load; the load error is the one worth reporting.
    }
    const failure = signal?.aborted
      ? aborted()
      : error instanceof LlamaError
        ? error
        : (error as { code?: unknown } | null)?.code === 'ERR_RPC' // a remote server failed during the load
          ? new LlamaError('ERR_RPC', `Cannot load model "${path}": ${messageOf(error)}`, { cause: error })
          : (allocationFailure(error, `Model "${path}"`, needed, ADVICE.load) ??
            new LlamaError('ERR_MODEL_LOAD', `Cannot load model "${path}": ${messageOf(error)}`, { cause: error }));
    throw withCallerStack(failure, callerStack);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Where the model's output layer runs, for device sampling (lib/sampling.ts). llama.cpp offloads
 * the output layer first (-ngl 1 puts it on the GPU; -1 is 'max'). Models split over RPC servers
 * count as 'cpu': there the sampler's graph re-plan at a request's start meets a dead server as an
 * allocation failure (ERR_OUT_OF_MEMORY) instead of ERR_RPC.
 */
function outputDevice(plan: LoadPlan | undefined): OutputDevice {
  if (plan === undefined || plan.gpuLayers === 0 || plan.opts.rpcServers.length > 0) return 'cpu';
  const gpu = listDevices().find((d) => d.type === 'gpu' || d.type === 'igpu');
  if (gpu === undefined) return 'cpu';
  return gpu.backend.toLowerCase() === 'vulkan' ? 'vulkan' : 'gpu';
}

/** The model's own pooling (`<arch>.pooling_type`); `'mean'` when it has none. */
function modelPooling(info: ModelInfo): Pooling {
  const byNumber: Record<string, Pooling> = { '1': 'mean', '2': 'cls', '3': 'last', '4': 'rank' };
  return byNumber[info.metadata[`${info.architecture}.pooling_type`] ?? ''] ?? 'mean';
}

/** llama_vocab_type of SentencePiece vocabularies (Llama, Mistral): text pieces start with a space. */
const SPM_VOCABULARY = 1;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
