// Device sampling (llama.cpp's backend sampling, src/backend_sampling.h): which chains go to the
// decode graph, the `deviceSampling` option, and equality with host sampling. The model runs
// happen in a child process (test/child/backend-sampling.ts): the API is experimental in
// llama.cpp and GGML_ASSERTs on graphs it cannot build. Without a GPU the "device" is llama.cpp's
// CPU backend, which runs the same graph code a GPU backend does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GenerationResult } from '../lib/generation.js';
import { loadModel } from '../lib/model.js';
import { resolveGenerateOptions } from '../lib/options/generate.js';
import { buildSamplerChain, samplesOnDevice } from '../lib/sampling.js';
import { describeOutcome, runChild } from './child/spawn.js';
import { fixtureModel } from './fixtures/models.js';

type Run = Pick<GenerationResult, 'tokens' | 'sampledOn' | 'finishReason'>;
interface Report {
  vocabularySize: number;
  greedyDevice: Run[];
  greedyHost: Run[];
  greedyMixed: Run[];
  fallback: Record<'penalty' | 'logitBias' | 'grammar' | 'logprobs' | 'auto', Run>;
  seededDevice: [Run, Run, Run];
  seededBesideOthers: Run;
  seededHost: Run;
  topKOne: [Run, Run];
  defaultChain: Array<[Run, Run]>;
  topKVocabulary: Run;
  topKAboveVocabulary: Run;
  aborted: Run;
  afterAbort: Run;
  disposedMidGeneration: string[];
}

const VOCABULARY = 32000;
const chainFor = (options: object): ReturnType<typeof buildSamplerChain> =>
  buildSamplerChain(resolveGenerateOptions(options), 4096, VOCABULARY);
const onDevice = (options: object): boolean => {
  const resolved = resolveGenerateOptions(options);
  return samplesOnDevice(buildSamplerChain(resolved, 4096, VOCABULARY), resolved, VOCABULARY, 'gpu');
};

describe('deviceSampling option', () => {
  it("defaults to 'auto' and accepts 'on' and 'off'", () => {
    assert.equal(resolveGenerateOptions({}).deviceSampling, 'auto');
    assert.equal(resolveGenerateOptions({ deviceSampling: 'on' }).deviceSampling, 'on');
    assert.equal(resolveGenerateOptions({ deviceSampling: 'off' }).deviceSampling, 'off');
  });

  it("'auto' samples on the device only when the output layer is offloaded; 'on' also on the CPU", () => {
    const greedy = resolveGenerateOptions({ temperature: 0 });
    const chain = buildSamplerChain(greedy, 4096, VOCABULARY);
    assert.equal(samplesOnDevice(chain, greedy, VOCABULARY, 'cpu'), false);
    assert.equal(samplesOnDevice(chain, greedy, VOCABULARY, 'gpu'), true);
    const forced = resolveGenerateOptions({ temperature: 0, deviceSampling: 'on' });
    assert.equal(samplesOnDevice(chain, forced, VOCABULARY, 'cpu'), true);
    // Vulkan: never (llama.cpp's backend sampling aborted the process on lavapipe).
    assert.equal(samplesOnDevice(chain, greedy, VOCABULARY, 'vulkan'), false);
    assert.equal(samplesOnDevice(chain, forced, VOCABULARY, 'vulkan'), false);
  });

  it('rejects other values with a message naming the option and its values', () => {
    assert.throws(() => resolveGenerateOptions({ deviceSampling: 'gpu' }), (e: Error) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, /deviceSampling/);
      assert.match(e.message, /"auto", "on", "off"/);
      assert.match(e.message, /"gpu"/);
      return true;
    });
    for (const value of [true, 1, null, {}]) {
      assert.throws(
        () => resolveGenerateOptions({ deviceSampling: value }),
        (e: Error) => e instanceof TypeError && /deviceSampling/.test(e.message),
      );
    }
  });

  it('is validated by Context.generate before anything runs', async () => {
    const model = await loadModel(await fixtureModel({ kind: 'llama', type: 'F32' }));
    try {
      const context = await model.createContext({ contextSize: 128, threads: 1 });
      assert.throws(() => context.generate('Hi', { deviceSampling: 'gpu' as never }), { code: 'ERR_INVALID_ARG' });
    } finally {
      await model.dispose();
    }
  });
});

