/**
 * Consistency checks of a model's metadata and tensor infos, run on the header that
 * lib/gguf/reader.ts has already validated as a container, before llama.cpp sees the file.
 *
 * llama.cpp aborts the whole process (GGML_ASSERT, GGML_ABORT, a null kernel) on some files
 * whose container is fine but whose contents lie. Each rule here mirrors one such place in the
 * pinned tree, and rejects exactly the values that reach it; everything llama.cpp itself turns
 * into an error (a missing key, a value of the wrong type, a tensor of the wrong shape) is left
 * to it. Found by the GGUF fuzzer (test/fuzz/).
 * @internal
 */
import { LlamaError } from './errors.js';
import type { GgufFile } from './gguf/reader.js';
import type { GgufValue } from './gguf/types.js';
import type { ModelFiles } from './model-files.js';

/** How the model is going to be loaded. */
export interface ConsistencyOptions {
  /** Only the vocabulary is loaded: llama.cpp reads no hyper-parameters and no tensors. */
  vocabOnly: boolean;
  /** The tensor data is mapped in place (`undefined`: llama.cpp's default, which maps). */
  useMmap: boolean | undefined;
}

/** `LLAMA_MAX_LAYERS` (src/llama-hparams.h). */
const MAX_LAYERS = 512;
/** `LLAMA_MAX_EXPERTS` (src/llama-hparams.h). */
const MAX_EXPERTS = 1024;
/** `TENSOR_ALIGNMENT` (ggml/src/ggml-impl.h): ggml's CPU buffer asserts its pointer is aligned to it. */
const TENSOR_ALIGNMENT = 32;
/** `LLAMA_ROPE_SCALING_TYPES` (src/llama-model.cpp); any other name is a GGML_ASSERT. */
const ROPE_SCALING_TYPES = ['none', 'linear', 'yarn', 'longrope'];
/** Architectures whose loader turns an expert count of 0 or 1 into "no experts" first. */
const EXPERTS_RESET_BELOW_TWO = ['hunyuan-dense', 'hunyuan_vl'];
/**
 * ggml types that no CPU matrix kernel takes as a weight (integers, F64, and the Q8_1 / Q8_K
 * formats that only activations are converted to): the product dereferences a null kernel.
 */
const NO_KERNEL_TYPES: ReadonlyMap<number, string> = new Map([
  [9, 'Q8_1'],
  [15, 'Q8_K'],
  [24, 'I8'],
  [25, 'I16'],
  [26, 'I32'],
  [27, 'I64'],
  [28, 'F64'],
]);
/**
 * Tensors that ggml combines element by element with F32 activations (norm weights, 1-D biases)
 * or reads as F32 factors (rope frequencies): ggml's CPU kernels abort on any other type.
 * llama.cpp's converter writes all of them as F32, and its quantizer leaves them so.
 */
const F32_ONLY = /(norm\.weight|^rope_freqs\.weight|^rope_factors_(long|short)\.weight)$/;
const isF32Only = (name: string, dims: readonly number[]): boolean => F32_ONLY.test(name) || (dims.length === 1 && name.endsWith('.bias'));
const F32 = 0;
/** `LLAMA_TOKEN_TYPE_BYTE`. */
const TOKEN_TYPE_BYTE = 6;

function invalid(message: string): LlamaError {
  return new LlamaError('ERR_GGUF_INVALID', message);
}

/** A uint32 value as llama.cpp's typed `get_key<uint32_t>` reads it; `undefined` when absent or of another type (llama.cpp then uses its default or throws). */
function u32(meta: Record<string, GgufValue>, key: string): number | undefined {
  const v = meta[key];
  return v?.type === 'uint32' ? v.value : undefined;
}

/** A per-layer count as `get_key_or_arr` reads it: a uint32, or an array of `layers` int32/uint32/bool; its maximum. */
function perLayerMax(meta: Record<string, GgufValue>, key: string, layers: number): number | undefined {
  const v = meta[key];
  if (v === undefined) return 0;
  if (v.type === 'uint32') return v.value;
  if (v.type !== 'array' || v.value.length !== layers) return undefined;
  if (v.itemType === 'bool') return v.value.some(Boolean) ? 1 : 0;
  if (v.itemType !== 'uint32' && v.itemType !== 'int32') return undefined;
  return (v.value as number[]).reduce((max, x) => Math.max(max, x >>> 0), 0);
}

