// `npm run soak [-- --cycles N --every K]`: many load → context → generate → dispose cycles on a
// 21 MB Mixtral-shaped Q8_0 model, in a child process, then a table of threads, file descriptors and
// RSS. Fails (exit 1) when threads or descriptors end above the level after the first cycle, or
// RSS at the end is more than 5 % above its level at cycle 100 (the allocator's warm-up is over
// by then; a leak keeps growing). test/soak.test.ts is the short version the suite runs.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fixtureModel } from '../test/fixtures/models.js';

const { values } = parseArgs({ options: { cycles: { type: 'string', default: '1000' }, every: { type: 'string', default: '100' } } });
const cycles = Number(values.cycles);
const every = Number(values.every);
if (!Number.isInteger(cycles) || cycles < 1 || !Number.isInteger(every) || every < 1) {
  console.error('usage: npm run soak -- [--cycles N (default 1000)] [--every K (default 100)]');
  process.exit(2);
}
if (process.platform !== 'linux') {
  console.error('npm run soak reads /proc: Linux only');
  process.exit(2);
}

const model = await fixtureModel({ kind: 'moe', type: 'Q8_0', embeddingLength: 256, feedForwardLength: 256 });
console.log(`soak: ${cycles} cycles on ${model}`);
const started = Date.now();
const child = spawnSync(
  process.execPath,
  ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./soak-child.ts', import.meta.url)), model, String(cycles), String(every)],
  // One libuv worker: a CPU variant that repacks weights while loading (AMX) leaves an idle
  // OpenMP team on each worker that ever loaded; with one worker it exists from the first cycle.
  // The allocator is left as users have it (glibc: an arena per new thread, up to 8 per core;
  // MALLOC_ARENA_MAX from the environment passes through).
  { encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
);
if (child.status !== 0) {
  console.error(`soak child failed (${child.signal ?? `exit ${child.status}`})`);
  process.exit(1);
}
const rows = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Array<{ cycle: number; threads: number; fds: number; rssMiB: number }>;
console.log('| cycle | threads | fds | RSS MiB |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.cycle} | ${r.threads} | ${r.fds} | ${r.rssMiB} |`);
const first = rows[0]!;
const last = rows.at(-1)!;
const warm = rows.find((r) => r.cycle >= Math.min(100, cycles)) ?? first;
const growth = (last.rssMiB / warm.rssMiB - 1) * 100;
console.log(`${cycles} cycles in ${((Date.now() - started) / 1000).toFixed(0)} s; RSS cycle ${warm.cycle} → ${last.cycle}: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} %`);
const problems = [
  last.threads > first.threads ? `threads ${first.threads} → ${last.threads}` : '',
  last.fds > first.fds ? `file descriptors ${first.fds} → ${last.fds}` : '',
  growth > 5 ? `RSS grew ${growth.toFixed(1)} % after cycle ${warm.cycle} (limit 5 %)` : '',
].filter(Boolean);
if (problems.length > 0) {
  console.error(`soak: FAILED: ${problems.join('; ')}`);
  process.exit(1);
}
console.log('soak: passed');
