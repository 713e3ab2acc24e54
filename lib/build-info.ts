import { join, relative, sep } from 'node:path';
import { loadAddon, loadedBackends, nativePath } from './addon.js';
import type { LoadedBackend, SkippedBackend } from './backends.js';
import { listDevices, type Device } from './devices.js';
import { packageVersion, readJsonFile } from './package-files.js';
import { packageRoot } from './package-root.js';

export type { LoadedBackend, SkippedBackend } from './backends.js';

/** What the loaded addon was built from and with, and what it loaded at run time. */
export interface BuildInfo {
  /** This package's version. */
  packageVersion: string;
  /** llama.cpp's own version string. */
  llamaVersion: string;
  /** The upstream tag this package pins (vendor/llama.cpp.pin.json). */
  llamaTag: string;
  /** The llama.cpp commit the addon was compiled from (the pinned one unless built from another tree). */
  llamaCommit: string;
  /** The addon file in use. */
  addonPath: string;
  /**
   * Where it came from: `'environment'` (LLAMA_NAPI_ADDON), `'source'` (a local build,
   * build/Release) or `'prebuild'` (prebuilds/<platform>-<arch>/).
   */
  addonSource: 'environment' | 'source' | 'prebuild';
  /** Backend libraries loaded, GPU ones first. */
  backends: LoadedBackend[];
  /** Backend libraries found but not used, with the reason (no driver, another GPU backend won, …). */
  skippedBackends: SkippedBackend[];
  /** The CPU backend variant chosen for this CPU (`"haswell"`, …), or `"single"` for a one-variant build. */
  cpuVariant: string;
  /** Instruction sets the chosen CPU variant uses, as ggml names them (e.g. `{ AVX2: "1" }`). */
  cpuFeatures: Record<string, string>;
  /** Devices of the loaded backends, as {@link listDevices} reports them. */
  devices: Device[];
  /** llama.cpp's system info line (features of the loaded backends). */
  systemInfo: string;
  /** Whether a loaded backend can hold model layers outside host memory (llama_supports_gpu_offload). */
  gpuOffload: boolean;
  /** Whether this platform can memory-map model files (llama_supports_mmap). */
  mmap: boolean;
  /** Whether this platform can lock model memory against swapping (llama_supports_mlock). */
  mlock: boolean;
}

/**
 * Describes the native build and what it loaded: llama.cpp version and commit, the addon
 * file and where it came from, backends loaded and skipped, the CPU variant, devices.
 * Loads the addon (and its backends) if that has not happened yet.
 */
export function getBuildInfo(): BuildInfo {
  const pin = readJsonFile<{ tag: string; commit: string }>(join(packageRoot, 'vendor', 'llama.cpp.pin.json'));
  const addon = loadAddon();
  const { llamaCommit, ...native } = addon.buildInfo();
  const report = loadedBackends();
  const addonPath = nativePath()!;
  const inPackage = relative(packageRoot, addonPath).split(sep)[0];
  const addonSource = process.env['LLAMA_NAPI_ADDON'] ? 'environment' : inPackage === 'prebuilds' ? 'prebuild' : 'source';
  const cpu = report.loaded.find((b) => b.name === 'CPU');
  return {
    packageVersion: packageVersion(),
    ...native,
    llamaTag: pin.tag,
    llamaCommit: llamaCommit || pin.commit,
    addonPath,
    addonSource,
    backends: [...report.loaded],
    skippedBackends: [...report.skipped],
    cpuVariant: cpu?.variant ?? 'single',
    cpuFeatures: Object.fromEntries(addon.cpuFeatures()),
    devices: listDevices(),
  };
}
