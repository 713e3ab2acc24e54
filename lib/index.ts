/**
 * llama-napi: a native llama.cpp binding for Node.js.
 *
 * ```ts
 * import { loadModel } from 'llama-napi';
 * await using model = await loadModel('model.gguf');
 * await using ctx = await model.createContext({ contextSize: 4096 });
 * for await (const chunk of ctx.generate('[INST] Write a haiku [/INST]')) process.stdout.write(chunk.text);
 * ```
 * @packageDocumentation
 */
export type { ModelInfo } from './model-info.js';
export {
  loadModel,
  Model,
  type TokenizeOptions,
  type DetokenizeOptions,
  type ApplyChatTemplateOptions,
} from './model.js';
export { Context, type EmbedOptions } from './context.js';
export type { ChatMessage } from './chat-template.js';
export { chatTemplateNames } from './builtin-templates.js';
export type { ChatOptions, ChatTemplateOptions } from './options/chat.js';
export { ChatSession, type ChatSessionOptions, type ContextOverflow } from './chat-session.js';
export { Generation, type GenerationChunk, type GenerationResult, type FinishReason, type TokenLogprob } from './generation.js';
export {
  type LoadModelOptions,
  type SplitMode,
  type AutoFitOptions,
  type TensorOverride,
  LOAD_MODEL_DEFAULTS,
} from './options/load.js';
export { type ContextOptions, type FlashAttention, type KvCacheType, type Pooling, defaultThreads } from './options/context.js';
export { type DeviceSampling, type GenerateOptions, GENERATE_DEFAULTS } from './options/generate.js';
export { MAX_LOGIT_BIAS, type JsonSchema, type LogitBias } from './options/constraints.js';
export { jsonSchemaToGrammar } from './grammar.js';
export { listDevices, type Device } from './devices.js';
export { startRpcServer, type RpcServer, type RpcServerOptions } from './rpc/server.js';
export { DEFAULT_RPC_PORT, DEFAULT_RPC_TIMEOUT_MS } from './rpc/endpoint.js';
export { estimateMemory, type EstimateMemoryOptions, type MemoryEstimate, type MemoryUsage } from './estimate.js';
export { LlamaError, isLlamaError, ERROR_CODES, type ErrorCode } from './errors.js';
export { OutOfMemoryError, type MemoryShortage, type MemoryLimit } from './memory-limits.js';
export { setLogger, type Logger, type LogLevel, type SetLoggerOptions } from './logger.js';
export { quantize, QUANTIZATION_TYPES, type QuantizationType, type QuantizeOptions } from './quantize.js';
export { getBuildInfo, type BuildInfo, type LoadedBackend, type SkippedBackend } from './build-info.js';
export {
  readGguf,
  writeGguf,
  type GgufFile,
  type GgufTensorInfo,
  type GgufValue,
  type GgufArrayValue,
  type GgufTensorData,
  type GgufWriteResult,
  type GgufReadOptions,
  type GgufWriteSpec,
  type GgufWriteTensor,
} from './gguf/index.js';
export {
  createServer,
  runServer,
  SERVER_DEFAULTS,
  type LlamaServer,
  type ServerAddress,
  type CloseOptions,
  type RunServerOptions,
  type ServerOptions,
  type CorsOption,
} from './server/index.js';
export {
  pullModel,
  resolveModel,
  parseModelRef,
  PULL_DEFAULTS,
  type PullModelOptions,
  type ResolveModelOptions,
  type PullProgress,
  type ModelRef,
} from './hub/index.js';
