/**
 * `llama-napi --help` and `llama-napi COMMAND --help`, generated from the flag tables so
 * that help and parser cannot disagree.
 */
import { formatFlagHelp } from './args.js';
import { ESTIMATE_GROUPS, HELP_FLAG, INSPECT_FLAGS, JSON_FLAG, PULL_FLAGS, RPC_SERVER_FLAGS, RUN_GROUPS, SERVE_GROUPS, type FlagGroup } from './flags.js';

/** The commands, in help order, with their one-line summary. */
export const COMMANDS: Readonly<Record<string, string>> = {
  run: 'generate text or chat (-i), with llama.cpp\'s flags: -m, -p, -n, -c, -ngl, --temp, …',
  serve: 'an OpenAI-compatible HTTP server (chat, completions, embeddings) with -m, -c, -ngl, --parallel, …',
  pull: 'download a model from the Hugging Face hub (org/repo:Q4_K_M)',
  inspect: 'what a GGUF file holds (architecture, quantisation, sizes, tensors), without loading it',
  estimate: 'memory a model needs for -c/-ngl on this machine, before loading it',
  'rpc-server': 'serve this machine\'s devices to llama.cpp RPC clients (--rpc), for models larger than one machine',
  info: 'this installation: llama.cpp version, addon, backends, devices (the default command)',
};

const USAGE: Readonly<Record<string, string>> = {
  run: 'llama-napi run -m FNAME (-p TEXT | -f FNAME | -i) [flags]',
  serve: 'llama-napi serve -m FNAME [--host HOST] [--port N] [--parallel N] [-c N] [-ngl N] [flags]',
  pull: 'llama-napi pull REF [FILE]... [--include GLOB]... [--local-dir DIR] [--revision REV] [--token T]',
  inspect: 'llama-napi inspect FNAME [--tensors] [--json]',
  estimate: 'llama-napi estimate -m FNAME [-c N] [-ngl N] [flags] [--json]',
  'rpc-server': 'llama-napi rpc-server [--host HOST] [--port N] [--device DEV,...] [--cache DIR] [-t N]',
  info: 'llama-napi [info] [--json]',
};

const EXIT_CODES = 'exit codes: 0 ok, 1 failure (model missing, load error, does not fit), 2 usage error, 130 interrupted (Ctrl-C)';

/** The top-level help. */
export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 3;
  return [
    'usage: llama-napi <command> [flags]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, summary]) => `  ${name.padEnd(width)}${summary}`),
    '',
    'llama-napi <command> --help lists its flags. Full reference: docs/cli.md',
    EXIT_CODES,
    '',
  ].join('\n');
}

/** Each command's flags, grouped as its help prints them. */
const GROUPS: Readonly<Record<string, readonly FlagGroup[]>> = {
  run: RUN_GROUPS,
  serve: SERVE_GROUPS,
  estimate: ESTIMATE_GROUPS,
  pull: [{ title: 'Flags', flags: PULL_FLAGS }],
  inspect: [{ title: 'Flags', flags: INSPECT_FLAGS }],
  'rpc-server': [{ title: 'Flags', flags: RPC_SERVER_FLAGS }],
};

/** The help of one command. */
export function commandHelp(command: string): string {
  const groups = GROUPS[command] ?? [{ title: 'Flags', flags: [JSON_FLAG, HELP_FLAG] }];
  const lines = [`usage: ${USAGE[command] ?? `llama-napi ${command}`}`, '', COMMANDS[command] ?? ''];
  for (const g of groups) lines.push('', `${g.title}:`, ...formatFlagHelp(g.flags));
  if (command === 'run') {
    lines.push(
      '',
      'Long flags take - or _ alike (--repeat_penalty = --repeat-penalty), and --flag=value.',
      'The model card\'s line works as printed, with llama-napi run in place of ./main:',
      '  llama-napi run -ngl 35 -m mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf --color -c 32768 --temp 0.7 --repeat_penalty 1.1 -n -1 -p "[INST] {prompt} [/INST]"',
    );
  }
  lines.push('', EXIT_CODES, '');
  return lines.join('\n');
}
