/**
 * Backends loaded at run time (GGML_BACKEND_DL): the CPU variant is the best this CPU can run,
 * the choice can be forced, and a GPU backend that cannot load or initialise is skipped with
 * a logged reason while generation goes on on the CPU. Also the `llama-napi` CLI.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { backendPackageName, cpuFlagsFile, findBackendFiles, missingCpuFlags, NATIVE_CPU_VARIANT, nativeModuleRefusal } from '../lib/backends.js';
import { cpuFlags } from '../lib/cpu.js';
import { getBuildInfo } from '../lib/build-info.js';
import { loadAddon } from '../lib/addon.js';
import { describeOutcome, runChild } from './child/spawn.js';
import { fixtureModel } from './fixtures/models.js';
// @ts-expect-error a plain .mjs build script, without type declarations
import { bestX86Variant, cpuVariantsForBuild } from '../scripts/cpu-variants.mjs';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

interface Report {
  ok: boolean;
  code?: string;
  message?: string;
  warnings: string[];
  text?: string;
  info?: ReturnType<typeof getBuildInfo>;
}

async function report(env: Record<string, string>, model?: string): Promise<Report> {
  const outcome = await runChild('backends-report.ts', model ? [model] : [], 60_000, env);
  assert.equal(outcome.code, 0, describeOutcome(outcome));
  return outcome.report as Report;
}

describe('backend library names', () => {
  it('finds backends and CPU variants by file name, on every platform, and nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llama-napi-names-'));
    try {
      const names = [
        'libggml-cpu-haswell.so',
        'libggml-cpu-x64.so',
        'libggml-cpu.so',
        'ggml-cpu-alderlake.dll',
        'libggml-vulkan.so',
        'libggml-metal.dylib',
        'libggml-base.so',
        'libllama-napi-ggml-base.so',
        'libllama-napi-llama.so',
        'llama_napi.node',
        'libggml-cuda.so.0',
      ];
      for (const name of names) writeFileSync(join(dir, name), '');
      const found = findBackendFiles(dir).map((f) => [f.backend, f.variant ?? null, f.path.slice(dir.length + 1)]);
      assert.deepEqual(found, [
        ['cpu', 'alderlake', 'ggml-cpu-alderlake.dll'],
        ['cpu', 'haswell', 'libggml-cpu-haswell.so'],
        ['cpu', 'x64', 'libggml-cpu-x64.so'],
        ['cpu', null, 'libggml-cpu.so'],
        ['metal', null, 'libggml-metal.dylib'],
        ['vulkan', null, 'libggml-vulkan.so'],
      ]);
      assert.deepEqual(findBackendFiles(join(dir, 'missing')), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names optional backend packages per backend, platform and architecture', () => {
    assert.equal(backendPackageName('vulkan', 'linux', 'x64'), '@llama-napi/vulkan-linux-x64');
    assert.equal(backendPackageName('cuda', 'win32', 'x64'), '@llama-napi/cuda-win32-x64');
  });
});

describe('CPU variant for a source build', () => {
  it('is the richest x86 variant whose instruction sets the CPU has', () => {
    assert.equal(bestX86Variant([]), 'x64');
    assert.equal(bestX86Variant(['sse4_2']), 'sse42');
    assert.equal(bestX86Variant(['sse4_2', 'avx', 'f16c', 'fma', 'avx2']), 'sandybridge'); // no bmi2
    assert.equal(bestX86Variant(['sse4_2', 'avx', 'f16c', 'fma', 'avx2', 'bmi2']), 'haswell');
    assert.equal(bestX86Variant(['sse4_2', 'avx', 'f16c', 'fma', 'avx2', 'bmi2', 'avx_vnni']), 'alderlake');
    const avx512 = ['sse4_2', 'avx', 'f16c', 'fma', 'avx2', 'bmi2', 'avx512f', 'avx512cd', 'avx512vl', 'avx512dq', 'avx512bw'];
    assert.equal(bestX86Variant(avx512), 'skylakex');
    assert.equal(bestX86Variant([...avx512, 'avx512vbmi', 'avx512_vnni']), 'icelake');
  });

  it('follows LLAMA_NAPI_CPU_VARIANTS, and is "native" off x86', () => {
    assert.equal(cpuVariantsForBuild({ LLAMA_NAPI_CPU_VARIANTS: 'all' }, 'x64'), 'all');
    assert.equal(cpuVariantsForBuild({}, 'arm64'), 'native');
  });

  it('on Linux x86-64 is the native variant beside the best named one; elsewhere on x86-64 the named one alone', () => {
    const haswell = ['sse4_2', 'avx', 'f16c', 'fma', 'avx2', 'bmi2'];
    assert.equal(cpuVariantsForBuild({}, 'x64', haswell, 'linux'), 'native,haswell');
    assert.equal(cpuVariantsForBuild({}, 'x64', haswell, 'win32'), 'haswell');
    assert.equal(cpuVariantsForBuild({}, 'x64', null, 'darwin'), 'x64,haswell'); // flags unknown
    assert.equal(cpuVariantsForBuild({ LLAMA_NAPI_CPU_VARIANTS: 'x64,haswell' }, 'x64', haswell, 'linux'), 'x64,haswell');
  });
});

describe('the native CPU module is opened only on a CPU with every flag of its build machine', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llama-napi-native-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('records the flags beside the module, as <module>.cpuflags', () => {
    assert.equal(cpuFlagsFile('/x/libggml-cpu-native.so'), '/x/libggml-cpu-native.cpuflags');
    assert.equal(cpuFlagsFile('C:\\x\\ggml-cpu-native.dll'), 'C:\\x\\ggml-cpu-native.cpuflags');
    assert.deepEqual(findBackendFiles(dir), []); // a .cpuflags file is no backend
  });

  it('lists the recorded flags this CPU lacks', () => {
    assert.deepEqual(missingCpuFlags(['avx2', 'avx512f', 'avx512_fp16'], ['avx2', 'avx512f']), ['avx512_fp16']);
    assert.deepEqual(missingCpuFlags(['avx2'], ['avx2', 'avx512f']), []);
  });

  it('refuses it without a record, without this CPU\'s flags, or with a flag missing; accepts it with all present', () => {
    const module = join(dir, 'libggml-cpu-native.so');
    writeFileSync(module, '');
    assert.match(nativeModuleRefusal(module, ['avx2']) ?? '', /libggml-cpu-native\.cpuflags .*is missing or empty/);
    writeFileSync(cpuFlagsFile(module), '\n');
    assert.match(nativeModuleRefusal(module, ['avx2']) ?? '', /missing or empty/);
    writeFileSync(cpuFlagsFile(module), 'fpu sse4_2 avx2 avx512_fp16\n');
    assert.match(nativeModuleRefusal(module, undefined) ?? '', /does not list its CPU flags/);
    assert.equal(nativeModuleRefusal(module, ['fpu', 'sse4_2', 'avx2']), 'built with -march=native on a CPU with flags this one lacks: avx512_fp16');
    assert.equal(nativeModuleRefusal(module, ['fpu', 'sse4_2', 'avx2', 'avx512_fp16', 'amx_tile']), undefined);
  });
});

describe('backends loaded at run time', () => {
  let addonDir: string;
  let model: string;
  let fakes: string;

  before(async () => {
    const info = getBuildInfo();
    addonDir = dirname(info.addonPath);
    model = await fixtureModel({ kind: 'moe', type: 'F32' });
    // Two broken GPU backends: a file that is no library, and a real library without
    // ggml_backend_init (one that loads but cannot initialise).
    fakes = mkdtempSync(join(tmpdir(), 'llama-napi-fake-backends-'));
    writeFileSync(join(fakes, 'libggml-vulkan.so'), 'not a shared library');
    copyFileSync(join(addonDir, 'libllama-napi-ggml.so'), join(fakes, 'libggml-cuda.so'));
  });

  after(() => rmSync(fakes, { recursive: true, force: true }));

  it('loads the best-scoring CPU variant in the addon folder', () => {
    const info = getBuildInfo();
    const cpu = info.backends.find((b) => b.name === 'CPU');
    assert.ok(cpu, 'a CPU backend is loaded');
    // The RPC backend (remote devices, none until a model names rpcServers) comes last.
    const local = info.backends.filter((b) => b.name !== 'RPC');
    assert.equal(local.at(-1), cpu, 'the CPU backend comes after any GPU backend');
    const rpcFile = findBackendFiles(addonDir).find((f) => f.backend === 'rpc');
    if (rpcFile !== undefined) assert.deepEqual(info.backends.at(-1), { name: 'RPC', path: rpcFile.path, devices: 0 });
    const addon = loadAddon();
    const scored = findBackendFiles(addonDir)
      .filter((f) => f.backend === 'cpu')
      .map((f) => ({ variant: f.variant ?? 'single', score: addon.backendScore(f.path) ?? 0 }));
    const best = scored.reduce((a, b) => (b.score > a.score ? b : a));
    assert.equal(info.cpuVariant, best.variant, JSON.stringify(scored));
    assert.ok(Object.keys(info.cpuFeatures).length > 0 || process.arch !== 'x64', 'x86 variants list their instruction sets');
    const fromPrebuild = info.addonPath.includes(`${sep}prebuilds${sep}`);
    assert.equal(info.addonSource, process.env['LLAMA_NAPI_ADDON'] ? 'environment' : fromPrebuild ? 'prebuild' : 'source');
    assert.match(info.llamaCommit, /^[0-9a-f]{40}$/);
    assert.ok(info.devices.some((d) => d.type === 'cpu'));
  });

  it('a native module (x86 source build) records its build machine\'s CPU flags, which this CPU has, and is the one loaded', (t) => {
    const native = findBackendFiles(addonDir).find((f) => f.backend === 'cpu' && f.variant === NATIVE_CPU_VARIANT);
    if (native === undefined) return t.skip('no native CPU module in this build (LLAMA_NAPI_CPU_VARIANTS without "native")');
    assert.ok(existsSync(cpuFlagsFile(native.path)), 'the build wrote the flags file');
    assert.equal(nativeModuleRefusal(native.path, cpuFlags()), undefined);
    const named = findBackendFiles(addonDir).filter((f) => f.backend === 'cpu' && f.variant !== NATIVE_CPU_VARIANT);
    const addon = loadAddon();
    for (const f of named) assert.ok(addon.backendScore(native.path)! > (addon.backendScore(f.path) ?? 0), `native outscores ${f.variant}`);
    assert.equal(getBuildInfo().cpuVariant, NATIVE_CPU_VARIANT);
  });

  it('a native module copied to a CPU without one of its build flags is not opened: a named variant is loaded, and forcing it is ERR_BACKEND', async (t) => {
    const native = findBackendFiles(addonDir).find((f) => f.backend === 'cpu' && f.variant === NATIVE_CPU_VARIANT);
    if (native === undefined) return t.skip('no native CPU module in this build');
    // The build folder "copied to another machine": the same files, and a flag record naming a
    // flag this CPU does not have (as a build machine with a newer instruction set would).
    const copy = mkdtempSync(join(tmpdir(), 'llama-napi-copied-build-'));
    try {
      for (const name of readdirSync(addonDir)) {
        if (/\.node$|^(lib)?(llama-napi-|ggml-)/.test(name)) copyFileSync(join(addonDir, name), join(copy, name));
      }
      const flagsFile = cpuFlagsFile(join(copy, native.path.slice(addonDir.length + 1)));
      writeFileSync(flagsFile, `${readFileSync(flagsFile, 'utf8').trim()} avx1024_from_the_future\n`);
      const env = { LLAMA_NAPI_ADDON: join(copy, 'llama_napi.node'), LLAMA_NAPI_BACKENDS: 'cpu' };
      const result = await report(env, model);
      assert.ok(result.ok, result.message);
      assert.ok(result.text !== undefined && result.text.length > 0, 'generated on the named variant');
      const cpu = result.info!.backends.find((b) => b.name === 'CPU')!;
      assert.notEqual(result.info!.cpuVariant, NATIVE_CPU_VARIANT);
      assert.ok(cpu.path.startsWith(copy), cpu.path);
      const skipped = result.info!.skippedBackends.find((s) => s.backend === 'cpu' && s.path.endsWith(native.path.slice(addonDir.length)));
      assert.equal(skipped?.reason, 'built with -march=native on a CPU with flags this one lacks: avx1024_from_the_future');
      assert.ok(result.warnings.some((w) => /native CPU backend .* is not used on this CPU/.test(w)), result.warnings.join('\n'));
      const forced = await report({ ...env, LLAMA_NAPI_CPU_VARIANT: NATIVE_CPU_VARIANT });
      assert.equal(forced.code, 'ERR_BACKEND');
      assert.match(forced.message!, /LLAMA_NAPI_CPU_VARIANT=native: built with -march=native on a CPU with flags this one lacks/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('LLAMA_NAPI_CPU_VARIANT forces a variant; one this CPU cannot run or an unknown one is ERR_BACKEND', async () => {
    const addon = loadAddon();
    const variants = findBackendFiles(addonDir)
      .filter((f) => f.backend === 'cpu' && f.variant !== undefined)
      .map((f) => ({ variant: f.variant!, score: addon.backendScore(f.path) ?? 0 }));
    const runnable = variants.find((v) => v.score > 0 && v.variant !== getBuildInfo().cpuVariant);
    if (runnable !== undefined) {
      const forced = await report({ LLAMA_NAPI_CPU_VARIANT: runnable.variant });
      assert.ok(forced.ok, forced.message);
      assert.equal(forced.info!.cpuVariant, runnable.variant);
    }
    const unsupported = variants.find((v) => v.score === 0);
    if (unsupported !== undefined) {
      const refused = await report({ LLAMA_NAPI_CPU_VARIANT: unsupported.variant });
      assert.equal(refused.code, 'ERR_BACKEND');
      assert.match(refused.message!, /lacks the instruction sets/);
    }
    const unknown = await report({ LLAMA_NAPI_CPU_VARIANT: 'no-such-variant' });
    assert.equal(unknown.ok, false);
    assert.equal(unknown.code, 'ERR_BACKEND');
    assert.match(unknown.message!, /LLAMA_NAPI_CPU_VARIANT=no-such-variant.*found: /);
  });

  it('a GPU backend that cannot load or initialise is skipped with a logged reason, and generation runs on the CPU', async () => {
    const present = new Set(findBackendFiles(addonDir).map((f) => f.backend));
    const result = await report({ LLAMA_NAPI_BACKEND_PATH: fakes }, model);
    assert.ok(result.ok, result.message);
    assert.ok(result.text !== undefined && result.text.length > 0, 'generated on the CPU');
    const skipped = result.info!.skippedBackends;
    if (!present.has('vulkan')) {
      const vulkan = skipped.find((s) => s.backend === 'vulkan');
      assert.match(vulkan?.reason ?? '', /cannot load .*libggml-vulkan\.so: /);
      assert.ok(result.warnings.some((w) => /GPU backend vulkan unavailable, continuing without it/.test(w)), result.warnings.join('\n'));
    }
    if (!present.has('cuda')) {
      const cuda = skipped.find((s) => s.backend === 'cuda');
      assert.match(cuda?.reason ?? '', /could not initialise the backend/);
      assert.ok(result.warnings.some((w) => /GPU backend cuda unavailable/.test(w)), result.warnings.join('\n'));
    }
    assert.deepEqual(
      result.info!.backends.map((b) => b.name),
      present.has('rpc') ? ['CPU', 'RPC'] : ['CPU'],
    );
  });

  it('LLAMA_NAPI_BACKENDS=cpu loads no GPU backend', async () => {
    const result = await report({ LLAMA_NAPI_BACKEND_PATH: fakes, LLAMA_NAPI_BACKENDS: 'cpu' });
    assert.ok(result.ok, result.message);
    // RPC is no GPU backend: it is loaded whatever LLAMA_NAPI_BACKENDS says.
    const rpc = findBackendFiles(addonDir).some((f) => f.backend === 'rpc');
    assert.deepEqual(result.info!.backends.map((b) => b.name), rpc ? ['CPU', 'RPC'] : ['CPU']);
    assert.deepEqual(result.warnings, []);
    for (const s of result.info!.skippedBackends.filter((b) => b.backend !== 'cpu')) {
      assert.equal(s.reason, 'not listed in LLAMA_NAPI_BACKENDS');
    }
  });
});

describe('llama-napi CLI', () => {
  it('prints the build info as JSON and as text', () => {
    const cli = join(REPO_ROOT, 'bin', 'llama-napi.mjs');
    const json = JSON.parse(execFileSync(process.execPath, [cli, 'info', '--json'], { encoding: 'utf8' })) as ReturnType<typeof getBuildInfo>;
    assert.equal(json.cpuVariant, getBuildInfo().cpuVariant);
    assert.match(json.llamaCommit, /^[0-9a-f]{40}$/);
    const text = execFileSync(process.execPath, [cli], { encoding: 'utf8' });
    assert.match(text, /^llama-napi \d+\.\d+\.\d+\nllama\.cpp {2}v\S+ \(.*\), commit [0-9a-f]{40}\n/);
    assert.match(text, /\n {2}loaded {3}CPU/);
    assert.match(text, /\ndevices\n {2}CPU/);
  });
});
