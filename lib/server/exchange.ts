/**
 * One request/response pair as the endpoints see it: the raw objects, the body reader, and a
 * signal that fires when the client goes away before its answer is complete.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from './engine.js';

/** The abort reason when the client closed the connection; such requests are counted as status 499. */
export class ClientGone extends Error {
  constructor() {
    super('The client closed the connection');
    this.name = 'ClientGone';
  }
}

/** nginx's "client closed request": what the metrics record for a request whose client left. */
export const CLIENT_GONE_STATUS = 499;

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly engine: Engine;
  /** Path without the query string. */
  readonly path: string;
  /** `performance.now()` when the request arrived. */
  readonly arrivedAt: number;
  /** Aborted (reason {@link ClientGone}) when the connection closes before the answer is complete. */
  readonly clientGone: AbortSignal;
  /** The parsed JSON body (read at most once, bounded by `maxBodyBytes`). */
  body(): Promise<unknown>;
}
