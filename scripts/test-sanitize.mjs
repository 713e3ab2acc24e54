#!/usr/bin/env node
// `npm run test:sanitize`: the test suite on an AddressSanitizer + UndefinedBehaviorSanitizer
// build of the addon and llama.cpp (Linux, GCC or Clang).
//
// 1. Builds build-sanitize/ (LLAMA_NAPI_SANITIZE=address,undefined, the CPU variant of this
//    machine), beside the normal build/, reusing it when it is up to date.
// 2. Runs the suite with LLAMA_NAPI_ADDON pointing at that addon. Node itself is not
//    instrumented: the ASan runtime is preloaded (LD_PRELOAD) into the runner and every process
//    it starts. Leak detection is off (Node does not free its heap at exit), and so is the
//    alloc/dealloc mismatch check (it fires on Node's own uninstrumented code). ASan stops a
//    process at its first error (its test then fails); UBSan reports and continues.
// 3. Every report lands in .cache/sanitize/<run>/ and is summarized at the end; reports whose
//    stack matches test/sanitize/*.supp (llama.cpp's, each with its reason) are suppressed. Exit
//    status 1 when the suite failed or any report was left.
//
// Options: --no-build (use build-sanitize/ as it is), files or globs to run instead of the whole
// suite (e.g. `npm run test:sanitize -- test/generate.test.ts`).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = 'build-sanitize';
const args = process.argv.slice(2);
const build = !args.includes('--no-build');
const files = args.filter((a) => !a.startsWith('--'));
/**
 * Left out: the soak test asserts RSS growth, which ASan's quarantine and shadow memory change by
 * design (its own run, `npm run soak`, is the leak check).
 */
const EXCLUDED = new Set(['test/soak.test.ts']);

if (process.platform !== 'linux') {
  process.stderr.write('test:sanitize runs on Linux only (it preloads the sanitizer runtime with LD_PRELOAD)\n');
  process.exit(1);
}

function runtime(name) {
  for (const compiler of [process.env.CC, 'gcc', 'clang'].filter(Boolean)) {
    try {
      const path = execFileSync(compiler, [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
      if (path.startsWith('/') && existsSync(path)) return path;
    } catch {
      // try the next compiler
    }
  }
  throw new Error(`cannot find ${name}: install the compiler's sanitizer runtime (Debian: libasan8 / libubsan1)`);
}

if (build) {
  const env = { ...process.env, LLAMA_NAPI_BUILD_DIR: buildDir, LLAMA_NAPI_SANITIZE: 'address,undefined' };
  const result = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--parallel', '2'], { cwd: root, env, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
const addon = join(root, buildDir, 'Release', 'llama_napi.node');
if (!existsSync(addon)) {
  process.stderr.write(`${addon} is missing: run without --no-build\n`);
  process.exit(1);
}

const reports = join(root, '.cache', 'sanitize', new Date().toISOString().replace(/[:.]/g, '-'));
mkdirSync(reports, { recursive: true });
const suppressions = (name) => join(root, 'test', 'sanitize', name);
const env = {
  ...process.env,
  LLAMA_NAPI_ADDON: addon,
  LD_PRELOAD: runtime('libasan.so'),
  ASAN_OPTIONS: [
    'detect_leaks=0',
    'alloc_dealloc_mismatch=0',
    // Node maps and unmaps huge regions; ASan must not treat its own allocator limits as errors.
    'allocator_may_return_null=1',
    `suppressions=${suppressions('asan.supp')}`,
    `log_path=${join(reports, 'asan')}`,
  ].join(':'),
  UBSAN_OPTIONS: ['print_stacktrace=1', 'halt_on_error=0', `suppressions=${suppressions('ubsan.supp')}`, `log_path=${join(reports, 'ubsan')}`].join(':'),
};

const suite = files.length > 0 ? files : readdirSync(join(root, 'test')).filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`);
const selected = suite.filter((f) => !EXCLUDED.has(f));
const started = Date.now();
// The runner's output is passed through and scanned too: a test that captures a child's stderr
// shows that child's reports there, and UBSan (sharing ASan's runtime under GCC) ignores its own
// log_path and writes to stderr.
const inline = new Map();
const tests = await new Promise((resolve) => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...selected], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
    let rest = '';
    from.on('data', (chunk) => {
      to.write(chunk);
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const report = /(runtime error: .*|ERROR: AddressSanitizer: .*|SUMMARY: \S+Sanitizer: .*)/.exec(line);
        if (report) {
          const key = report[1].replace(/0x[0-9a-f]+/g, '0x…');
          inline.set(key, (inline.get(key) ?? 0) + 1);
        }
      }
    });
  }
  child.on('close', (status) => resolve({ status }));
});
const minutes = ((Date.now() - started) / 60_000).toFixed(1);

// One file per reporting process: `<kind>.<pid>`.
const found = readdirSync(reports).map((name) => ({ name, text: readFileSync(join(reports, name), 'utf8') }));
const kinds = new Map();
for (const { name, text } of found) {
  for (const line of text.split('\n')) {
    const summary = /SUMMARY: (\S+): (.*)/.exec(line) ?? /runtime error: (.*)/.exec(line);
    if (summary) kinds.set(line.trim(), (kinds.get(line.trim()) ?? 0) + 1);
  }
  process.stdout.write(`\n--- ${name} ---\n${text.split('\n').slice(0, 40).join('\n')}\n`);
}
process.stdout.write(`\ntest:sanitize: ${selected.length} test files in ${minutes} min, suite exit status ${tests.status}; `);
process.stdout.write(`${found.length} report file(s) in ${reports}, ${inline.size} distinct report(s) in the test output\n`);
for (const [line, count] of kinds) process.stdout.write(`  ${count} × ${line}\n`);
for (const [line, count] of inline) process.stdout.write(`  ${count} × (test output) ${line}\n`);
process.exit(tests.status === 0 && found.length === 0 && inline.size === 0 ? 0 : 1);
