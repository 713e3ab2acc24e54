/**
 * Loads the native addon on first use, so that importing the package, validating options
 * and the pure unit tests never need the compiled addon.
 * @internal
 */
import { isMainThread } from 'node:worker_threads';
import { native, type NativeAddon } from './native.js';
import { LlamaError } from './errors.js';
import { attachLogger } from './logger.js';

let loaded: NativeAddon | undefined;

/** The addon, loaded (and connected to the logger) on the first call. */
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
    attachLogger(addon);
    // process.exit() goes straight to exit(): stop native threads before static destructors
    // run under them. (Worker threads are covered by the addon's environment cleanup.)
    if (isMainThread) process.once('exit', () => addon.shutdown());
    loaded = addon;
  }
  return loaded;
}
