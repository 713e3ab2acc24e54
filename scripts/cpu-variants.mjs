// Which of llama.cpp's CPU backend variants a build compiles (CMake: LLAMA_NAPI_CPU_VARIANTS).
// Prebuilds compile every named variant ("all") and pick the best one at load time. A local
// source build compiles code for the machine it runs on: "native" (-march=native). On x86
// ggml's loadable backends need a score, so there "native" is a variant of its own
// (vendor/patches/0007), built beside the best named variant for this CPU: the loader
// (lib/backends.ts) prefers the native one, and falls back to the named one where the native
// module's recorded CPU flags are not all present (the build copied to another machine).
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
 * LLAMA_NAPI_CPU_VARIANTS for a build: the environment's choice, else for a local source build
 * "native" plus the best named x86 variant for this CPU on Linux x86-64 (the native module's
 * guard reads /proc/cpuinfo), the best named variant alone on other x86-64 systems (x64 +
 * haswell where the flags cannot be read), and "native" on other architectures. `flags`: this
 * CPU's /proc/cpuinfo flags (null or undefined: unknown).
 */
export function cpuVariantsForBuild(env = process.env, arch = process.arch, flags = cpuFlags(), platform = process.platform) {
  if (env.LLAMA_NAPI_CPU_VARIANTS) return env.LLAMA_NAPI_CPU_VARIANTS;
  if (arch !== 'x64') return 'native';
  if (!flags) return 'x64,haswell';
  const best = bestX86Variant(flags);
  return platform === 'linux' ? `native,${best}` : best;
}
