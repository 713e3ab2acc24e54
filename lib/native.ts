/**
 * The one typed contract between the TypeScript layer and the C++ addon (src/): the types of
 * everything the addon exports, and nothing else. Loading it is lib/addon.ts's job. Native
 * failures are thrown/rejected as `Error`s whose `code` property is one of the codes of
 * src/error_codes.h, all of them in lib/errors.ts's list; lib/errors.ts turns them into
 * {@link LlamaError}s that carry the caller's stack.
 * @internal
 */

/** llama.cpp log levels as ggml numbers them (ggml_log_level). */
export const enum NativeLogLevel {
  None = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Cont = 5,
}

export interface NativeModelParams {
  /** Layers to offload; -1 means all. */
  gpuLayers: number;
  /** undefined/null: llama.cpp chooses (LLAMA_LOAD_MODE_AUTO). */
  useMmap: boolean | undefined | null;
  useMlock: boolean;
  /** Load only the vocabulary (no weights): enough for tokenize/detokenize. */
  vocabOnly: boolean;
  /** Absent: llama.cpp's default (0). */
  mainGpu?: number;
  /** llama_split_mode: 0 none, 1 layer, 2 row. Absent: llama.cpp's default (layer). */
  splitMode?: number;
  /** Proportions per device (≤ llama_max_devices()); absent or empty: llama.cpp's default. */
  tensorSplit?: number[];
  /**
   * Tensor-name regexes (std::regex, searched) → 'cpu' or a ggml device name, first match wins.
   * The addon compiles each pattern before the load and rejects bad ones with ERR_INVALID_ARG.
   */
  tensorOverrides?: Array<{ pattern: string; device: string }>;
  /**
   * RPC endpoints (`host:port`) whose devices hold part of the model, registered first with
   * rpcAddServers; their devices come first in the model's device list (llama.cpp's --rpc).
   * Once any server is registered, a model without them gets only local devices.
   */
  rpcServers?: string[];
}

/** One ggml backend device (ggml_backend_dev_*). */
export interface NativeDevice {
  name: string;
  description: string;
  type: 'cpu' | 'gpu' | 'igpu' | 'accel' | 'other';
  /** The backend (registry) name, e.g. "CPU", "CUDA", "Metal". */
  backend: string;
  /** Bytes, as ggml_backend_dev_memory reports them. */
  memoryFree: number;
  memoryTotal: number;
}

export interface NativeModelInfo {
  architecture: string;
  description: string;
  parameterCount: number;
  sizeBytes: number;
  /** llama_ftype number and its llama.cpp name (e.g. "Q4_K - Medium"). */
  fileType: number;
  fileTypeName: string;
  trainedContextLength: number;
  embeddingLength: number;
  layerCount: number;
  headCount: number;
  headCountKv: number;
  expertCount: number;
  expertUsedCount: number;
  vocabularySize: number;
  vocabularyType: number;
  chatTemplate: string | null;
  bosToken: number;
  eosToken: number;
  addBos: boolean;
  addEos: boolean;
  /** All GGUF key/value metadata as llama.cpp renders it. */
  metadata: Record<string, string>;
}

/** Bytes one device (or the host) would hold. */
export interface NativeMemoryUsage {
  name: string;
  weights: number;
  kvCache: number;
  compute: number;
  /** Free and total memory of the device now (ggml_backend_dev_memory). */
  free: number;
  memoryTotal: number;
}

export interface NativeMemoryEstimate {
  /** The devices the model would use, in llama.cpp's order (GPUs; empty when nothing is offloaded). */
  devices: NativeMemoryUsage[];
  host: NativeMemoryUsage;
}

