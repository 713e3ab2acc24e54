/**
 * llama.cpp's JSON-schema → GBNF conversion, public as {@link jsonSchemaToGrammar}. Grammars are
 * compiled by the addon (src/grammar.cc), which reports a grammar or schema that llama.cpp
 * cannot use as a {@link LlamaError} with code `ERR_GRAMMAR`. The options that carry grammars,
 * schemas and logit biases are validated in lib/options/constraints.ts.
 */
import { callNativeSync } from './errors.js';
import { loadAddon } from './addon.js';
import { schemaJson, type JsonSchema } from './options/constraints.js';

/**
 * Converts a JSON schema to a GBNF grammar with llama.cpp's `json_schema_to_grammar` — the
 * grammar `generate({ jsonSchema })` uses. Handy to inspect, or to edit and pass as `grammar`.
 *
 * @param schema - a JSON schema object (see {@link JsonSchema})
 * @returns GBNF text whose start rule is `root`; the JSON it accepts has no line breaks and
 *   single spaces at most between tokens
 * @throws TypeError - when `schema` is not a plain, JSON-serialisable object
 * @throws LlamaError `ERR_GRAMMAR` - when llama.cpp cannot convert the schema (unknown `type`,
 *   unresolvable `$ref`, invalid `pattern`, …) or it exceeds the limits: 1 MiB as JSON, 128
 *   levels of nesting, property names and `$ref`s of at most 4096 bytes
 */
export function jsonSchemaToGrammar(schema: JsonSchema): string {
  const text = schemaJson('schema', schema, 'argument');
  return callNativeSync(() => loadAddon().jsonSchemaToGrammar(text), 'ERR_GRAMMAR');
}
