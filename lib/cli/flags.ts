/**
 * The flag tables of `run` and `estimate`, in llama.cpp's spellings (its `common/arg.cpp`),
 * grouped as their help prints them. What each flag becomes in the library's options is in
 * options.ts; this file only says which spellings exist.
 */
import type { FlagSpec } from './args.js';

/** A titled group of flags, one block of `--help`. */
export interface FlagGroup {
  readonly title: string;
  readonly flags: readonly FlagSpec[];
}

const ON_OFF_AUTO = ['on', 'off', 'auto'] as const;

export const HELP_FLAG: FlagSpec = { key: 'help', names: ['-h', '--help'], help: 'print this help and exit' };
export const JSON_FLAG: FlagSpec = { key: 'json', names: ['--json'], help: 'print one JSON object on stdout at the end, nothing else there' };

/** Where the model comes from. */
export const MODEL_FLAGS: FlagGroup = {
  title: 'Model',
  flags: [
    { key: 'model', names: ['-m', '--model'], value: 'FNAME', help: 'GGUF file, or a hub reference (hf:org/repo:Q4_K_M, org/repo:Q4_K_M), pulled on first use' },
    { key: 'hfRepo', names: ['-hf', '-hfr', '--hf-repo'], value: 'ORG/REPO[:QUANT]', help: 'Hugging Face repository (and quantisation), pulled on first use' },
    { key: 'hfToken', names: ['-hft', '--hf-token'], value: 'TOKEN', help: 'access token for gated repositories (default: $HF_TOKEN, then the saved login)' },
  ],
};

/** Where the weights go and how the file is read (llama.cpp's load parameters). */
export const PLACEMENT_FLAGS: FlagGroup = {
  title: 'Placement and memory',
  flags: [
    { key: 'gpuLayers', names: ['-ngl', '--gpu-layers', '--n-gpu-layers'], value: 'N', help: 'layers on the GPU: a number, max (or all), or auto (as many as fit); default 0' },
    { key: 'cpuMoe', names: ['-cmoe', '--cpu-moe'], help: 'keep every layer\'s MoE expert tensors in host memory' },
    { key: 'nCpuMoe', names: ['-ncmoe', '--n-cpu-moe'], value: 'N', help: 'keep the MoE expert tensors of the first N layers in host memory' },
    { key: 'overrideTensor', names: ['-ot', '--override-tensor'], value: 'PATTERN=DEVICE,...', repeatable: true, help: 'place tensors whose name matches PATTERN (a regex) on DEVICE (CPU, CUDA0, …)' },
    { key: 'splitMode', names: ['-sm', '--split-mode'], value: 'none|layer|row', help: 'how several GPUs share the model; default layer' },
    { key: 'mainGpu', names: ['-mg', '--main-gpu'], value: 'I', help: 'the GPU for --split-mode none' },
    { key: 'tensorSplit', names: ['-ts', '--tensor-split'], value: 'N0,N1,...', help: 'share of the model per GPU, as proportions (3,1)' },
    { key: 'rpc', names: ['--rpc'], value: 'HOST:PORT,...', help: 'RPC servers (llama-napi rpc-server; [v6]:PORT for IPv6) whose devices take offloaded layers as GPUs do' },
    { key: 'mlock', names: ['--mlock'], help: 'lock the weights in RAM (refused when they do not fit)' },
    { key: 'noMmap', names: ['--no-mmap'], help: 'read the weights into memory instead of mapping the file (refused when they do not fit)' },
  ],
};

/** The context: its size, batches, threads, attention and KV cache. */
export const CONTEXT_FLAGS: FlagGroup = {
  title: 'Context',
  flags: [
    { key: 'ctxSize', names: ['-c', '--ctx-size'], value: 'N', help: 'context size in tokens; 0 = the model\'s trained length; default min(4096, trained)' },
    { key: 'batchSize', names: ['-b', '--batch-size'], value: 'N', help: 'most prompt tokens per decode; default min(512, ctx)' },
    { key: 'ubatchSize', names: ['-ub', '--ubatch-size'], value: 'N', help: 'tokens per compute graph; default the batch size' },
    { key: 'threads', names: ['-t', '--threads'], value: 'N', help: 'threads for generation; default one per physical core' },
    { key: 'threadsBatch', names: ['-tb', '--threads-batch'], value: 'N', help: 'threads for prompt processing; default --threads' },
    { key: 'flashAttn', names: ['-fa', '--flash-attn'], optionalValues: ON_OFF_AUTO, implied: 'on', help: 'flash attention: on, off or auto (default auto; -fa alone: on)' },
    { key: 'cacheTypeK', names: ['-ctk', '--cache-type-k'], value: 'f16|q8_0|q4_0', help: 'K cache type; default f16' },
    { key: 'cacheTypeV', names: ['-ctv', '--cache-type-v'], value: 'f16|q8_0|q4_0', help: 'V cache type; default f16' },
  ],
};