export interface NativeContextParams {
  contextSize: number;
  batchSize: number;
  ubatchSize: number;
  threads: number;
  threadsBatch: number;
  /** ggml threadpool polling level 0..100 (0 = threads sleep between graph computations). */
  poll: number;
  /** Sequences the context serves at once (n_seq_max); the KV cache is split evenly between them. */
  sequences: number;
  /** An idle context's wait for more requests after one arrives, µs (0..1e6; absent or 0: none). */
  burstWindowMicros?: number;
  /** llama_flash_attn_type by name; absent: auto. */
  flashAttention?: 'auto' | 'on' | 'off';
  /** KV cache ggml types by name; absent: f16. A quantized V with flashAttention 'off' is ERR_INVALID_ARG. */
  kvCacheTypeK?: 'f16' | 'q8_0' | 'q4_0';
  kvCacheTypeV?: 'f16' | 'q8_0' | 'q4_0';
  /** Pooled embeddings instead of logits. */
  embeddings?: boolean;
  /** llama_pooling_type by name; absent: the model's own. */
  pooling?: 'mean' | 'cls' | 'last' | 'rank';
}

/** One stage of a sampler chain, applied in array order. Policy (order, defaults) lives in TS. */
export type NativeSamplerStage =
  | { type: 'penalties'; lastN: number; repeat: number; frequency: number; presence: number }
  | { type: 'topK'; k: number }
  | { type: 'topP'; p: number; minKeep: number }
  | { type: 'minP'; p: number; minKeep: number }
  | { type: 'temperature'; t: number }
  | { type: 'dist'; seed: number }
  | { type: 'greedy' }
  /** llama_sampler_init_logit_bias: `biases[i]` is added to the logit of `tokens[i]`; -Infinity bans it. */
  | { type: 'logitBias'; tokens: Int32Array; biases: Float32Array }
  /**
   * llama.cpp's grammar sampler over GBNF text (start rule `root`), compiled when the chain is
   * built (ERR_GRAMMAR if it does not compile). It constrains only generated tokens: the prompt
   * the engine feeds the chain is not given to it.
   */
  | { type: 'grammar'; grammar: string }
  /** The same, with the grammar converted from a JSON schema (JSON text) by json_schema_to_grammar. */
  | { type: 'jsonSchema'; schema: string };

export interface NativeGenerateParams {
  /** Stop after this many generated tokens; -1 = until end of generation or the context is full. */
  maxTokens: number;
  /** Chosen by the caller, unique among the context's running jobs: `abort(id)` aborts this one. */
  id: number;
  /**
   * Keep the longest common prefix of the prompt and the tokens the sequence holds from the
   * previous job (their KV entries), decode only the rest. false: start from an empty sequence.
   */
  cachePrompt: boolean;
  /** Higher: admitted and given prompt room first (equal: first come first served). */
  priority: number;
  /** `-1` (or absent): no log-probabilities; `k >= 0`: each token's and the `k` most likely ones. */
  topLogprobs?: number;
  /**
   * Sample inside the decode graph (llama.cpp's backend sampling, src/backend_sampling.h) if the
   * addon finds every stage of `sampler` can run there; otherwise, or absent, on the host.
   */
  deviceSampling?: boolean;
}

/**
 * Streamed from the inference thread, in order. `tokens` are the new token ids;
 * `bytes` the concatenated UTF-8 bytes of their pieces (may end inside a character).
 * With `topLogprobs` k >= 0: `logprobs[i]` is token i's log-probability, and `topIds` /
 * `topLogprobs` hold k entries per token (most likely first), token i's at `[i*k, (i+1)*k)`.
 */
export type NativeTokenCallback = (
  tokens: Int32Array,
  bytes: Uint8Array,
  logprobs?: Float32Array,
  topIds?: Int32Array,
  topLogprobs?: Float32Array,
) => void;

export type NativeFinishReason = 'eog' | 'length' | 'abort' | 'context-full';

