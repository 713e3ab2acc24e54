// Memory limits as errors: loads and contexts under an address-space limit (RLIMIT_AS, set on
// this very process with util-linux `prlimit` once Node, tsx and the addon are up — a limit set
// before exec would have to leave room for V8's WebAssembly reservations, ~10 GiB of address
// space). Each case reports how it ended; run in a child process, because a case that slips
// past every check would be killed (SIGABRT from ggml, or the OOM killer), not fail.
//   argv: <model with a 4M-token trained context> <model file larger than the headroom> <headroom bytes>
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { memoryCheckHooks } from '../../lib/memory-check.js';
import { loadModel } from '../../lib/model.js';

const vm = (): number => Number(/^VmSize:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
const [smallPath, bigPath, headroomText] = process.argv.slice(2);
const headroom = Number(headroomText);

/** How a case ended: its error's code and numbers, or 'ok'. */
async function outcome(run: () => Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await run();
    return { ok: true, vm: vm() };
  } catch (error) {
    const e = error as Record<string, unknown> & Error;
    return {
      ok: false,
      name: e.name,
      code: e.code,
      stage: e['stage'],
      needed: e['needed'],
      available: e['available'],
      device: e['device'],
      limitedBy: e['limitedBy'],
      message: e.message,
      vm: vm(),
    };
  }
}

// Warm up under no limit: the model (memory-mapped), the compute threads, the libuv pool.
const model = await loadModel(smallPath!);
const small = { contextSize: 256, batchSize: 32, threads: 1 } as const;
await (await model.createContext(small)).dispose();

const vmSize = Number(/^VmSize:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
const limit = vmSize + headroom;
execFileSync('prlimit', ['--pid', String(process.pid), `--as=${limit}:${limit}`]);

// 4M tokens × 2 layers × 64 KV dims × 2 bytes = 1 GiB of KV cache, beyond the headroom.
const huge = { contextSize: 1 << 22, batchSize: 32, threads: 1 } as const;
const results: Record<string, unknown> = {};
results['contextEstimate'] = await outcome(() => model.createContext(huge));
results['loadNoMmapEstimate'] = await outcome(() => loadModel(bigPath!, { useMmap: false }));
results['loadMappedEstimate'] = await outcome(() => loadModel(bigPath!));
memoryCheckHooks.enabled = false; // what llama.cpp itself does when an allocation fails
results['contextAllocation'] = await outcome(() => model.createContext(huge));
results['loadNoMmapAllocation'] = await outcome(() => loadModel(bigPath!, { useMmap: false }));
memoryCheckHooks.enabled = true;
results['smallAfterwards'] = await outcome(async () => {
  const context = await model.createContext(small);
  const { generatedTokens } = await context.generate('Once upon a time', { maxTokens: 4, temperature: 0 }).result;
  if (generatedTokens < 1) throw new Error(`generated ${generatedTokens} tokens`);
  await context.dispose();
});
await model.dispose();
console.log(JSON.stringify({ limit, vmSize, results }));
