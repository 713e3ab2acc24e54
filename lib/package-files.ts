/**
 * JSON files of this package and of packages beside it (package.json versions, the llama.cpp
 * pin), read on demand.
 * @internal
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './package-root.js';

/** Parses the JSON file at `path`. */
export function readJsonFile<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** This package's version (package.json). */
export function packageVersion(): string {
  return readJsonFile<{ version: string }>(join(packageRoot, 'package.json')).version;
}
