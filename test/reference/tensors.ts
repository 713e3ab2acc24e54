/**
 * Loads a fixture model's hyperparameters and weights (F32 or F16) into Float32Arrays for
 * the plain-TypeScript reference forward pass. Deliberately independent of llama.cpp:
 * only our own GGUF header reader is used, and the tensor bytes are read with `fs`.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { f16BitsToF32, readGguf, type GgufFile } from '../../lib/gguf/index.js';

/** ggml type numbers this loader decodes (`enum ggml_type`). */
const GGML_TYPE_F32 = 0;
const GGML_TYPE_F16 = 1;

/** A tensor decoded to float32, with its ggml dims (`dims[0]` is the contiguous row length). */
export interface RefTensor {
  name: string;
  dims: number[];
  data: Float32Array;
}

/** The hyperparameters of an LLM_ARCH_LLAMA model the forward pass needs. */
export interface RefHparams {
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  /** Rotated dimensions per head (`llama.rope.dimension_count`; equals head_dim here). */
  nRot: number;
  ropeFreqBase: number;
  rmsEps: number;
  /** 0 for a dense model. */
  nExpert: number;
  nExpertUsed: number;
  nVocab: number;
}

/** A fixture's hyperparameters and all its tensors by name. */
export interface RefModel {
  hparams: RefHparams;
  tensors: Map<string, RefTensor>;
}

function metaNumber(file: GgufFile, key: string, fallback?: number): number {
  const entry = file.metadata[key];
  if (entry === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`GGUF has no ${key}`);
  }
  if (typeof entry.value !== 'number') throw new Error(`${key} is not a number`);
  return entry.value;
}

/** Fills `dst` from the file at `position` (a single read may return fewer bytes). */
async function readFully(fh: FileHandle, dst: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < dst.length; ) {
    const { bytesRead } = await fh.read(dst, done, dst.length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

/**
 * Reads the hyperparameters and every tensor of `path` (F32 and F16 tensors only: the
 * reference is meant for the unquantised fixtures, where it can be exact to rounding).
 * @throws {Error} for a tensor of another type, or a non-llama architecture
 */
export async function loadRefModel(path: string): Promise<RefModel> {
  const file = await readGguf(path);
  const arch = file.metadata['general.architecture']?.value;
  if (arch !== 'llama') throw new Error(`reference supports arch llama only, got ${String(arch)}`);
  const nHead = metaNumber(file, 'llama.attention.head_count');
  const nEmbd = metaNumber(file, 'llama.embedding_length');
  const hparams: RefHparams = {
    nEmbd,
    nLayer: metaNumber(file, 'llama.block_count'),
    nHead,
    nHeadKv: metaNumber(file, 'llama.attention.head_count_kv', nHead),
    nRot: metaNumber(file, 'llama.rope.dimension_count', nEmbd / nHead),
    // llama.cpp's defaults when the keys are absent (llama-model.cpp).
    ropeFreqBase: metaNumber(file, 'llama.rope.freq_base', 10000),
    rmsEps: metaNumber(file, 'llama.attention.layer_norm_rms_epsilon'),
    nExpert: metaNumber(file, 'llama.expert_count', 0),
    nExpertUsed: metaNumber(file, 'llama.expert_used_count', 0),
    nVocab: 0,
  };

  const tensors = new Map<string, RefTensor>();
  const fh = await open(path, 'r');
  try {
    for (const t of file.tensors) {
      const count = t.dims.reduce((a, b) => a * b, 1);
      const data = new Float32Array(count);
      const at = file.dataOffset + t.offset;
      if (t.type === GGML_TYPE_F32) {
        await readFully(fh, new Uint8Array(data.buffer), at);
      } else if (t.type === GGML_TYPE_F16) {
        const bytes = Buffer.alloc(t.byteSize);
        await readFully(fh, bytes, at);
        for (let i = 0; i < count; i++) data[i] = f16BitsToF32(bytes.readUInt16LE(i * 2));
      } else {
        throw new Error(`reference cannot decode tensor ${t.name} of type ${t.typeName}`);
      }
      tensors.set(t.name, { name: t.name, dims: t.dims, data });
    }
  } finally {
    await fh.close();
  }
  hparams.nVocab = tensorOf({ hparams, tensors }, 'token_embd.weight').dims[1]!;
  return { hparams, tensors };
}

/** The tensor `name` of `model`. @throws {Error} when it is missing */
export function tensorOf(model: RefModel, name: string): RefTensor {
  const t = model.tensors.get(name);
  if (t === undefined) throw new Error(`model has no tensor ${name}`);
  return t;
}