describe('which chains sample on the device', () => {
  it('greedy, and top-k / top-p / min-p / temperature / seeded draw', () => {
    assert.equal(onDevice({ temperature: 0 }), true);
    assert.equal(onDevice({}), true); // the defaults: topK 40, topP 0.95, minP 0.05, temperature 0.8
    assert.equal(onDevice({ temperature: 1, topK: 0, topP: 1, minP: 0 }), true);
    assert.deepEqual(
      chainFor({ seed: 1 }).map((s) => s.type),
      ['topK', 'topP', 'minP', 'temperature', 'dist'],
    );
  });

  it('not with penalties, a logit bias, a grammar, a JSON schema or log-probabilities', () => {
    assert.equal(onDevice({ temperature: 0, repeatPenalty: 1.1 }), false);
    assert.equal(onDevice({ presencePenalty: 0.5 }), false);
    assert.equal(onDevice({ temperature: 0, logitBias: { 5: -1 } }), false);
    assert.equal(onDevice({ grammar: 'root ::= "a"' }), false);
    assert.equal(onDevice({ jsonSchema: { type: 'string' } }), false);
    assert.equal(onDevice({ temperature: 0, logprobs: true }), false);
  });

  it("not with deviceSampling 'off', nor a topK above the vocabulary (ggml_top_k asserts k <= its row)", () => {
    assert.equal(onDevice({ temperature: 0, deviceSampling: 'off' }), false);
    assert.equal(onDevice({ topK: VOCABULARY }), true);
    assert.equal(onDevice({ topK: VOCABULARY + 1 }), false);
  });
});

async function childReport(kind: 'llama' | 'moe', type: 'F32' | 'Q8_0', scope: 'full' | 'greedy'): Promise<Report> {
  const path = await fixtureModel({ kind, type });
  const outcome = await runChild('backend-sampling.ts', [path, scope], 600_000);
  assert.equal(outcome.code, 0, describeOutcome(outcome));
  assert.ok(outcome.report, describeOutcome(outcome));
  return outcome.report as Report;
}

function assertGreedyEquality(report: Report): void {
  assert.equal(report.greedyDevice.length, 4);
  for (const [i, host] of report.greedyHost.entries()) {
    const device = report.greedyDevice[i]!;
    const mixed = report.greedyMixed[i]!;
    assert.ok(host.tokens.length > 0);
    assert.equal(device.sampledOn, 'device', `sequence ${i}`);
    assert.equal(host.sampledOn, 'host', `sequence ${i}`);
    assert.equal(mixed.sampledOn, i % 2 === 0 ? 'device' : 'host', `sequence ${i}`);
    assert.deepEqual(device.tokens, host.tokens, `sequence ${i}: device greedy tokens differ from host`);
    assert.deepEqual(mixed.tokens, host.tokens, `sequence ${i}: mixed batch`);
  }
}

describe('device sampling against host sampling (child process)', { timeout: 1_300_000 }, () => {
  it('llama F32: greedy, fallbacks, seeded draws, abort and dispose', async (t) => {
    const report = await childReport('llama', 'F32', 'full');
    assertGreedyEquality(report);

    for (const [name, run] of Object.entries(report.fallback)) {
      assert.equal(run.sampledOn, 'host', `${name} must fall back to the host chain`);
      assert.ok(run.tokens.length > 0, name);
    }

    // Seeded draws on the device reproduce, alone or batched beside other sequences.
    const [a, b, c] = report.seededDevice;
    for (const run of [a, b, c, report.seededBesideOthers]) assert.equal(run.sampledOn, 'device');
    assert.deepEqual(a.tokens, b.tokens);
    assert.notDeepEqual(a.tokens, c.tokens);
    assert.deepEqual(report.seededBesideOthers.tokens, a.tokens.slice(0, report.seededBesideOthers.tokens.length));
    // Over the whole vocabulary (no stage reorders the candidates) both paths draw the same
    // uniform number per token from the same mt19937 stream, and the CDFs (float on the device,
    // double on the host) differ only by rounding: with this fixture and seed no draw lands
    // within rounding of a boundary. A device chain whose random stream drifted from the host's
    // (a draw skipped or repeated, a reseed) would diverge.
    assert.equal(report.seededHost.sampledOn, 'host');
    assert.deepEqual(a.tokens, report.seededHost.tokens);
    // One candidate left: the same token on either path, whatever the draw.
    assert.deepEqual(report.topKOne.map((r) => r.sampledOn), ['device', 'host']);
    assert.deepEqual(report.topKOne[0].tokens, report.topKOne[1].tokens);

    const sameDefault = report.defaultChain.filter(([device, host]) => {
      assert.equal(device.sampledOn, 'device');
      assert.equal(host.sampledOn, 'host');
      return device.tokens.join() === host.tokens.join();
    }).length;
    t.diagnostic(`default chain: ${sameDefault}/${report.defaultChain.length} seeds gave the same tokens on both paths (not guaranteed)`);

    assert.equal(report.topKVocabulary.sampledOn, 'device');
    assert.equal(report.topKVocabulary.tokens.length, 16);
    assert.equal(report.topKAboveVocabulary.sampledOn, 'host');

    assert.equal(report.aborted.finishReason, 'abort');
    assert.equal(report.aborted.sampledOn, 'device');
    assert.deepEqual(report.afterAbort.tokens, report.greedyDevice[0]!.tokens);
    for (const how of report.disposedMidGeneration) assert.ok(how === 'abort' || how === 'ERR_DISPOSED', how);
  });

  for (const [kind, type] of [['llama', 'Q8_0'], ['moe', 'F32'], ['moe', 'Q8_0']] as const) {
    it(`${kind} ${type}: four sequences at once give the host's greedy tokens`, async () => {
      assertGreedyEquality(await childReport(kind, type, 'greedy'));
    });
  }
});
