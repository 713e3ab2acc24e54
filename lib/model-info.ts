/**
 * {@link ModelInfo}: what llama.cpp reports about a loaded model, completed from the file's own
 * header where a vocabulary-only load leaves llama.cpp without the answer.
 */
import type { ModelFiles } from './model-files.js';
import type { NativeModelInfo } from './native.js';

/** Facts about a loaded model. */
export interface ModelInfo {
  /** The path the model was loaded from. */
  readonly path: string;
  /** llama.cpp architecture name, e.g. `"llama"`. */
  readonly architecture: string;
  /** llama.cpp's one-line description (architecture, size, type). */
  readonly description: string;
  /** Number of weights. */
  readonly parameterCount: number;
  /** Size of the GGUF file in bytes (of all its parts, for a split model). */
  readonly fileSize: number;
  /** Bytes of all tensors, as llama.cpp counts them. */
  readonly sizeBytes: number;
  /** llama.cpp's name of the file type (quantisation), e.g. `"Q4_K - Medium"`. */
  readonly quantization: string;
  /** llama.cpp's file type number (`llama_ftype`). */
  readonly fileType: number;
  /** Context length the model was trained with. */
  readonly trainedContextLength: number;
  /** Embedding width. */
  readonly embeddingLength: number;
  /** Transformer blocks. */
  readonly layerCount: number;
  /** Attention heads. */
  readonly headCount: number;
  /** Key/value heads (fewer than `headCount` for grouped-query attention). */
  readonly headCountKv: number;
  /** Experts per MoE layer (0 for a dense model). */
  readonly expertCount: number;
  /** Experts used per token (0 for a dense model). */
  readonly expertUsedCount: number;
  /** Tokens in the vocabulary; valid token ids are `[0, vocabularySize)`. */
  readonly vocabularySize: number;
  /** llama.cpp's vocabulary type number (`llama_vocab_type`). */
  readonly vocabularyType: number;
  /** The Jinja chat template from the file, if any. */
  readonly chatTemplate: string | null;
  /** Beginning-of-sequence token id (-1 if none). */
  readonly bosToken: number;
  /** End-of-sequence token id (-1 if none). */
  readonly eosToken: number;
  /** Whether tokenizing with `addSpecial` prepends BOS. */
  readonly addBos: boolean;
  /** Whether tokenizing with `addSpecial` appends EOS. */
  readonly addEos: boolean;
  /** All GGUF key/value metadata as llama.cpp renders it (strings). */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * The info of a loaded model. A vocabulary-only load reads no tensors and no hyper-parameters,
 * so llama.cpp answers 0 for the trained context and the embedding width, counts no weights and
 * calls the file "all F32"; those come from the GGUF headers instead (`files`, already read
 * before the load), so that a vocabulary-only load describes the same file as a full one.
 * @internal
 *
 * @param fileTypeName - llama.cpp's name of a `llama_ftype` number (llama_ftype_name)
 */
export function modelInfo(
  path: string,
  files: ModelFiles,
  native: NativeModelInfo,
  vocabOnly: boolean,
  fileTypeName: (fileType: number) => string,
): ModelInfo {
  const info = fromNative(path, files.fileSize, native);
  if (!vocabOnly) return info;
  const number = (key: string): number | undefined => {
    const value = files.first.metadata[key]?.value;
    return typeof value === 'number' ? value : undefined;
  };
  const arch = native.architecture;
  const tensors = files.parts.flatMap((part) => part.tensors);
  const fileType = number('general.file_type') ?? info.fileType;
  return Object.freeze({
    ...info,
    parameterCount: tensors.reduce((sum, t) => sum + t.dims.reduce((n, d) => n * d, 1), 0),
    sizeBytes: tensors.reduce((sum, t) => sum + t.byteSize, 0),
    fileType,
    quantization: fileType === info.fileType ? info.quantization : fileTypeName(fileType),
    trainedContextLength: number(`${arch}.context_length`) ?? 0,
    embeddingLength: number(`${arch}.embedding_length`) ?? 0,
  });
}

function fromNative(path: string, fileSize: number, native: NativeModelInfo): ModelInfo {
  return Object.freeze({
    path,
    architecture: native.architecture,
    description: native.description,
    parameterCount: native.parameterCount,
    fileSize,
    sizeBytes: native.sizeBytes,
    quantization: native.fileTypeName,
    fileType: native.fileType,
    trainedContextLength: native.trainedContextLength,
    embeddingLength: native.embeddingLength,
    layerCount: native.layerCount,
    headCount: native.headCount,
    headCountKv: native.headCountKv,
    expertCount: native.expertCount,
    expertUsedCount: native.expertUsedCount,
    vocabularySize: native.vocabularySize,
    vocabularyType: native.vocabularyType,
    chatTemplate: native.chatTemplate,
    bosToken: native.bosToken,
    eosToken: native.eosToken,
    addBos: native.addBos,
    addEos: native.addEos,
    metadata: Object.freeze({ ...native.metadata }),
  });
}
