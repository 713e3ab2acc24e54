import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon } from './addon.js';

/** What the loaded addon was built from and with. */
export interface BuildInfo {
  /** llama.cpp's own version string. */
  llamaVersion: string;
  /** The pinned upstream tag and commit (vendor/llama.cpp.pin.json). */
  llamaTag: string;
  llamaCommit: string;
  /** CPU features and backends llama.cpp was compiled with. */
  systemInfo: string;
  gpuOffload: boolean;
  mmap: boolean;
  mlock: boolean;
}

/** Describes the native build: llama.cpp version and commit, compiled-in features. */
export function getBuildInfo(): BuildInfo {
  const pinPath = join(dirname(fileURLToPath(import.meta.url)), '..', 'vendor', 'llama.cpp.pin.json');
  const pin = JSON.parse(readFileSync(pinPath, 'utf8')) as { tag: string; commit: string };
  return { ...loadAddon().buildInfo(), llamaTag: pin.tag, llamaCommit: pin.commit };
}
