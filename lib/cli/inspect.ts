/**
 * `llama-napi inspect model.gguf [--tensors] [--json]`: what a model is, from the file's own
 * header (the library's readGguf), without loading it — fast on a 30 GB file, and safe on a
 * file llama.cpp would refuse.
 */
import { parseArgs } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { INSPECT_FLAGS } from './flags.js';
import { commandHelp } from './help.js';
import { modelFacts, readModelHeader, type ModelFacts } from './model-facts.js';
import { existingFile } from './model-source.js';
import { formatBytes, formatCount, table, type Terminal } from './terminal.js';

/** Runs `llama-napi inspect ARGS…`; resolves to the exit code. */
export async function inspectCommand(argv: readonly string[], term: Terminal): Promise<number> {
  const args = parseArgs(argv, INSPECT_FLAGS, 'inspect');
  if (args.flags['help']) {
    term.out(commandHelp('inspect'));
    return EXIT.ok;
  }
  const given = [...args.positionals, ...(typeof args.flags['model'] === 'string' ? [args.flags['model']] : [])];
  if (given.length !== 1) throw new UsageError(given.length === 0 ? 'inspect needs a GGUF file: llama-napi inspect model.gguf' : `unexpected argument "${given[1]}"`, 'inspect');
  const path = await existingFile(given[0]!);
  const gguf = await readModelHeader(path);
  const facts = modelFacts(gguf);
  const tensors = args.flags['tensors'] ? gguf.tensors.map((t) => ({ name: t.name, type: t.typeName, shape: t.dims, bytes: t.byteSize })) : undefined;

  if (args.flags['json']) {
    term.out(`${JSON.stringify({ path, ggufVersion: gguf.version, ...facts, ...(tensors ? { tensors } : {}) })}\n`);
    return EXIT.ok;
  }
  const lines = summaryLines(path, facts);
  if (tensors) {
    lines.push('', ...table([['tensor', 'type', 'shape', 'size'], ...tensors.map((t) => [t.name, t.type, `[${t.shape.join(', ')}]`, formatBytes(t.bytes)])]));
  }
  term.out(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

function summaryLines(path: string, m: ModelFacts): string[] {
  const show = (v: number | null): string => (v === null ? '-' : String(v));
  const quant = m.fileType === null ? '-' : `${m.fileType} (${m.fileTypeDescription})`;
  const types = m.tensorTypes.map((t) => `${t.type} ${t.tensors} (${((100 * t.parameters) / Math.max(1, m.parameterCount)).toFixed(1)}%)`).join(', ');
  return table([
    ['file', `${path} (${formatBytes(m.fileSize)})`],
    ['name', m.name ?? '-'],
    ['architecture', m.architecture],
    ['quantisation', `${quant}; mostly ${m.dominantTensorType ?? '-'}`],
    ['tensor types', types || '-'],
    ['parameters', `${formatCount(m.parameterCount)} (${m.parameterCount})`],
    ['experts', m.expertCount > 0 ? `${m.expertCount}, ${m.expertUsedCount} used per token` : '- (dense)'],
    ['layers', show(m.layerCount)],
    ['trained context', show(m.trainedContextLength)],
    ['embedding length', show(m.embeddingLength)],
    ['heads', m.headCount === null ? '-' : `${m.headCount} (KV ${show(m.headCountKv)})`],
    ['vocabulary', show(m.vocabularySize)],
    ['chat template', m.hasChatTemplate ? 'yes' : 'no'],
    ['tensors', String(m.tensorCount)],
  ]);
}
