/**
 * Loads the native addon on first use, so that importing the package, validating options
 * and the pure unit tests never need the compiled addon. Loading it also loads llama.cpp's
 * backends (lib/backends.ts): nothing can run before a CPU backend is there.
 * @internal
 */
import { dirname } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { native, nativePath, type NativeAddon } from './native.js';
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
