/**
 * The small endpoints: GET /health, GET /v1/models[/{id}], GET /metrics, and llama-server's
 * POST /tokenize and POST /detokenize.
 */
import { HttpError, invalidField } from './errors.js';
import type { Exchange } from './exchange.js';
import { cText, optionalBoolean, requestObject, tokenArray } from './fields.js';
import { sendJson, sendText } from './http-io.js';
import { tokenizeRequestText } from './request-tokens.js';

/** 200 `{ status: 'ok' }` once the model is loaded; 503 while loading or shutting down (load balancers route elsewhere). */
export async function health(x: Exchange): Promise<number> {
  x.engine.loaded; // throws the 503/500 that says why not
  sendJson(x.res, 200, { status: 'ok' });
  return 200;
}

export async function listModels(x: Exchange): Promise<number> {
  sendJson(x.res, 200, { object: 'list', data: [modelObject(x)] });
  return 200;
}

export async function retrieveModel(x: Exchange, id: string): Promise<number> {
  if (id !== x.engine.options.modelName) {
    throw new HttpError(404, `The model '${id}' does not exist`, { param: 'model', code: 'model_not_found' });
  }
  sendJson(x.res, 200, modelObject(x));
  return 200;
}

/** Loaded at startup, so "created" is the server's start; `meta` adds what llama-server reports. */
const STARTED = Math.floor(Date.now() / 1000);

function modelObject(x: Exchange): object {
  const base = { id: x.engine.options.modelName, object: 'model', created: STARTED, owned_by: 'llama-napi' };
  if (x.engine.state !== 'ready') return base;
  const { model, context } = x.engine.loaded;
  const { info } = model;
  return {
    ...base,
    meta: {
      architecture: info.architecture,
      n_params: info.parameterCount,
      size: info.sizeBytes,
      n_vocab: info.vocabularySize,
      n_ctx_train: info.trainedContextLength,
      n_embd: info.embeddingLength,
      n_ctx: context.size,
      n_ctx_per_request: context.sequenceSize,
      parallel: context.sequences,
    },
  };
}

export async function metrics(x: Exchange): Promise<number> {
  sendText(x.res, 200, x.engine.metrics.render(x.engine.admission), 'text/plain; version=0.0.4; charset=utf-8');
  return 200;
}

/**
 * `{ content, add_special = false, parse_special = true }` → `{ tokens }`, with llama-server's
 * defaults: no BOS, and special-token text such as `</s>` becomes the special token.
 */
export async function tokenize(x: Exchange): Promise<number> {
  const { model } = x.engine.loaded;
  const body = requestObject(await x.body());
  const content = body['content'];
  if (typeof content !== 'string') throw invalidField('content', 'a string', content);
  const addSpecial = optionalBoolean(body, 'add_special') ?? false;
  const parseSpecial = optionalBoolean(body, 'parse_special') ?? true;
  sendJson(x.res, 200, { tokens: await tokenizeRequestText(model, cText(content, 'content'), { addSpecial, parseSpecial }) });
  return 200;
}

/** `{ tokens }` → `{ content }`. */
export async function detokenize(x: Exchange): Promise<number> {
  const { model } = x.engine.loaded;
  const body = requestObject(await x.body());
  const tokens = tokenArray(body['tokens'] ?? [], 'tokens', model.info.vocabularySize);
  sendJson(x.res, 200, { content: model.detokenize(tokens) });
  return 200;
}
