/**
 * GGUF files in TypeScript: a validating header reader, a streaming writer, and the F16 /
 * Q8_0 encoders needed to produce test models. Used to check model files before they
 * reach llama.cpp's parser and to generate fixtures.
 */
export { readGguf, type GgufFile, type GgufReadOptions, type GgufTensorInfo } from './reader.js';
export { writeGguf, type GgufTensorData, type GgufWriteResult, type GgufWriteSpec, type GgufWriteTensor } from './writer.js';
export { copyMetadata } from './metadata.js';
export { decodeQ8_0, encodeF16, encodeQ8_0, f16BitsToF32, f32ToF16Bits, Q8_0_BLOCK_BYTES, Q8_0_BLOCK_SIZE } from './quantize.js';
export {
  GGML_MAX_DIMS,
  GGML_MAX_NAME_BYTES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_KEY_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgmlType,
  GgufValueTypeId,
  ggmlTypeTraits,
  type GgmlTypeName,
  type GgmlTypeTraits,
  type GgufArrayValue,
  type GgufScalarType,
  type GgufValue,
  type GgufValueType,
} from './types.js';
