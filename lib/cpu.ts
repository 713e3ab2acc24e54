/**
 * CPU facts for thread defaults.
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
