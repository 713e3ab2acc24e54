/**
 * `llama-napi run`: llama.cpp's `main`/`llama-cli` command line → one generation (`-p`, `-f`)
 * or an interactive chat (`-i`, `-cnv`).
 *
 * stdout carries the generated text alone (or, with `--json`, one JSON object), so output can
 * be piped; the prompt is echoed only when stdout is a terminal, as llama-cli shows it.
 * Everything else (load progress, timings, warnings) goes to stderr.
 */
import { setLogger, type GenerateOptions, type GenerationResult } from '../index.js';
import { parseArgs } from './args.js';
import { runChat } from './chat.js';
import { EXIT, UsageError } from './exit-codes.js';
import { RUN_GROUPS, flagsOf } from './flags.js';
import { commandHelp } from './help.js';
import { loadFromFlags, type Loaded } from './load.js';
import { FlagValues, contextOptions, generateOptions, placementOptions, readText } from './options.js';
import type { Terminal } from './terminal.js';

/** Runs `llama-napi run ARGS…`; resolves to the exit code. */
export async function runCommand(argv: readonly string[], term: Terminal): Promise<number> {
  const args = parseArgs(argv, flagsOf(RUN_GROUPS), 'run');
  const f = new FlagValues(args, 'run');
  if (f.flag('help')) {
    term.out(commandHelp('run'));
    return EXIT.ok;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}" (the prompt goes after -p)`, 'run');
  const interactive = f.flag('interactive') || f.flag('conversation') || f.flag('instruct');
  if (f.has('prompt') && f.has('file')) throw new UsageError('-p and -f cannot be used together', 'run');
  if (interactive && f.flag('json')) throw new UsageError('--json is for one generation, not with -i/-cnv', 'run');
  if (!interactive && !f.has('prompt') && !f.has('file')) {
    throw new UsageError('no prompt: give -p TEXT or -f FNAME, or -i for an interactive chat', 'run');
  }
  // Check every value before anything slow happens: a typo is a usage error, not a failed load.
  placementOptions(f);
  contextOptions(f, 0);
  const generate = await generateOptions(f);
  const prompt = f.has('file') ? await readText(f, 'file') : f.string('prompt');
  term.setColour(f.string('color'));
  if (f.flag('verbose')) setLogger((level, message) => term.note(`${level}: ${message.trimEnd()}`), { level: 'debug' });

  if (interactive) {
    return runChat({ term, generate, systemPrompt: f.string('systemPrompt'), firstMessage: prompt, load: (signal) => loadFromFlags(f, term, signal) });
  }

  // Ctrl-C: the first stops the load or the generation (exit 130 with what was generated),
  // a second one ends the process at once.
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const loaded = await loadFromFlags(f, term, controller.signal);
    try {
      const result = await generateOnce(loaded, prompt!, { ...generate, signal: controller.signal }, f, term);
      return result.finishReason === 'abort' ? EXIT.interrupted : EXIT.ok;
    } finally {
      await loaded.model.dispose();
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function generateOnce(loaded: Loaded, prompt: string, options: GenerateOptions, f: FlagValues, term: Terminal): Promise<GenerationResult> {
  const json = f.flag('json');
  const system = f.string('systemPrompt');
  const started = performance.now();
  const generation =
    system === undefined
      ? loaded.context.generate(prompt, options)
      : loaded.context.chat([{ role: 'system', content: system }, { role: 'user', content: prompt }], options);
  const echo = !json && term.stdoutIsTTY && !f.flag('noDisplayPrompt');
  if (echo) term.out(term.paint(prompt, 'yellow'));
  for await (const chunk of generation) if (!json) term.out(chunk.text);
  const result = await generation.result;
  const totalMs = performance.now() - started;
  if (echo || (!json && term.stdoutIsTTY)) term.out('\n');

  term.note(timingLine(result, loaded.loadMs));
  if (result.finishReason === 'abort') term.note('llama-napi: interrupted');
  if (json) {
    const { text, tokens, finishReason, promptTokens, cachedTokens, generatedTokens } = result;
    const timings = {
      loadMs: round(loaded.loadMs),
      totalMs: round(totalMs),
      timeToFirstTokenMs: result.timeToFirstTokenMs === null ? null : round(result.timeToFirstTokenMs),
      promptTokensPerSecond: round(result.promptTokensPerSecond),
      generationTokensPerSecond: round(result.generationTokensPerSecond),
    };
    term.out(`${JSON.stringify({ model: loaded.path, text, tokens, finishReason, promptTokens, cachedTokens, generatedTokens, timings })}\n`);
  }
  return result;
}

/** llama.cpp's summary in one line: prompt and generation speed, and why it stopped. */
export function timingLine(r: GenerationResult, loadMs: number): string {
  const first = r.timeToFirstTokenMs === null ? '' : `, first token after ${r.timeToFirstTokenMs.toFixed(1)} ms`;
  return (
    `llama-napi: load ${loadMs.toFixed(0)} ms | prompt ${r.promptTokens} tokens (${r.cachedTokens} cached), ${r.promptTokensPerSecond.toFixed(2)} prompt t/s | ` +
    `gen ${r.generatedTokens} tokens, ${r.generationTokensPerSecond.toFixed(2)} gen t/s${first} | finish: ${r.finishReason}`
  );
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
