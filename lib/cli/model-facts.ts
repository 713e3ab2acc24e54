/**
 * What a GGUF file says about its model, read from its own header with the library's
 * `readGguf` — no weights read, nothing loaded. Used by `inspect` (all of it) and by `run`
 * and `estimate` (trained length and layer count, needed before loading).
 */
import { readGguf, type GgufFile, type GgufValue } from '../index.js';
import { CliFailure } from './exit-codes.js';

/**
 * llama.cpp's file types (`enum llama_ftype`, include/llama.h): the `llama-quantize` name and
 * llama.cpp's own description (`llama_model_ftype_name`). The library does not export this
 * table (it is private to lib/quantize.ts), so the CLI keeps the names it prints here.
 */
const FILE_TYPES: Readonly<Record<number, readonly [string, string]>> = {
  0: ['F32', 'all F32'],
  1: ['F16', 'F16'],
  2: ['Q4_0', 'Q4_0'],
  3: ['Q4_1', 'Q4_1'],
  7: ['Q8_0', 'Q8_0'],
  8: ['Q5_0', 'Q5_0'],
  9: ['Q5_1', 'Q5_1'],
  10: ['Q2_K', 'Q2_K - Medium'],
  11: ['Q3_K_S', 'Q3_K - Small'],
  12: ['Q3_K_M', 'Q3_K - Medium'],
  13: ['Q3_K_L', 'Q3_K - Large'],
  14: ['Q4_K_S', 'Q4_K - Small'],
  15: ['Q4_K_M', 'Q4_K - Medium'],
  16: ['Q5_K_S', 'Q5_K - Small'],
  17: ['Q5_K_M', 'Q5_K - Medium'],
  18: ['Q6_K', 'Q6_K'],
  19: ['IQ2_XXS', 'IQ2_XXS - 2.0625 bpw'],
  20: ['IQ2_XS', 'IQ2_XS - 2.3125 bpw'],
  21: ['Q2_K_S', 'Q2_K - Small'],
  22: ['IQ3_XS', 'IQ3_XS - 3.3 bpw'],
  23: ['IQ3_XXS', 'IQ3_XXS - 3.0625 bpw'],
  24: ['IQ1_S', 'IQ1_S - 1.5625 bpw'],
  25: ['IQ4_NL', 'IQ4_NL - 4.5 bpw'],
  26: ['IQ3_S', 'IQ3_S - 3.4375 bpw'],
  27: ['IQ3_M', 'IQ3_S mix - 3.66 bpw'],
  28: ['IQ2_S', 'IQ2_S - 2.5 bpw'],
  29: ['IQ2_M', 'IQ2_M - 2.7 bpw'],
  30: ['IQ4_XS', 'IQ4_XS - 4.25 bpw'],
  31: ['IQ1_M', 'IQ1_M - 1.75 bpw'],
  32: ['BF16', 'BF16'],
  36: ['TQ1_0', 'TQ1_0 - 1.69 bpw ternary'],
  37: ['TQ2_0', 'TQ2_0 - 2.06 bpw ternary'],
  38: ['MXFP4_MOE', 'MXFP4 MoE'],
  39: ['NVFP4', 'NVFP4'],
  40: ['Q1_0', 'Q1_0'],
  41: ['Q2_0', 'Q2_0'],
};

/** The facts `inspect` prints. Counts are `null` when the file does not say. */
export interface ModelFacts {
  readonly architecture: string;
  readonly name: string | null;
  /** `general.file_type` as `llama-quantize` names it (`Q4_K_M`), `null` when absent or unknown. */
  readonly fileType: string | null;
  /** llama.cpp's description of the file type (`Q4_K - Medium`). */
  readonly fileTypeDescription: string | null;
  /** The tensor type holding the most weights (what the file mostly is, whatever its metadata says). */
  readonly dominantTensorType: string | null;
  /** Weights per tensor type, most first. */
  readonly tensorTypes: ReadonlyArray<{ type: string; tensors: number; parameters: number; bytes: number }>;
  /** Sum over all tensors of their element counts, as llama.cpp counts parameters. */
  readonly parameterCount: number;
  readonly expertCount: number;
  readonly expertUsedCount: number;
  readonly layerCount: number | null;
  readonly trainedContextLength: number | null;
  readonly embeddingLength: number | null;
  readonly headCount: number | null;
  readonly headCountKv: number | null;
  readonly vocabularySize: number | null;
  readonly hasChatTemplate: boolean;
  readonly tensorCount: number;
  readonly fileSize: number;
}

/**
 * Reads a GGUF header.
 * @throws CliFailure naming the file and what is wrong with it
 */
export async function readModelHeader(path: string): Promise<GgufFile> {
  try {
    return await readGguf(path);
  } catch (error) {
    const e = error as Error & { code?: string };
    throw new CliFailure(`llama-napi: cannot read ${path}: ${e.code ? `${e.code}: ` : ''}${e.message}`);
  }
}

function numberOf(v: GgufValue | undefined): number | null {
  if (v === undefined) return null;
  if (typeof v.value === 'number') return v.value;
  if (typeof v.value === 'bigint') return Number(v.value);
  return null;
}

/** Derives {@link ModelFacts} from a header. */
export function modelFacts(gguf: GgufFile): ModelFacts {
  const meta = gguf.metadata;
  const archValue = meta['general.architecture'];
  const architecture = archValue?.type === 'string' ? archValue.value : 'unknown';
  const arch = (key: string): number | null => numberOf(meta[`${architecture}.${key}`]);
  const byType = new Map<string, { type: string; tensors: number; parameters: number; bytes: number }>();
  let parameterCount = 0;
  for (const t of gguf.tensors) {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    parameterCount += elements;
    const entry = byType.get(t.typeName) ?? { type: t.typeName, tensors: 0, parameters: 0, bytes: 0 };
    entry.tensors++;
    entry.parameters += elements;
    entry.bytes += t.byteSize;
    byType.set(t.typeName, entry);
  }
  const tensorTypes = [...byType.values()].sort((a, b) => b.parameters - a.parameters);
  const fileTypeNumber = numberOf(meta['general.file_type']);
  const fileType = fileTypeNumber === null ? undefined : FILE_TYPES[fileTypeNumber];
  const tokens = meta['tokenizer.ggml.tokens'];
  const nameValue = meta['general.name'];
  const template = meta['tokenizer.chat_template'];
  return {
    architecture,
    name: nameValue?.type === 'string' ? nameValue.value : null,
    fileType: fileType?.[0] ?? null,
    fileTypeDescription: fileType?.[1] ?? null,
    dominantTensorType: tensorTypes[0]?.type ?? null,
    tensorTypes,
    parameterCount,
    expertCount: arch('expert_count') ?? 0,
    expertUsedCount: arch('expert_used_count') ?? 0,
    layerCount: arch('block_count'),
    trainedContextLength: arch('context_length'),
    embeddingLength: arch('embedding_length'),
    headCount: arch('attention.head_count'),
    headCountKv: arch('attention.head_count_kv') ?? arch('attention.head_count'),
    vocabularySize: arch('vocab_size') ?? (tokens?.type === 'array' ? tokens.value.length : null),
    hasChatTemplate: template?.type === 'string' && template.value.length > 0,
    tensorCount: gguf.tensors.length,
    fileSize: gguf.fileSize,
  };
}
