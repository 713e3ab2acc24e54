/**
 * CPU facts: thread defaults, and the instruction-set flags the native CPU module is checked
 * against (lib/backends.ts).
 * @internal
 */
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * Physical cores (hyperthread siblings counted once), as llama.cpp's own tools default to:
 * two compute threads on one core's siblings fight over the same execution units. Linux reads
 * the CPU topology from sysfs; elsewhere, or when it cannot be read, every logical CPU counts.
 * Never more than the CPUs this process may run on.
 */
export function physicalCores(): number {
  const logical = availableParallelism();
  if (process.platform !== 'linux') return logical;
  try {
    const root = '/sys/devices/system/cpu';
    const siblings = new Set<string>();
    for (const entry of readdirSync(root)) {
      if (!/^cpu\d+$/.test(entry)) continue;
      try {
        siblings.add(readFileSync(`${root}/${entry}/topology/thread_siblings_list`, 'utf8').trim());
      } catch {
        // An offline CPU has no topology folder.
      }
    }
    return siblings.size > 0 ? Math.min(siblings.size, logical) : logical;
  } catch {
    return logical;
  }
}

/**
 * This CPU's flags as Linux lists them (the `flags` line of /proc/cpuinfo: `avx2`,
 * `avx512_fp16`, `amx_tile`, …), or undefined where they cannot be read (other systems).
 */
export function cpuFlags(cpuinfo = '/proc/cpuinfo'): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(cpuinfo, 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => /^flags\s*:/.test(l));
  return line === undefined ? undefined : parseCpuFlags(line.slice(line.indexOf(':') + 1));
}

/** Space-separated flags (a /proc/cpuinfo `flags` value, or a `.cpuflags` file) as a list. */
export function parseCpuFlags(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}
