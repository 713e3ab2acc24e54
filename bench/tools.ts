/**
 * Builds and locates llama.cpp's own tools (llama-bench, llama-batched-bench, llama-quantize and, for
 * `--only server`, llama-server) from the same CMake build directory as the addon.
 *
 * Why the same build directory: a comparison with a llama-bench from somewhere else would
 * measure compiler flags (GGML_NATIVE, -O levels, BLAS) and llama.cpp versions, not the
 * binding. Built here, the tools load the very libllama/ggml libraries and CPU backend module
 * the addon loads (all in build/Release), so any remaining gap is the binding's own.
 * The tools are excluded from the default build (EXCLUDE_FROM_ALL) and only configured
 * when the CMake cache has LLAMA_NAPI_BENCH_TOOLS=ON (see CMakeLists.txt).
 *
 * A second llama-bench is built the way llama.cpp's README tells a user to build it
 * (`cmake -B build && cmake --build build --config Release`: GGML_NATIVE on, llama.cpp's default
 * options, one CPU backend linked in rather than loadable modules), from the same vendored tree
 * into a folder of its own (README_BUILD_DIR): the speed a user who builds llama.cpp on this
 * machine would get, the second anchor of `npm run bench`.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (bench/..). */
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
/** The addon's CMake build directory (configured by cmake-js during `npm install`). */
export const BUILD_DIR = join(REPO_ROOT, 'build');

/** Paths of the built tools. */
export interface Tools {
  llamaBench: string;
  llamaQuantize: string;
  llamaBatchedBench: string;
  /** Only when asked for (`ensureTools(log, { server: true })`). */
  llamaServer?: string;
}

/** Tools built on request only: llama-server takes minutes to compile on 2 cores. */
export interface ExtraTools {
  /** Also build llama-server (without its web UI; see CMakeLists.txt). */
  server?: boolean;
}

/** Runs a command with inherited stdio (build output is useful to see); rejects on failure. */
export function runInherit(command: string, args: readonly string[], cwd = REPO_ROOT): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/** First existing path among the candidates (CMakeLists.txt puts them beside the addon). */
function locate(name: string): string {
  const exe = process.platform === 'win32' ? `${name}.exe` : name;
  const candidates = [join(BUILD_DIR, 'Release', exe), join(BUILD_DIR, 'bin', exe), join(BUILD_DIR, 'bin', 'Release', exe), join(BUILD_DIR, 'llama.cpp', 'bin', exe)];
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) throw new Error(`${name} was built but not found; looked in:\n  ${candidates.join('\n  ')}`);
  return found;
}

/**
 * Builds llama-bench, llama-batched-bench and llama-quantize, and llama-server when `extra.server` (a no-op for
 * ninja when they are up to date, so it runs every time: the tools then always match the current vendored sources).
 * @throws when there is no build directory (run `npm install` first) or the build fails
 */
export async function ensureTools(log: (line: string) => void, extra: ExtraTools = {}): Promise<Tools> {
  const cache = join(BUILD_DIR, 'CMakeCache.txt');
  if (!existsSync(cache)) {
    throw new Error(`No CMake build directory at ${BUILD_DIR}: run \`npm install\` first (it configures and builds the addon).`);
  }
  const cacheText = readFileSync(cache, 'utf8');
  // A cache configured with the option before llama-server was part of it lacks LLAMA_BUILD_SERVER=ON: configure again.
  if (!/^LLAMA_NAPI_BENCH_TOOLS:BOOL=ON$/m.test(cacheText) || (extra.server && !/^LLAMA_BUILD_SERVER:BOOL=ON$/m.test(cacheText))) {
    log('Configuring the build with -DLLAMA_NAPI_BENCH_TOOLS=ON (adds llama.cpp tool targets; the addon is unchanged)…');
    await runInherit('cmake', ['-S', REPO_ROOT, '-B', BUILD_DIR, '-DLLAMA_NAPI_BENCH_TOOLS=ON']);
  }
  const targets = ['llama-bench', 'llama-batched-bench', 'llama-quantize', ...(extra.server ? ['llama-server'] : [])];
  log(`Building ${targets.join(', ')} from the vendored tree (same build dir and flags as the addon)…`);
  await runInherit('cmake', ['--build', BUILD_DIR, '--target', ...targets]);
  return {
    llamaBench: locate('llama-bench'),
    llamaQuantize: locate('llama-quantize'),
    llamaBatchedBench: locate('llama-batched-bench'),
    ...(extra.server ? { llamaServer: locate('llama-server') } : {}),
  };
}

/** The vendored llama.cpp tree. */
export const LLAMA_CPP_DIR = join(REPO_ROOT, 'vendor', 'llama.cpp');
/** Where llama-bench is built the README's way (git-ignored, outside the addon's build). */
export const README_BUILD_DIR = join(REPO_ROOT, '.cache', 'llama-native');

/**
 * Builds llama-bench the way llama.cpp's README says, from the vendored tree, into
 * README_BUILD_DIR, and returns its path. Configured once with no options of ours (only
 * GGML_NATIVE=ON spelled out: it is the default, which a SOURCE_DATE_EPOCH in the environment
 * would turn off); then built every time, a no-op when up to date. Only the llama-bench target:
 * the README's `cmake --build build` compiles the same code for it, plus other programs, one of
 * which (the server's web UI) downloads assets at build time.
 */
export async function ensureReadmeLlamaBench(log: (line: string) => void): Promise<string> {
  if (!existsSync(join(README_BUILD_DIR, 'CMakeCache.txt'))) {
    log(`Configuring llama.cpp the README's way (cmake -B ${README_BUILD_DIR}: GGML_NATIVE, default options)…`);
    await runInherit('cmake', ['-S', LLAMA_CPP_DIR, '-B', README_BUILD_DIR, '-DGGML_NATIVE=ON']);
  }
  const cache = readFileSync(join(README_BUILD_DIR, 'CMakeCache.txt'), 'utf8');
  if (!/^GGML_NATIVE:BOOL=ON$/m.test(cache) || /^GGML_BACKEND_DL:BOOL=ON$/m.test(cache)) {
    throw new Error(`${README_BUILD_DIR} is not a README-style build (GGML_NATIVE=ON, no GGML_BACKEND_DL): delete it and run again`);
  }
  log('Building llama-bench the README\'s way (cmake --build --config Release; minutes the first time)…');
  await runInherit('cmake', ['--build', README_BUILD_DIR, '--config', 'Release', '--target', 'llama-bench', '--parallel', String(availableParallelism())]);
  const exe = process.platform === 'win32' ? 'llama-bench.exe' : 'llama-bench';
  const candidates = [join(README_BUILD_DIR, 'bin', exe), join(README_BUILD_DIR, 'bin', 'Release', exe)];
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) throw new Error(`llama-bench was built but not found; looked in:\n  ${candidates.join('\n  ')}`);
  return found;
}

/** Output of a finished command. */
export interface Captured {
  stdout: string;
  stderr: string;
}

/** Runs a command capturing stdout/stderr; rejects (with stderr's tail) on a non-zero exit. */
export function runCapture(command: string, args: readonly string[], cwd = REPO_ROOT): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const result = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (code === 0) resolve(result);
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${result.stderr.slice(-4000)}`));
    });
  });
}
