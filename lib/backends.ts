/**
 * Which llama.cpp backends this process uses: the policy over the addon's loadable-backend
 * mechanism (src/backends.cc). llama.cpp is built with GGML_BACKEND_DL, so the CPU backend and
 * every GPU backend are separate libraries found at run time:
 *
 * - the CPU backend: every variant present (prebuilds carry one per x86 instruction-set
 *   level, `libggml-cpu-haswell.so`, …) is asked its score for this CPU and the best one is
 *   loaded; `LLAMA_NAPI_CPU_VARIANT` forces one. An x86 source build also has
 *   `libggml-cpu-native.so`, compiled with -march=native, whose score beats every named
 *   variant: it is only opened where the CPU has every flag its build machine had (recorded
 *   beside it), so a build copied to another machine falls back to a named variant;
 * - GPU backends (`libggml-cuda.so`, `ggml-vulkan.dll`, …): loaded when present, CUDA before
 *   Metal before Vulkan, and only the first family that finds a device, so one GPU is not
 *   listed twice (CUDA and Vulkan both see an NVIDIA card). `LLAMA_NAPI_BACKENDS=cpu` loads
 *   none; `LLAMA_NAPI_BACKENDS=cuda,vulkan` loads exactly those. A GPU backend that cannot
 *   load or initialise (no driver, no libcuda) is skipped with a logged reason: generation
 *   then runs on the CPU.
 *
 * - the RPC backend (`libggml-rpc.so`, remote machines as devices): loaded when present, in
 *   every configuration; it registers no device until a model names `rpcServers`, and a
 *   failure to load it is recorded, never fatal (only RPC is then unavailable).
 *
 * Searched folders: the addon's own folder, then the installed backend packages
 * (`@llama-napi/<backend>-<platform>-<arch>`), then `LLAMA_NAPI_BACKEND_PATH`.
 * @internal
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, delimiter, dirname, join } from 'node:path';
import type { NativeAddon } from './native.js';
import { cpuFlags, parseCpuFlags } from './cpu.js';
import { LlamaError } from './errors.js';
import { log } from './logger.js';
import { packageVersion, readJsonFile } from './package-files.js';
import { packageRoot } from './package-root.js';

/** A backend library this process loaded. */
export interface LoadedBackend {
  /** ggml's name for it: `"CPU"`, `"CUDA"`, `"Vulkan"`, `"Metal"`, … */
  readonly name: string;
  /** The library file. */
  readonly path: string;
  /** Devices it registered (0: loaded, but it found no usable device). */
  readonly devices: number;
  /** The CPU variant (`"haswell"`, `"x64"`, …); absent for GPU backends and a single CPU build. */
  readonly variant?: string;
}

/** A backend library that was found but not used, and why. */
export interface SkippedBackend {
  readonly backend: string;
  readonly path: string;
  readonly reason: string;
}

/** What {@link loadBackends} did. */
export interface BackendReport {
  readonly loaded: readonly LoadedBackend[];
  readonly skipped: readonly SkippedBackend[];
  /** Folders searched, in order. */
  readonly searchPaths: readonly string[];
}

/** GPU backend families in preference order; the first with a device wins by default. */
export const GPU_BACKEND_ORDER: readonly string[] = ['cuda', 'metal', 'vulkan'];

/** Optional packages that ship one GPU backend for one platform, e.g. `@llama-napi/vulkan-linux-x64`. */
export function backendPackageName(backend: string, platform: string = process.platform, arch: string = process.arch): string {
  return `@llama-napi/${backend}-${platform}-${arch}`;
}

/** One backend library file in a search folder. */
export interface BackendFile {
  /** Lower-case backend name from the file name: `cpu`, `cuda`, `vulkan`, … */
  readonly backend: string;
  /** The part after `ggml-<backend>-`, e.g. a CPU variant. */
  readonly variant?: string;
  readonly path: string;
}

const BACKEND_FILE = /^(?:lib)?ggml-([a-z0-9]+)(?:-([A-Za-z0-9_.]+))?\.(?:so|dylib|dll)$/;

/** Backend libraries in `dir` (none when it cannot be read). */
export function findBackendFiles(dir: string): BackendFile[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const files: BackendFile[] = [];
  for (const name of names) {
    const match = BACKEND_FILE.exec(name);
    if (match === null || match[1] === 'base') continue;
    files.push({ backend: match[1]!, ...(match[2] !== undefined ? { variant: match[2] } : {}), path: join(dir, name) });
  }
  return files;
}

/**
 * Folders of installed backend packages whose version is exactly ours: a backend library is
 * only compatible with the ggml it was built with.
 */