export interface NativeGenerateResult {
  finishReason: NativeFinishReason;
  promptTokens: number;
  /** Prompt tokens kept from the previous job (not decoded again). */
  cachedTokens: number;
  generatedTokens: number;
  /** Microseconds spent decoding the prompt, and generating (sampling + decoding) after it. */
  promptMicros: number;
  generateMicros: number;
  /** `'device'`: every token was chosen inside the decode graph; `'host'`: by the host chain (or nothing was sampled). */
  sampledOn: 'device' | 'host';
}

export interface NativeModel {
  /** Loads the file off the JS thread. `onProgress` receives 0..1. Rejects with ERR_MODEL_LOAD / ERR_ABORTED. */
  load(path: string, params: NativeModelParams, onProgress: ((progress: number) => void) | null): Promise<void>;
  /** Makes a running load stop at its next progress report. */
  abortLoad(): void;
  info(): NativeModelInfo;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  /** Tokenizes every text on a libuv worker: one Int32Array per text, in order. Rejects ERR_NATIVE. */
  tokenizeMany(texts: string[], addSpecial: boolean, parseSpecial: boolean): Promise<Int32Array[]>;
  /** UTF-8 bytes of the tokens' text (may be invalid UTF-8 if the tokens split a character). */
  detokenize(tokens: Int32Array, removeSpecial: boolean, unparseSpecial: boolean): Uint8Array;
  /** The bytes of one token's piece (llama_token_to_piece; `special`: control tokens as their text). */
  tokenPiece(token: number, special: boolean): Uint8Array;
  /**
   * Formats a conversation with llama_chat_apply_template: `template` is a built-in name or a
   * template text llama.cpp recognises; null = the model's own. Throws ERR_CHAT_TEMPLATE.
   */
  applyChatTemplate(template: string | null, messages: Array<{ role: string; content: string }>, addAssistant: boolean): string;
  /** [id, text] of every control/unknown token: the ones parse_special matches as whole units. */
  controlTokens(): Array<[number, string]>;
  /** Frees the model once no context holds it any more. Idempotent. */
  dispose(): void;
}

export interface NativeContext {
  /** Creates the llama.cpp context and its inference thread. */
  init(params: NativeContextParams): Promise<void>;
  /** Context size actually allocated (llama_n_ctx). */
  size(): number;
  /** Tokens one sequence holds (llama_n_ctx_seq): the size split between the sequences. */
  sequenceSize(): number;
  /** Evaluates `tokens` in an empty sequence, resolves with the logits of the last one. */
  evaluate(tokens: Int32Array): Promise<Float32Array>;
  /**
   * Embedding contexts: evaluates `tokens` (all in one batch) in an empty sequence, resolves with
   * the pooled embedding (llama_get_embeddings_seq), not normalised.
   */
  embed(tokens: Int32Array): Promise<Float32Array>;
  /**
   * Queues a generation. The context's inference thread serves every queued generation at
   * once (one llama_decode per step for all, each in a sequence of its own) until end of
   * generation, `maxTokens`, a full sequence or abort(id). Rejects ERR_CONTEXT_FULL when the
   * prompt does not fit a sequence.
   */
  generate(
    prompt: Int32Array,
    sampler: NativeSamplerStage[],
    params: NativeGenerateParams,
    onTokens: NativeTokenCallback,
  ): Promise<NativeGenerateResult>;
  /** Aborts job `id` (its promise resolves with finishReason 'abort'), or every job when no id is given. */
  abort(id?: number): void;
  /** Aborts in-flight work, stops the inference thread and frees the context. Idempotent. */
  dispose(): Promise<void>;
}

export interface NativeQuantizeParams {
  /** Target `llama_ftype` (validated in TS: one llama.cpp produces without an importance matrix). */
  ftype: number;
  /** Threads for quantizing rows. */
  threads: number;
}