/** What to say to the model. */
export const PROMPT_FLAGS: FlagGroup = {
  title: 'Prompt and conversation',
  flags: [
    { key: 'prompt', names: ['-p', '--prompt'], value: 'TEXT', help: 'the prompt, as is (with -i: the first message)' },
    { key: 'file', names: ['-f', '--file'], value: 'FNAME', help: 'read the prompt from a file' },
    { key: 'systemPrompt', names: ['-sys', '--system-prompt'], value: 'TEXT', help: 'system message; formats the prompt with the model\'s chat template' },
    { key: 'interactive', names: ['-i', '--interactive'], help: 'interactive chat in the model\'s template' },
    { key: 'conversation', names: ['-cnv', '--conversation'], help: 'the same as -i' },
    { key: 'instruct', names: ['-ins', '--instruct'], help: 'llama.cpp\'s old instruct mode, as model cards print it (-i -ins): the same as -i' },
    { key: 'reversePrompt', names: ['-r', '--reverse-prompt'], value: 'TEXT', repeatable: true, help: 'stop generating at TEXT (not printed)' },
  ],
};

/** Sampling and length. The defaults are llama.cpp's (and the library's). */
export const SAMPLING_FLAGS: FlagGroup = {
  title: 'Generation (defaults are llama.cpp\'s)',
  flags: [
    { key: 'nPredict', names: ['-n', '--n-predict', '--predict'], value: 'N', help: 'tokens to generate; -1 = until end of generation or a full context (default)' },
    { key: 'temp', names: ['--temp', '--temperature'], value: 'T', help: 'temperature; 0 = greedy; default 0.8' },
    { key: 'topK', names: ['--top-k'], value: 'N', help: 'top-k sampling, 0 = off; default 40' },
    { key: 'topP', names: ['--top-p'], value: 'P', help: 'top-p sampling, 1 = off; default 0.95' },
    { key: 'minP', names: ['--min-p'], value: 'P', help: 'min-p sampling, 0 = off; default 0.05' },
    { key: 'repeatPenalty', names: ['--repeat-penalty'], value: 'X', help: 'repeat penalty, 1 = off; default 1.0' },
    { key: 'repeatLastN', names: ['--repeat-last-n'], value: 'N', help: 'tokens the penalty looks back over, -1 = all, 0 = off; default 64' },
    { key: 'seed', names: ['-s', '--seed'], value: 'N', help: 'sampler seed; -1 = random (default)' },
    { key: 'preset', names: ['--preset'], value: 'NAME', help: 'a model card\'s recommended sampling: mixtral (temp 0.7, repeat penalty 1.1); flags given override it' },
    { key: 'grammar', names: ['--grammar'], value: 'GBNF', help: 'constrain the output to a GBNF grammar' },
    { key: 'grammarFile', names: ['--grammar-file'], value: 'FNAME', help: 'read the grammar from a file' },
    { key: 'jsonSchema', names: ['-j', '--json-schema'], value: 'SCHEMA', help: 'constrain the output to JSON matching this schema' },
  ],
};

/** Output. */
export const OUTPUT_FLAGS: FlagGroup = {
  title: 'Output',
  flags: [
    { key: 'color', names: ['-co', '--color'], optionalValues: ON_OFF_AUTO, implied: 'auto', help: 'colour the prompt and your input (on a terminal only)' },
    { key: 'noDisplayPrompt', names: ['--no-display-prompt'], help: 'do not echo the prompt on a terminal' },
    JSON_FLAG,
    { key: 'verbose', names: ['-v', '--verbose'], help: 'print llama.cpp\'s log on stderr' },
    HELP_FLAG,
  ],
};

/** Every group of `run`, in help order. */
export const RUN_GROUPS: readonly FlagGroup[] = [MODEL_FLAGS, PROMPT_FLAGS, SAMPLING_FLAGS, CONTEXT_FLAGS, PLACEMENT_FLAGS, OUTPUT_FLAGS];

/** Every group of `estimate`: what decides memory, nothing about prompts or sampling. */
export const ESTIMATE_GROUPS: readonly FlagGroup[] = [
  MODEL_FLAGS,
  { title: 'Context', flags: CONTEXT_FLAGS.flags.filter((f) => !f.key.startsWith('threads')) },
  PLACEMENT_FLAGS,
  { title: 'Output', flags: [JSON_FLAG, HELP_FLAG] },
];

