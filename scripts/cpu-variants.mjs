// Which of llama.cpp's CPU backend variants a build compiles (CMake: LLAMA_NAPI_CPU_VARIANTS).
// Prebuilds compile every variant ("all") and pick the best one at load time. A local source
// build only needs the one that suits the machine it runs on; on x86-64 that is the richest
// variant whose instruction sets this CPU has (ggml refuses GGML_NATIVE with loadable
// backends on x86, so "native" there means "the best named variant").
import { readFileSync } from 'node:fs';

/**
 * ggml's x86 variants (ggml/src/CMakeLists.txt, GGML_CPU_ALL_VARIANTS), richest last, with
 * the /proc/cpuinfo flags each one's instructions need.
 */
export const X86_VARIANTS = [
  ['x64', []],
  ['sse42', ['sse4_2']],
  ['sandybridge', ['sse4_2', 'avx']],
  ['haswell', ['sse4_2', 'avx', 'f16c', 'fma', 'avx2', 'bmi2']],
  ['alderlake', ['sse4_2', 'avx', 'f16c', 'fma', 'avx2', 'bmi2', 'avx_vnni']],
  ['skylakex', ['sse4_2', 'avx', 'f16c', 'fma', 'avx2', 'bmi2', 'avx512f', 'avx512cd', 'avx512vl', 'avx512dq', 'avx512bw']],
  ['icelake', ['sse4_2', 'avx', 'f16c', 'fma', 'avx2', 'bmi2', 'avx512f', 'avx512cd', 'avx512vl', 'avx512dq', 'avx512bw', 'avx512vbmi', 'avx512_vnni']],
  ['zen4', ['sse4_2', 'avx', 'f16c', 'fma', 'avx2', 'bmi2', 'avx512f', 'avx512cd', 'avx512vl', 'avx512dq', 'avx512bw', 'avx512vbmi', 'avx512_vnni', 'avx512_bf16']],
  ['sapphirerapids', ['sse4_2', 'avx', 'f16c', 'fma', 'avx2', 'bmi2', 'avx512f', 'avx512cd', 'avx512vl', 'avx512dq', 'avx512bw', 'avx512vbmi', 'avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8']],
];

/** The richest x86 variant whose instruction sets are all in `flags`. */
export function bestX86Variant(flags) {
  const have = new Set(flags);
  let best = 'x64';
  for (const [tag, needs] of X86_VARIANTS) if (needs.every((f) => have.has(f))) best = tag;
  return best;
}

/** CPU flags of this machine from /proc/cpuinfo (Linux), or undefined elsewhere. */
function cpuFlags() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return line ? line.slice(line.indexOf(':') + 1).trim().split(/\s+/) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * LLAMA_NAPI_CPU_VARIANTS for a build: the environment's choice, else for a local source
 * build the best x86 variant for this CPU (x64 + haswell where the flags cannot be read),
 * and "native" on other architectures.
 */
export function cpuVariantsForBuild(env = process.env, arch = process.arch) {
  if (env.LLAMA_NAPI_CPU_VARIANTS) return env.LLAMA_NAPI_CPU_VARIANTS;
  if (arch !== 'x64') return 'native';
  const flags = cpuFlags();
  return flags ? bestX86Variant(flags) : 'x64,haswell';
}