function backendPackageDirs(skipped: SkippedBackend[]): string[] {
  const ownVersion = packageVersion();
  const require = createRequire(join(packageRoot, 'package.json'));
  const dirs: string[] = [];
  for (const backend of GPU_BACKEND_ORDER) {
    const name = backendPackageName(backend);
    let manifest: string;
    try {
      manifest = require.resolve(`${name}/package.json`);
    } catch {
      continue; // not installed: the usual case
    }
    const { version } = readJsonFile<{ version: string }>(manifest);
    if (version !== ownVersion) {
      skipped.push({ backend, path: dirname(manifest), reason: `${name}@${version} does not match llama-napi@${ownVersion}` });
      continue;
    }
    dirs.push(join(dirname(manifest), 'lib'));
  }
  return dirs;
}

/** A comma-separated environment list, lower-cased; undefined when unset or empty. */
function envList(name: string): string[] | undefined {
  const value = process.env[name]?.trim();
  return value ? value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) : undefined;
}

function reasonOf(error: unknown): string {
  return String((error as Error)?.message ?? error);
}

/** The x86 CPU variant compiled for the building machine (-march=native; vendor/patches/0007). */
export const NATIVE_CPU_VARIANT = 'native';

/** The file beside a native CPU module that lists its build machine's CPU flags (CMakeLists.txt). */
export function cpuFlagsFile(modulePath: string): string {
  return modulePath.replace(/\.(?:so|dylib|dll)$/, '') + '.cpuflags';
}

/** The flags of `recorded` that `have` lacks, in recorded order. */
export function missingCpuFlags(recorded: readonly string[], have: readonly string[]): string[] {
  const present = new Set(have);
  return recorded.filter((flag) => !present.has(flag));
}

/**
 * Why the native CPU module at `modulePath` must not be opened on a CPU with flags `have`
 * (undefined: they cannot be read), or undefined when it may. -march=native lets the compiler
 * use every instruction set of the build machine, more than ggml's score checks (AVX512-FP16,
 * VBMI2, GFNI…), and code in the module can run as soon as it is opened, before any score; so
 * the module is opened only where every flag its build machine had is present. Flags that do
 * not name instructions count too: a spurious difference costs the native module, never a crash.
 */
export function nativeModuleRefusal(modulePath: string, have: readonly string[] | undefined): string | undefined {
  const file = cpuFlagsFile(modulePath);
  let recorded: string[];
  try {
    recorded = parseCpuFlags(readFileSync(file, 'utf8'));
  } catch {
    recorded = [];
  }
  if (recorded.length === 0) return `built with -march=native, but ${basename(file)} (its build machine's CPU flags) is missing or empty`;
  if (have === undefined) return 'built with -march=native, and this system does not list its CPU flags (/proc/cpuinfo) to check them';
  const missing = missingCpuFlags(recorded, have);
  return missing.length === 0 ? undefined : `built with -march=native on a CPU with flags this one lacks: ${missing.join(' ')}`;
}

/** Picks and loads the CPU backend: a forced variant, else the best-scoring one. */
function loadCpu(addon: NativeAddon, files: BackendFile[], searchPaths: string[], skipped: SkippedBackend[]): LoadedBackend {
  const candidates = files.filter((f) => f.backend === 'cpu');
  const forced = process.env['LLAMA_NAPI_CPU_VARIANT']?.trim();
  let flags: string[] | undefined | null = null; // read once, and only when a native module is present
  const refusal = (file: BackendFile): string | undefined => {
    if (file.variant !== NATIVE_CPU_VARIANT) return undefined;
    if (flags === null) flags = cpuFlags();
    return nativeModuleRefusal(file.path, flags);
  };
  let chosen: BackendFile | undefined;
  if (forced) {
    chosen = candidates.find((f) => (f.variant ?? '') === forced);
    if (chosen === undefined) {
      const have = candidates.map((f) => f.variant ?? '(single)').join(', ') || 'none';
      throw new LlamaError('ERR_BACKEND', `LLAMA_NAPI_CPU_VARIANT=${forced}: no such CPU backend variant (found: ${have})`);
    }
    const refused = refusal(chosen);
    if (refused !== undefined) throw new LlamaError('ERR_BACKEND', `LLAMA_NAPI_CPU_VARIANT=${forced}: ${refused}`);
    if (callScore(addon, chosen) === 0) {
      throw new LlamaError('ERR_BACKEND', `LLAMA_NAPI_CPU_VARIANT=${forced}: this CPU lacks the instruction sets that variant was built for`);
    }
  } else {
    let best = 0;
    for (const file of candidates) {
      const refused = refusal(file);
      if (refused !== undefined) {
        skipped.push({ backend: 'cpu', path: file.path, reason: refused });
        log('warn', `llama-napi: the native CPU backend ${file.path} is not used on this CPU: ${refused}`);
        continue;
      }
      let score: number | null;
      try {
        score = callScore(addon, file);
      } catch (error) {
        skipped.push({ backend: 'cpu', path: file.path, reason: reasonOf(error) });
        continue;
      }
      if (score === null) {
        chosen ??= file; // a single CPU build has no score: use it unless a variant fits
      } else if (score === 0) {
        skipped.push({ backend: 'cpu', path: file.path, reason: 'this CPU lacks the instruction sets it was built for' });
      } else if (score > best) {
        best = score;
        chosen = file;
      }
    }
  }
  if (chosen === undefined) {
    throw new LlamaError(
      'ERR_BACKEND',
      `No usable CPU backend (libggml-cpu*) in ${searchPaths.join(', ')}: the installation is incomplete; reinstall llama-napi or build it from source (LLAMA_NAPI_BUILD=source)`,
    );
  }
  const { name, devices } = callLoad(addon, chosen);
  return { name, path: chosen.path, devices, ...(chosen.variant !== undefined ? { variant: chosen.variant } : {}) };
}

