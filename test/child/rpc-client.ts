/**
 * One RPC scenario of test/rpc.test.ts, in a process of its own so that a crash is a failed
 * test: it starts its own RPC server processes (test/child/rpc-servers.ts), kills, stops or
 * restarts them at the moment under test, and reports one JSON line. Every scenario ends by
 * loading and running a local model, to show that the process still works.
 *
 *   node --import tsx test/child/rpc-client.ts <scenario>
 */
import { isLlamaError, listDevices, loadModel, estimateMemory, type Model } from '../../lib/index.js';
import { createServer } from '../../lib/server/index.js';
import { fixtureModel } from '../fixtures/models.js';
import { startServerProcess, type ServerProcess } from './rpc-servers.js';

const scenario = process.argv[2];
const servers: ServerProcess[] = [];
const report: Record<string, unknown> = { scenario };
const started = performance.now();
const elapsed = (): number => Math.round(performance.now() - started);
const dense = await fixtureModel({ kind: 'llama', type: 'F32', layerCount: 4 });
const moe = await fixtureModel({ kind: 'moe', type: 'F32', layerCount: 4 });
const PROMPT = 'The quick brown fox jumps over the lazy dog and';

async function serve(count: number): Promise<string[]> {
  const started = await Promise.all(Array.from({ length: count }, () => startServerProcess()));
  servers.push(...started);
  return started.map((s) => s.endpoint);
}

/** The error's code, or its message when it has none. */
function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return isLlamaError(error) || code === 'ERR_INVALID_ARG' ? String(code) : `not a coded error: ${String(error)}`;
}

async function settle<T>(p: Promise<T>): Promise<{ ok: T } | { code: string; message: string; ms: number }> {
  const t = performance.now();
  try {
    return { ok: await p };
  } catch (error) {
    return { code: codeOf(error), message: String((error as Error).message), ms: Math.round(performance.now() - t) };
  }
}

async function greedy(
  model: Model,
  maxTokens = 12,
  deviceSampling: 'auto' | 'on' = 'auto',
): Promise<{ tokens: number[]; logits: number[]; sampledOn: string }> {
  const ctx = await model.createContext({ contextSize: 256, threads: 1 });
  const { tokens, sampledOn } = await ctx.generate(PROMPT, { maxTokens, temperature: 0, deviceSampling }).result;
  const logits = await ctx.evaluate(model.tokenize(PROMPT));
  await ctx.dispose();
  return { tokens: [...tokens], logits: [...logits], sampledOn };
}

/** A local model still loads and generates in this process. */
async function localStillWorks(): Promise<void> {
  const model = await loadModel(dense);
  const ctx = await model.createContext({ contextSize: 128, threads: 1 });
  const { text } = await ctx.generate(PROMPT, { maxTokens: 4, temperature: 0 }).result;
  report.localAfter = text.length > 0;
  await model.dispose();
}

