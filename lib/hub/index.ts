/**
 * The Hugging Face hub client: model references, the shared cache, resumable verified downloads.
 */
export { pullModel, resolveModel } from './pull.js';
export { PULL_DEFAULTS, type PullModelOptions, type ResolveModelOptions, type PullProgress } from './options.js';
export { parseModelRef, type ModelRef } from './ref.js';