export interface NativeAddon {
  Model: new () => NativeModel;
  Context: new (model: NativeModel) => NativeContext;
  /** Routes llama.cpp/ggml log lines at or above `minLevel` to `logger` (null = off). Errors are always kept for error messages. */
  setLogger(logger: ((level: NativeLogLevel, text: string) => void) | null, minLevel: NativeLogLevel): void;
  /**
   * Interrupts and joins every inference thread in the process, and aborts every model load and
   * waits until none is inside llama.cpp. For the 'exit' event only: afterwards no context can
   * run again.
   */
  shutdown(): void;
  /** Model loads inside llama.cpp right now (the exit test checks that `shutdown` leaves none). */
  runningLoads(): number;
  /**
   * Loads the file's metadata with llama_model_params.no_alloc and plans one context, on a libuv
   * worker, and reports what llama.cpp would allocate (llama_get_memory_breakdown), by device;
   * host buffer types are summed into `host`. Nothing is allocated. Rejects ERR_MODEL_LOAD /
   * ERR_CONTEXT_CREATE / ERR_INVALID_ARG.
   */
  estimateMemory(path: string, model: NativeModelParams, context: NativeContextParams): Promise<NativeMemoryEstimate>;
  /**
   * llama.cpp's json_schema_to_grammar: a JSON schema (JSON text) as GBNF. Throws ERR_GRAMMAR for
   * a schema it cannot convert or that exceeds the addon's limits (1 MiB, 128 levels, 4 KiB names).
   */
  jsonSchemaToGrammar(schemaJson: string): string;
  /**
   * A backend library's ggml_backend_score() for this machine (0: cannot run here), or null when
   * it has none. Loads and unloads the library without registering it. Throws ERR_BACKEND with
   * the dynamic loader's reason when it cannot be loaded.
   */
  backendScore(path: string): number | null;
  /**
   * Registers a backend library with ggml (ggml_backend_load). Idempotent per path. Throws
   * ERR_BACKEND with the reason when it cannot be loaded or initialised.
   */
  loadBackend(path: string): { name: string; devices: number };
  /** [name, value] features of the loaded CPU backend (the instruction sets of its variant). */
  cpuFeatures(): Array<[string, string]>;
  /** llama.cpp's name of a file type (llama_ftype_name), e.g. "Q4_K - Medium"; "unknown, may not work" for an unknown number. */
  fileTypeName(fileType: number): string;
  /** Names of llama.cpp's built-in chat templates (llama_chat_builtin_templates). */
  chatTemplateNames(): string[];
  /** The ggml backend devices in registry order, with their memory now. */
  listDevices(): NativeDevice[];
  /**
   * Sets the send/receive timeout of new RPC connections and registers each server's devices
   * with ggml (once per endpoint and process), on a libuv worker. Rejects with ERR_RPC.
   */
  rpcAddServers(endpoints: string[], timeoutMs: number): Promise<Array<{ endpoint: string; devices: string[] }>>;
  /** Whether this process holds a healthy connection to the RPC server at `endpoint`. */
  rpcConnected(endpoint: string): boolean;
  /**
   * Runs ggml's RPC server on a native thread of its own; resolves once it listens (with the
   * bound port: port 0 picks one), rejects with ERR_RPC when it cannot. The running server keeps
   * the process alive until stop() resolves.
   */
  rpcStartServer(options: { endpoint: string; threads: number; devices?: string[]; cacheDir?: string }): Promise<{
    port: number;
    stop(): Promise<void>;
  }>;
  /** llama.cpp's version string, the commit compiled (empty when unknown) and system info. */
  buildInfo(): { llamaVersion: string; llamaCommit: string; systemInfo: string; gpuOffload: boolean; mmap: boolean; mlock: boolean };
  /**
   * Runs llama_model_quantize(input → output) on a libuv worker. `onProgress` receives 0..1
   * (derived from llama.cpp's per-tensor log lines, at most every 1%, then 1 on success),
   * always before the promise settles. Rejects with ERR_QUANTIZE (message has llama.cpp's
   * error lines). Cannot be interrupted once started.
   */
  quantize(input: string, output: string, params: NativeQuantizeParams, onProgress: ((progress: number) => void) | null): Promise<void>;
}
