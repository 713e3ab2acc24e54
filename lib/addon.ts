/**
 * Loads the native addon on first use, so that importing the package, validating options
 * and the pure unit tests never need the compiled addon. Loading it also loads llama.cpp's
 * backends (lib/backends.ts): nothing can run before a CPU backend is there. The only module
 * that `require`s the addon; what it exports is declared in lib/native.ts.
 * @internal
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type { NativeAddon } from './native.js';
import { packageRoot } from './package-root.js';
import { loadBackends, type BackendReport } from './backends.js';
import { LlamaError } from './errors.js';
import { attachLogger } from './logger.js';

let loaded: NativeAddon | undefined;
let report: BackendReport | undefined;

/** The addon, loaded (and connected to the logger, with its backends loaded) on the first call. */
export function loadAddon(): NativeAddon {
  if (loaded === undefined) {
    let addon: NativeAddon;
    try {
      addon = native();
    } catch (error) {
      throw new LlamaError('ERR_NATIVE', `Cannot load the llama-napi native addon: ${String((error as Error)?.message ?? error)}`, {
        cause: error,
      });
    }
    attachLogger(addon); // first, so that backend loading is logged too
    report = loadBackends(addon, dirname(nativePath()!));
    // process.exit() goes straight to exit(): stop native threads before static destructors
    // run under them. (Worker threads are covered by the addon's environment cleanup.)
    if (isMainThread) process.once('exit', () => addon.shutdown());
    loaded = addon;
  }
  return loaded;
}

/** What loadBackends() did when the addon was loaded. */
export function loadedBackends(): BackendReport {
  loadAddon();
  return report!;
}

let required: NativeAddon | undefined;
let addonPath: string | undefined;

/**
 * Loads the addon once: `LLAMA_NAPI_ADDON` (a path to a `.node` file, e.g. a Vulkan or CUDA
 * variant built with LLAMA_NAPI_BUILD_DIR) when set, else what node-gyp-build resolves: a
 * local build (build/Release), then the prebuild for this platform (prebuilds/).
 */
export function native(): NativeAddon {
  if (!required) {
    const require = createRequire(join(packageRoot, 'package.json'));
    const override = process.env['LLAMA_NAPI_ADDON'];
    const gypBuild = require('node-gyp-build/node-gyp-build.js') as { resolve(dir: string): string };
    const path = override ? resolve(override) : gypBuild.resolve(packageRoot);
    required = require(path) as NativeAddon;
    addonPath = path;
  }
  return required;
}

/** The file the addon was loaded from (undefined before {@link native} succeeded). */
export function nativePath(): string | undefined {
  return addonPath;
}
