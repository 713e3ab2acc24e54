/**
 * The engine behind the endpoints: the model, the one context all requests share (a sequence
 * per parallel request), admission and metrics, and their lifetime — loading, readiness and an
 * orderly shutdown.
 */
import { setMaxListeners } from 'node:events';
import type { Context, Model } from '../index.js';
// Straight from its module, not the package index: lib/index.ts re-exports this server, and a
// runtime import of the index from here would be an import cycle (harmless in ESM, fragile in CJS).
import { loadModel } from '../model.js';
import { Admission } from './admission.js';
import { HttpError, backendFailed } from './errors.js';
import { Metrics } from './metrics.js';
import type { ResolvedServerOptions } from './options.js';

export type EngineState = 'loading' | 'ready' | 'failed' | 'closing' | 'closed';

export class Engine {
  readonly options: ResolvedServerOptions;
  readonly admission: Admission;
  readonly metrics = new Metrics();
  /** Settles when the model is loaded and the context created (rejects if that fails). */
  readonly ready: Promise<void>;
  #state: EngineState = 'loading';
  #failure: unknown;
  /** Set when a remote RPC server of the model failed (ERR_RPC): the model is unusable from then on. */
  #backendFailure: unknown;
  #model: Model | undefined;
  #context: Context | undefined;
  /** Aborted when shutdown's grace period is over: running generations stop at their next token. */
  readonly #deadline = new AbortController();
  #closing: Promise<void> | undefined;
  /** Ends the grace period early (a second `close` with no grace). */
  #endGrace: (() => void) | undefined;

  constructor(options: ResolvedServerOptions) {
    this.options = options;
    this.admission = new Admission(options.parallel, options.maxQueue);
    // Every running request listens to the deadline: as many listeners as requests, by design.
    setMaxListeners(0, this.#deadline.signal);
    this.ready = this.#open();
    this.ready.catch(() => {}); // observed through state and the handlers; not an unhandled rejection
  }

  get state(): EngineState {
    return this.#state;
  }

  /** Whether shutdown has begun (aborts and disposals are then 503, not 500). */
  get shuttingDown(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  /** Aborted when running generations must stop (shutdown deadline). */
  get deadlineSignal(): AbortSignal {
    return this.#deadline.signal;
  }

  /** The loaded model and context, or the 503/500 that explains why there is none. */
  get loaded(): { model: Model; context: Context } {
    if (this.#state === 'ready' && this.#backendFailure !== undefined) throw backendFailed(this.#backendFailure);
    if (this.#state === 'ready') return { model: this.#model!, context: this.#context! };
    if (this.#state === 'loading') {
      throw new HttpError(503, 'Loading model', { code: 'loading', headers: { 'Retry-After': '1' } });
    }
    if (this.#state === 'failed') {
      const reason = this.#failure instanceof Error ? this.#failure.message : String(this.#failure);
      throw new HttpError(500, `The model failed to load: ${reason}`, { code: 'model_load_failed' });
    }
    throw new HttpError(503, 'The server is shutting down', { code: 'shutting_down' });
  }

  /** Notes a request's failure: one that says the model's RPC backend failed makes /health and every later request 503. */
  noteFailure(error: unknown): void {
    if ((error as { code?: unknown } | null)?.code === 'ERR_RPC' && this.#backendFailure === undefined) this.#backendFailure = error;
  }

  /**
   * Stops admitting requests, lets running ones finish for `graceMs`, aborts what is left, then
   * disposes the context (and the model if the server loaded it). Idempotent; a later call with
   * `graceMs` 0 ends the grace period of the one in progress.
   */
  close(graceMs = this.options.shutdownTimeoutMs): Promise<void> {
    if (this.#closing !== undefined && graceMs === 0) this.#endGrace?.();
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #open(): Promise<void> {
    const { model, load, context, parallel, embeddings } = this.options;
    try {
      this.#model = typeof model === 'string' ? await loadModel(model, load) : model;
      this.#context = await this.#model.createContext({ ...context, sequences: parallel, embeddings });
      if (this.#state !== 'loading') throw new HttpError(503, 'The server was closed while loading');
      this.#state = 'ready';
    } catch (error) {
      if (this.#state === 'loading') this.#state = 'failed';
      this.#failure = error;
      await this.#release();
      throw error;
    }
  }

  async #close(graceMs: number): Promise<void> {
    const wasLoading = this.#state === 'loading';
    this.#state = 'closing';
    this.admission.close(new HttpError(503, 'The server is shutting down', { code: 'shutting_down', headers: { 'Retry-After': '1' } }));
    if (wasLoading) await this.ready.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      this.#endGrace = resolve;
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([this.admission.idle(), deadline]);
    clearTimeout(timer);
    this.#deadline.abort(new HttpError(503, 'The server is shutting down', { code: 'shutting_down' }));
    await this.admission.idle();
    await this.#release();
    this.#state = 'closed';
  }

  async #release(): Promise<void> {
    const ownsModel = typeof this.options.model === 'string';
    await this.#context?.dispose();
    if (ownsModel) await this.#model?.dispose();
    this.#context = undefined;
    if (ownsModel) this.#model = undefined;
  }
}
