/**
 * An OpenAI-compatible HTTP server on the library's continuous-batching engine (`node:http`
 * only). See docs/server.md.
 */
export { createServer, type LlamaServer, type ServerAddress, type CloseOptions } from './server.js';
export { runServer, type RunServerOptions } from './run-server.js';
export { SERVER_DEFAULTS, type ServerOptions } from './options.js';
export type { CorsOption } from './access.js';
