/**
 * The CLI's side of the Hugging Face hub client (lib/hub, through its public entry):
 * recognising hub references, finding the file to load, and showing download progress.
 */
import { stat } from 'node:fs/promises';
import type { PullProgress } from '../hub/index.js';
import { formatBytes, type Terminal } from './terminal.js';

/** The file to load among pulled files (in pullModel's order): the first GGUF, the first part of a split model. */
export function modelFileOf(paths: readonly string[]): string | undefined {
  return paths.find((p) => p.endsWith('.gguf'));
}

/**
 * Whether `-m VALUE` names a hub reference rather than a local file: `hf:`/`hf://` always;
 * otherwise a value that is not an existing file and reads `org/repo` or `org/repo:QUANT`
 * (one slash, no `.gguf`, not a relative or absolute path).
 */
export async function isHubReference(value: string): Promise<boolean> {
  if (value.startsWith('hf:')) return true;
  if (await stat(value).then(() => true, () => false)) return false;
  return /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*(:[\w.-]+)?$/.test(value) && !value.endsWith('.gguf');
}

/** A progress callback for `pullModel`: a bar per file on a TTY, one line per finished file otherwise. */
export function pullProgressReporter(term: Terminal): (p: PullProgress) => void {
  const announced = new Set<string>();
  return (p) => {
    const done = p.cached || (p.totalBytes > 0 && p.downloadedBytes >= p.totalBytes);
    const label = `${p.fileCount > 1 ? `[${p.fileIndex + 1}/${p.fileCount}] ` : ''}${p.file}`;
    if (!done) {
      term.progress(label, p.totalBytes > 0 ? p.downloadedBytes / p.totalBytes : 0, `${formatBytes(p.downloadedBytes)} / ${formatBytes(p.totalBytes)}`);
      return;
    }
    if (announced.has(p.file)) return;
    announced.add(p.file);
    term.note(`${label}: ${p.cached ? 'already present' : 'downloaded'} (${formatBytes(p.totalBytes)})`);
  };
}