/** Block and expert counts: the GGML_ASSERTs of `llama_model_base::load_hparams`. */
function checkCounts(meta: Record<string, GgufValue>, arch: string): void {
  const key = (name: string): string => `${arch}.${name}`;
  const layers = u32(meta, key('block_count'));
  if (layers === undefined) return; // missing or mistyped: llama.cpp says so
  if (layers < 1 || layers > MAX_LAYERS) {
    throw invalid(`${key('block_count')} is ${layers}: it must be 1 to ${MAX_LAYERS} (LLAMA_MAX_LAYERS)`);
  }
  const nextn = u32(meta, key('nextn_predict_layers'));
  if (nextn !== undefined && nextn > layers) {
    throw invalid(`${key('nextn_predict_layers')} is ${nextn}: it must be at most ${key('block_count')} (${layers})`);
  }
  if (meta[key('expert_count')] !== undefined && u32(meta, key('expert_count')) === undefined) return;
  const experts = u32(meta, key('expert_count')) ?? 0;
  const used = perLayerMax(meta, key('expert_used_count'), layers);
  const groups = meta[key('expert_group_count')] === undefined ? 0 : u32(meta, key('expert_group_count'));
  const groupUsed = meta[key('expert_group_used_count')] === undefined ? 0 : u32(meta, key('expert_group_used_count'));
  if (used === undefined || groups === undefined || groupUsed === undefined) return; // llama.cpp rejects the type
  const usedWhat = `${key('expert_used_count')} is ${used}`;
  if (EXPERTS_RESET_BELOW_TWO.includes(arch) && experts <= 1) return;
  if (experts > MAX_EXPERTS) {
    throw invalid(`${key('expert_count')} is ${experts}: it must be at most ${MAX_EXPERTS} (LLAMA_MAX_EXPERTS)`);
  }
  if (experts === 0) {
    if (used !== 0) throw invalid(`${usedWhat} but the model has no experts (${key('expert_count')} is 0 or missing): it must be 0`);
    if (groups !== 0) throw invalid(`${key('expert_group_count')} is ${groups} but the model has no experts: it must be 0`);
    return;
  }
  if (used === 0 || used > experts) throw invalid(`${usedWhat}: it must be 1 to ${key('expert_count')} (${experts})`);
  if (groups >= experts) throw invalid(`${key('expert_group_count')} is ${groups}: it must be less than ${key('expert_count')} (${experts})`);
  if (groups > 1) {
    if (experts % groups !== 0) throw invalid(`${key('expert_count')} (${experts}) is not a multiple of ${key('expert_group_count')} (${groups})`);
    if (groupUsed === 0 || groupUsed >= groups) {
      throw invalid(`${key('expert_group_used_count')} is ${groupUsed}: it must be 1 to ${groups - 1} (less than ${key('expert_group_count')})`);
    }
  }
}

/** Norm epsilons (ggml's norm kernels assert `eps >= 0`, which NaN fails) and the rope scaling name. */
function checkScalars(meta: Record<string, GgufValue>, arch: string): void {
  for (const [key, v] of Object.entries(meta)) {
    if (!key.startsWith(`${arch}.`) || !key.endsWith('epsilon') || v.type !== 'float32') continue;
    if (!(v.value >= 0)) throw invalid(`${key} is ${v.value}: a norm epsilon must be a number ≥ 0`);
  }
  const scaling = meta[`${arch}.rope.scaling.type`];
  if (scaling?.type === 'string' && !ROPE_SCALING_TYPES.includes(scaling.value)) {
    throw invalid(`${arch}.rope.scaling.type is '${scaling.value}': it must be one of ${ROPE_SCALING_TYPES.map((s) => `'${s}'`).join(', ')}`);
  }
}

/** Tensor infos llama.cpp would map or compute with and crash. */
function checkTensors(file: GgufFile, options: ConsistencyOptions): void {
  for (const t of file.tensors) {
    const type = NO_KERNEL_TYPES.get(t.type);
    if (type !== undefined && t.name.endsWith('.weight')) {
      throw invalid(`tensor '${t.name}' has type ${type}, for which ggml has no matrix kernel: a weight must be F32, F16, BF16 or a quantized type`);
    }
    if (t.type !== F32 && isF32Only(t.name, t.dims)) {
      throw invalid(`tensor '${t.name}' has type ${t.typeName}: norm weights, biases and rope factors must be F32`);
    }
    const at = file.dataOffset + t.offset;
    if (options.useMmap !== false && at % TENSOR_ALIGNMENT !== 0) {
      throw invalid(
        `tensor '${t.name}' starts at byte ${at} (general.alignment ${file.alignment}): mapped tensor data must start at a multiple of ${TENSOR_ALIGNMENT} bytes (load with useMmap: false to read it anyway)`,
      );
    }
  }
}