function callScore(addon: NativeAddon, file: BackendFile): number | null {
  try {
    return addon.backendScore(file.path);
  } catch (error) {
    throw new LlamaError('ERR_BACKEND', reasonOf(error), { cause: error });
  }
}

function callLoad(addon: NativeAddon, file: BackendFile): { name: string; devices: number } {
  try {
    return addon.loadBackend(file.path);
  } catch (error) {
    throw new LlamaError('ERR_BACKEND', reasonOf(error), { cause: error });
  }
}

/** Loads GPU backends per the policy above; failures are logged and recorded, never thrown. */
function loadGpus(addon: NativeAddon, files: BackendFile[], skipped: SkippedBackend[]): LoadedBackend[] {
  const wanted = envList('LLAMA_NAPI_BACKENDS');
  const loaded: LoadedBackend[] = [];
  const seen = new Set<string>();
  const gpuFiles = files
    .filter((f) => f.backend !== 'cpu' && f.backend !== RPC_BACKEND)
    .sort((a, b) => rank(a.backend) - rank(b.backend));
  for (const file of gpuFiles) {
    if (seen.has(file.backend)) continue; // a copy in a later search folder
    seen.add(file.backend);
    if (wanted !== undefined && !wanted.includes(file.backend)) {
      skipped.push({ backend: file.backend, path: file.path, reason: 'not listed in LLAMA_NAPI_BACKENDS' });
      continue;
    }
    const gpuFound = loaded.find((b) => b.devices > 0);
    if (wanted === undefined && gpuFound !== undefined) {
      skipped.push({ backend: file.backend, path: file.path, reason: `${gpuFound.name} already provides the GPU devices` });
      continue;
    }
    try {
      const { name, devices } = addon.loadBackend(file.path);
      loaded.push({ name, path: file.path, devices });
      if (devices === 0) log('info', `llama-napi: the ${name} backend found no device; it is not used`);
    } catch (error) {
      const reason = reasonOf(error);
      skipped.push({ backend: file.backend, path: file.path, reason });
      log('warn', `llama-napi: GPU backend ${file.backend} unavailable, continuing without it: ${reason}`);
    }
  }
  return loaded;
}

/** The file name's backend part of llama.cpp's RPC backend (`libggml-rpc.so`). */
export const RPC_BACKEND = 'rpc';

/** Loads the RPC backend when present (the first copy found); a failure is logged and recorded. */
function loadRpc(addon: NativeAddon, files: BackendFile[], skipped: SkippedBackend[]): LoadedBackend[] {
  const file = files.find((f) => f.backend === RPC_BACKEND);
  if (file === undefined) return [];
  try {
    const { name, devices } = addon.loadBackend(file.path);
    return [{ name, path: file.path, devices }];
  } catch (error) {
    const reason = reasonOf(error);
    skipped.push({ backend: RPC_BACKEND, path: file.path, reason });
    log('warn', `llama-napi: the RPC backend is unavailable (rpcServers and startRpcServer will fail): ${reason}`);
    return [];
  }
}

function rank(backend: string): number {
  const i = GPU_BACKEND_ORDER.indexOf(backend);
  return i === -1 ? GPU_BACKEND_ORDER.length : i;
}

/**
 * Loads the backends for an addon living in `addonDir`. GPU backends first (ggml lists
 * devices in load order and llama.cpp offloads to the first ones), then the CPU backend, then
 * the RPC backend.
 * @throws LlamaError ERR_BACKEND when no CPU backend can be loaded
 */
export function loadBackends(addon: NativeAddon, addonDir: string): BackendReport {
  const skipped: SkippedBackend[] = [];
  const extra = (process.env['LLAMA_NAPI_BACKEND_PATH'] ?? '').split(delimiter).filter(Boolean);
  const searchPaths = [addonDir, ...backendPackageDirs(skipped), ...extra];
  const files = searchPaths.flatMap(findBackendFiles);
  const gpus = loadGpus(addon, files, skipped);
  const cpu = loadCpu(addon, files, searchPaths, skipped);
  log('info', `llama-napi: CPU backend ${cpu.variant ?? '(single build)'} from ${cpu.path}`);
  const rpc = loadRpc(addon, files, skipped);
  return { loaded: [...gpus, cpu, ...rpc], skipped, searchPaths };
}
