/**
 * Throttled progress reports: a download calls back for every chunk, the user hears at most
 * every `hubTuning.progressIntervalMs` per file, plus the end of each file.
 * @internal
 */
import { guardCallback } from '../logger.js';
import type { PullProgress } from './options.js';
import { hubTuning } from './tuning.js';

/** Reports the progress of one file. */
export type FileProgress = (downloadedBytes: number) => void;

/** A reporter for the files of one pull; a no-op when the user passed no callback. */
export function progressReporter(onProgress: ((progress: PullProgress) => void) | undefined, repo: string, fileCount: number) {
  const deliver = onProgress ? guardCallback('onProgress', onProgress) : undefined;
  return {
    /** A file that was already present: one report, complete. */
    cached(fileIndex: number, file: string, totalBytes: number): void {
      deliver?.({ repo, file, fileIndex, fileCount, downloadedBytes: totalBytes, totalBytes, cached: true });
    },
    /** A file being downloaded: returns the per-chunk callback (throttled; the end reported once). */
    downloading(fileIndex: number, file: string, totalBytes: number): FileProgress {
      let last = 0;
      let finished = false;
      return (downloadedBytes) => {
        const now = Date.now();
        if (!deliver || finished || (downloadedBytes < totalBytes && now - last < hubTuning.progressIntervalMs)) return;
        last = now;
        finished = downloadedBytes >= totalBytes; // the end is reported once
        deliver({ repo, file, fileIndex, fileCount, downloadedBytes, totalBytes, cached: false });
      };
    },
  };
}

export type ProgressReporter = ReturnType<typeof progressReporter>;