/**
 * llama.cpp's RWKV tokenizer restarts from the beginning of the text, pushing tokens without
 * end, when the text continues a token prefix that no token completes. Real RWKV vocabularies
 * hold every single byte (escaped as `\\xNN`, `\\n`, …), which rules that out.
 */
function checkRwkvBytes(tokens: readonly string[]): void {
  const bytes = new Set<number>();
  for (const token of tokens) {
    const raw = Buffer.from(token, 'utf8');
    if (raw.length === 1 && raw[0] !== 0x5c) bytes.add(raw[0]!);
    else if (raw.length === 2 && raw[0] === 0x5c) bytes.add(({ t: 9, n: 10, r: 13 } as Record<string, number>)[String.fromCharCode(raw[1]!)] ?? raw[1]!);
    else if (raw.length === 4 && token.startsWith('\\x')) {
      // llama_unescape_rwkv_token's hex digits: 'a'.. as 10.., anything else as c - '0'
      const digit = (c: number): number => (c >= 0x61 ? c - 0x61 + 10 : c - 0x30);
      bytes.add(((digit(raw[2]!) << 4) + digit(raw[3]!)) & 0xff);
    }
  }
  for (let b = 0; b < 256; b++) {
    if (!bytes.has(b)) {
      throw invalid(`tokenizer.ggml.tokens has no token for the byte 0x${b.toString(16).padStart(2, '0')}: an 'rwkv' vocabulary needs one per byte (llama.cpp's RWKV tokenizer never ends on text it cannot cover)`);
    }
  }
}

/** Vocabulary contents that `llama_vocab::impl::load` asserts on or aborts with. */
function checkVocabulary(meta: Record<string, GgufValue>): void {
  const model = meta['tokenizer.ggml.model'];
  if (model?.type !== 'string') return; // missing or mistyped: llama.cpp says so
  if (model.value === 'none' || model.value === 'no_vocab') {
    throw invalid(`tokenizer.ggml.model is '${model.value}': the model has no vocabulary, and llama.cpp aborts when such a model tokenizes or detokenizes text`);
  }
  const tokens = meta['tokenizer.ggml.tokens'];
  if (tokens?.type !== 'array' || tokens.itemType !== 'string') return;
  const seen = new Map<string, number>();
  tokens.value.forEach((token, i) => {
    // llama.cpp reads each token as a C string (it ends at a NUL) and names empty ones
    // "[EMPTY_<id>]", which may collide too. Bytes that are not UTF-8 were decoded as U+FFFD,
    // so such tokens cannot be compared here.
    const cut = token.indexOf('\0');
    const text = cut === 0 || token === '' ? `[EMPTY_${i}]` : cut > 0 ? token.slice(0, cut) : token;
    if (text.includes('\uFFFD')) return;
    const first = seen.get(text);
    if (first !== undefined) {
      throw invalid(`tokenizer.ggml.tokens has ${JSON.stringify(text.slice(0, 40))} at ids ${first} and ${i}: every token must be distinct`);
    }
    seen.set(text, i);
  });
  if (model.value === 'rwkv') checkRwkvBytes(tokens.value);
  const types = meta['tokenizer.ggml.token_type'];
  if (model.value === 'bert' && types?.type === 'array' && types.itemType === 'int32') {
    const byte = (types.value as number[]).findIndex((t, i) => t === TOKEN_TYPE_BYTE && i < tokens.value.length);
    if (byte >= 0) {
      throw invalid(`tokenizer.ggml.token_type[${byte}] is ${TOKEN_TYPE_BYTE} (byte), which a 'bert' (WordPiece) vocabulary cannot have`);
    }
  }
}

/**
 * Throws `ERR_GGUF_INVALID` (a {@link LlamaError}) naming the key or tensor, and the value
 * llama.cpp needs, when the model's contents would make llama.cpp abort the process.
 * @internal
 */
export function checkModelConsistency(files: Pick<ModelFiles, 'first' | 'parts'>, options: ConsistencyOptions): void {
  const meta = files.first.metadata;
  checkVocabulary(meta);
  if (options.vocabOnly) return;
  const arch = meta['general.architecture'];
  if (arch?.type === 'string') {
    checkCounts(meta, arch.value);
    checkScalars(meta, arch.value);
  }
  for (const part of files.parts) checkTensors(part, options);
}
