/**
 * Where the hub client talks to and where it keeps files, read from the same environment
 * variables as Python's huggingface_hub, so that both tools share one cache and one login.
 * Read at call time (not at import), so a service can change them between calls.
 * @internal
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** huggingface_hub's default endpoint. */
export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env['HF_HOME']) return env['HF_HOME'];
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg ? xdg : join(homedir(), '.cache'), 'huggingface');
}

/** The cache root: `$HF_HUB_CACHE` (or its old name), else `$HF_HOME/hub`. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['HF_HUB_CACHE'] || env['HUGGINGFACE_HUB_CACHE'] || join(hfHome(env), 'hub');
}

/** `$HF_ENDPOINT` without a trailing slash, else https://huggingface.co. */
export function hubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env['HF_ENDPOINT'] || DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** huggingface_hub's reading of boolean variables ("1", "ON", "YES", "TRUE"). */
function isTrue(value: string | undefined): boolean {
  return value !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(value.trim().toUpperCase());
}

/** `HF_HUB_OFFLINE=1`: never touch the network, answer from the cache alone. */
export function isOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return isTrue(env['HF_HUB_OFFLINE']);
}

/**
 * The user's token: `$HF_TOKEN` (or its old name), else the file `huggingface-cli login` saved
 * (`$HF_TOKEN_PATH`, else `$HF_HOME/token`). Undefined when there is none.
 */
export function savedToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env['HF_TOKEN'] || env['HUGGING_FACE_HUB_TOKEN'];
  if (fromEnv && fromEnv.trim()) return fromEnv.trim();
  try {
    const token = readFileSync(env['HF_TOKEN_PATH'] || join(hfHome(env), 'token'), 'utf8').trim();
    return token.length > 0 ? token : undefined;
  } catch {
    return undefined; // no saved login: anonymous access
  }
}