/** `serve`: llama-server's spellings for what only a server has. */
export const SERVER_FLAGS: FlagGroup = {
  title: 'Server',
  flags: [
    { key: 'host', names: ['--host'], value: 'HOST', help: 'interface to bind; default 127.0.0.1 (this machine only), 0.0.0.0 or :: for every interface' },
    { key: 'port', names: ['--port'], value: 'N', help: 'port; default 8080, 0 picks a free one' },
    { key: 'parallel', names: ['-np', '--parallel'], value: 'N', help: 'requests served at once (sequences sharing -c); default 1' },
    { key: 'maxQueue', names: ['--max-queue'], value: 'N', help: 'requests that may wait for a free sequence, beyond that 503; default 64' },
    { key: 'burstWindow', names: ['--burst-window'], value: 'MS', help: 'an idle server waits up to MS ms for more requests so a burst starts together; default 5, 0 to start at once' },
    { key: 'apiKey', names: ['--api-key'], value: 'KEY', help: 'require Authorization: Bearer KEY (default: $LLAMA_NAPI_API_KEY)' },
    { key: 'cors', names: ['--cors'], optionalValues: [], implied: '*', help: 'CORS headers for browsers: --cors for any origin, --cors=ORIGIN[,ORIGIN…] for those' },
    { key: 'embeddings', names: ['--embedding', '--embeddings'], help: 'serve /v1/embeddings instead of generation' },
    { key: 'alias', names: ['-a', '--alias'], value: 'NAME', help: 'the model id /v1/models reports; default the file name' },
    { key: 'chatTemplate', names: ['--chat-template'], value: 'NAME|TEMPLATE', help: 'a built-in chat template name or a template text; default the model\'s own' },
  ],
};

/** Every group of `serve`: the model, context and placement of `run`, and the server's own. */
export const SERVE_GROUPS: readonly FlagGroup[] = [
  MODEL_FLAGS,
  SERVER_FLAGS,
  CONTEXT_FLAGS,
  PLACEMENT_FLAGS,
  { title: 'Output', flags: OUTPUT_FLAGS.flags.filter((f) => f.key === 'verbose' || f.key === 'help') },
];

/** `rpc-server`, in llama.cpp's rpc-server spellings (`--cache DIR` names the folder; `-c` alone is llama.cpp's default one). */
export const RPC_SERVER_FLAGS: readonly FlagSpec[] = [
  { key: 'host', names: ['-H', '--host'], value: 'HOST', help: 'IPv4 or IPv6 address to bind (:: for all); default 127.0.0.1 (this machine only). Anything else is reachable by anyone on that network: no authentication, no encryption' },
  { key: 'port', names: ['-p', '--port'], value: 'N', help: 'port; default 50052, 0 picks a free one' },
  { key: 'device', names: ['-d', '--device'], value: 'DEV1,DEV2,...', help: 'devices to serve (names from llama-napi info); default every GPU, else the CPU' },
  { key: 'cache', names: ['--cache'], value: 'DIR', help: 'keep received tensors in DIR, so a client loading the same model again sends only hashes' },
  { key: 'cacheDefault', names: ['-c'], help: 'the same, in llama.cpp\'s folder ($LLAMA_CACHE or ~/.cache/llama.cpp, then rpc/)' },
  { key: 'threads', names: ['-t', '--threads'], value: 'N', help: 'threads for the CPU device; default one per physical core' },
  { key: 'verbose', names: ['-v', '--verbose'], help: 'print the server\'s log (connections) on stderr' },
  HELP_FLAG,
];

/** `inspect`. */
export const INSPECT_FLAGS: readonly FlagSpec[] = [
  { key: 'tensors', names: ['--tensors'], help: 'also list every tensor: name, type, shape' },
  { key: 'model', names: ['-m', '--model'], value: 'FNAME', help: 'the GGUF file (or give it as the argument)' },
  JSON_FLAG,
  HELP_FLAG,
];

/** `pull`, in huggingface-cli's spellings. */
export const PULL_FLAGS: readonly FlagSpec[] = [
  { key: 'include', names: ['--include'], value: 'GLOB', repeatable: true, help: 'only files matching GLOB (repeatable), as huggingface-cli download --include' },
  { key: 'localDir', names: ['--local-dir'], value: 'DIR', help: 'put the files in DIR instead of the shared cache' },
  { key: 'localDirUseSymlinks', names: ['--local-dir-use-symlinks'], value: 'True|False|auto', help: 'accepted for huggingface-cli\'s command lines; --local-dir always gets real files' },
  { key: 'revision', names: ['--revision'], value: 'REV', help: 'branch, tag or commit; default main' },
  { key: 'token', names: ['--token'], value: 'TOKEN', help: 'access token (default: $HF_TOKEN, then the saved login)' },
  JSON_FLAG,
  HELP_FLAG,
];

/** Flattens groups into one table for the parser. */
export function flagsOf(groups: readonly FlagGroup[]): FlagSpec[] {
  return groups.flatMap((g) => g.flags);
}
