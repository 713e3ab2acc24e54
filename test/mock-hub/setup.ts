// Per-test setup for the hub tests: a fresh mock hub, a fresh cache and HF_HOME in temp dirs
// (never the real home), and the hub's environment variables pointed at them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hubTuning } from '../../lib/hub/tuning.js';
import { pullModel, type PullModelOptions } from '../../lib/hub/index.js';
import { fixtureBytes, MockHub, sha256, type MockRepo } from './server.js';

export const HUB_ENV = ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HOME', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_OFFLINE', 'XDG_CACHE_HOME'];

export interface HubFixture {
  hub: MockHub;
  /** Temp folder holding cache/, home/ and anything a test writes. */
  dir: string;
  cache: string;
  home: string;
  /** pullModel with fast retries (tests of backoff pass their own). */
  pull: (ref: string, options?: PullModelOptions) => Promise<string[]>;
  close: () => Promise<void>;
}

/** The standard test repository: GGUF files of three quantisations, a split set, small text files. */
export function standardRepo(id = 'org/model-GGUF'): MockRepo {
  return {
    id,
    files: [
      { path: '.gitattributes', content: Buffer.from('*.gguf filter=lfs diff=lfs merge=lfs -text\n') },
      { path: 'README.md', content: Buffer.from('# test model\n') },
      { path: 'empty.txt', content: Buffer.alloc(0) },
      { path: 'model.Q4_K_M.gguf', content: fixtureBytes(96 * 1024, 1) },
      { path: 'model.Q8_0.gguf', content: fixtureBytes(160 * 1024, 2) },
      { path: 'sub/dir/model.F16.gguf', content: fixtureBytes(40 * 1024, 3) },
      { path: 'split/model-Q6_K-00001-of-00003.gguf', content: fixtureBytes(30 * 1024, 4) },
      { path: 'split/model-Q6_K-00002-of-00003.gguf', content: fixtureBytes(30 * 1024, 5) },
      { path: 'split/model-Q6_K-00003-of-00003.gguf', content: fixtureBytes(10 * 1024, 6) },
    ],
  };
}

export async function hubFixture(repos: MockRepo[] = [standardRepo()]): Promise<HubFixture> {
  const saved = Object.fromEntries(HUB_ENV.map((name) => [name, process.env[name]]));
  const savedTuning = { ...hubTuning };
  const dir = mkdtempSync(join(tmpdir(), 'llama-napi-hub-'));
  const hub = await MockHub.start(repos);
  for (const name of HUB_ENV) delete process.env[name];
  const cache = join(dir, 'cache');
  const home = join(dir, 'home');
  process.env['HF_ENDPOINT'] = hub.endpoint;
  process.env['HF_HUB_CACHE'] = cache;
  process.env['HF_HOME'] = home;
  hubTuning.lockPollMs = 20;
  return {
    hub,
    dir,
    cache,
    home,
    pull: (ref, options) => pullModel(ref, { retryDelayMs: 5, ...options }),
    async close() {
      await hub.close();
      for (const name of HUB_ENV) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
      Object.assign(hubTuning, savedTuning);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The content of a file of the standard repository. */
export function contentOf(repo: MockRepo, path: string): Buffer {
  return repo.files.find((file) => file.path === path)!.content;
}

export { sha256 };