try {
  switch (scenario) {
    case 'parity': {
      const endpoints = await serve(2);
      for (const [name, path] of [['dense', dense], ['moe', moe]] as const) {
        const local = await loadModel(path);
        const expected = await greedy(local);
        await local.dispose();
        const split = await loadModel(path, { rpcServers: endpoints, gpuLayers: 'max', tensorSplit: [1, 1] });
        const got = await greedy(split, 12, 'on'); // sampled on the remote: only the token comes back
        let maxDiff = 0;
        for (let i = 0; i < expected.logits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(expected.logits[i]! - got.logits[i]!));
        report[name] = {
          tokensEqual: JSON.stringify(expected.tokens) === JSON.stringify(got.tokens),
          tokens: got.tokens.length,
          maxDiff,
          sampledOn: [expected.sampledOn, got.sampledOn],
        };
        await split.dispose();
      }
      // Placement: the RPC devices hold the layers the options put there.
      const names = listDevices().filter((d) => d.backend.startsWith('RPC'));
      report.rpcDevices = names.map((d) => `${d.name}=${d.description}`);
      const byName = (e: Awaited<ReturnType<typeof estimateMemory>>): Record<string, number> =>
        Object.fromEntries(e.devices.map((d) => [d.name, d.weights]));
      report.split = byName(await estimateMemory(dense, { rpcServers: endpoints, gpuLayers: 'max', tensorSplit: [1, 1] }));
      report.firstOnly = byName(await estimateMemory(dense, { rpcServers: endpoints, gpuLayers: 'max', tensorSplit: [1, 0] }));
      report.override = byName(
        await estimateMemory(dense, {
          rpcServers: endpoints,
          gpuLayers: 'max',
          tensorSplit: [1, 0],
          tensorOverrides: [{ pattern: 'blk\\.0\\.', device: 'RPC1' }],
        }),
      );
      report.noOffload = byName(await estimateMemory(dense, { rpcServers: endpoints, gpuLayers: 0 }));
      // MoE experts kept on the host (cpuMoe) while the rest of each layer goes remote.
      const all = byName(await estimateMemory(moe, { rpcServers: endpoints, gpuLayers: 'max' }));
      const cpuMoe = byName(await estimateMemory(moe, { rpcServers: endpoints, gpuLayers: 'max', cpuMoe: true }));
      report.moePlacement = { all, cpuMoe };
      // A model without rpcServers stays local, although servers are registered.
      report.localOnly = byName(await estimateMemory(dense, { gpuLayers: 'max' }));
      break;
    }
    case 'before-load': {
      const [endpoint] = await serve(1);
      await servers[0]!.kill();
      report.load = await settle(loadModel(dense, { rpcServers: [endpoint!], gpuLayers: 'max' }));
      report.malformed = await settle(loadModel(dense, { rpcServers: ['127.0.0.1:0'] }));
      break;
    }
    case 'during-load': {
      const [endpoint] = await serve(1);
      let killed = false;
      report.load = await settle(
        loadModel(moe, {
          rpcServers: [endpoint!],
          gpuLayers: 'max',
          onProgress: (p) => {
            if (p > 0.3 && !killed) {
              killed = true;
              servers[0]!.child.kill('SIGKILL');
            }
          },
        }),
      );
      report.killed = killed;
      break;
    }
    case 'between-tokens':
    case 'mid-prompt':
    case 'hung': {
      const [a, b] = await serve(2);
      const other = await loadModel(dense, { rpcServers: [b!], gpuLayers: 'max' }); // another model: lives on
      const model = await loadModel(moe, { rpcServers: [a!], gpuLayers: 'max', rpcTimeout: 1000 });
      const ctx = await model.createContext({ contextSize: 512, batchSize: 8, ubatchSize: 8, threads: 1 });
      const warm = await ctx.generate(PROMPT, { maxTokens: 2, temperature: 0 }).result;
      report.warm = warm.text.length > 0;
      const prompt = scenario === 'mid-prompt' ? PROMPT.repeat(6) : PROMPT;
      const generation = ctx.generate(prompt, { maxTokens: 200, temperature: 0, cachePrompt: false });
      const server = servers[0]!;
      let tokens = 0;
      if (scenario === 'mid-prompt') server.child.kill('SIGKILL');
      const t = performance.now();
      const run = (async () => {
        for await (const chunk of generation) {
          tokens += chunk.tokens.length;
          if (tokens >= 3 && scenario === 'between-tokens' && server.child.exitCode === null && server.child.signalCode === null) {
            server.child.kill('SIGKILL');
          }
          if (tokens >= 3 && scenario === 'hung' && !report.stoppedAt) {
            report.stoppedAt = tokens;
            server.child.kill('SIGSTOP');
          }
        }
      })();
      report.generate = await settle(run);
      report.generateMs = Math.round(performance.now() - t);
      report.tokens = tokens;
      report['at_createContext'] = elapsed();
      report.createContext = await settle(model.createContext({ contextSize: 128 }));
      report['at_generateAgain'] = elapsed();
      report.generateAgain = await settle(ctx.generate(PROMPT, { maxTokens: 2 }).result);
      report['at_dispose'] = elapsed();
      report.dispose = await settle(model.dispose().then(() => elapsed()));
      // The other model, on a healthy server, still generates.
      const otherCtx = await other.createContext({ contextSize: 128, threads: 1 });
      report.otherAt = elapsed();
      report.other = (await otherCtx.generate(PROMPT, { maxTokens: 3, temperature: 0 }).result).text.length > 0;
      await other.dispose();
      if (scenario === 'hung') server.child.kill('SIGCONT');
      break;
    }
    case 'restart': {
      const [endpoint] = await serve(1);
      const port = servers[0]!.port;
      const first = await loadModel(dense, { rpcServers: [endpoint!], gpuLayers: 'max' });
      report.first = (await greedy(first, 4)).tokens.length;
      await servers[0]!.kill();
      report.afterKill = await settle(
        first.createContext({ contextSize: 128, threads: 1 }).then((ctx) => ctx.generate(PROMPT, { maxTokens: 4 }).result),
      );
      await first.dispose();
      report.whileDown = await settle(loadModel(dense, { rpcServers: [endpoint!], gpuLayers: 'max' }));
      servers.push(await startServerProcess(port));
      const second = await loadModel(dense, { rpcServers: [endpoint!], gpuLayers: 'max' });
      report.second = (await greedy(second, 4)).tokens.length;
      await second.dispose();
      break;
    }
    case 'http-server': {
      // The OpenAI server on a model split over an RPC server that dies: 503 from then on.
      const [endpoint] = await serve(1);
      const server = createServer({ model: dense, load: { rpcServers: [endpoint!], gpuLayers: 'max' }, context: { contextSize: 256, threads: 1 } });
      const { url } = await server.listen(0, '127.0.0.1');
      const chat = async (): Promise<{ status: number; code: unknown }> => {
        const response = await fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 3, temperature: 0 }),
        });
        const body = (await response.json()) as { error?: { code?: unknown } };
        return { status: response.status, code: body.error?.code ?? null };
      };
      const health = async (): Promise<number> => (await fetch(`${url}/health`)).status;
      report.healthBefore = await health();
      report.chatBefore = await chat();
      await servers[0]!.kill();
      report.chatAfter = await chat();
      report.chatAgain = await chat();
      report.healthAfter = await health();
      await server.close();
      break;
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
  await localStillWorks();
} catch (error) {
  report.error = `${codeOf(error)}: ${(error as Error)?.stack ?? String(error)}`;
} finally {
  for (const s of servers) {
    s.child.kill('SIGCONT');
    s.child.kill('SIGKILL');
  }
}
report.ms = elapsed();
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(0);
