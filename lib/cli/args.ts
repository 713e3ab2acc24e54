/**
 * A small table-driven parser for llama.cpp-style command lines.
 *
 * llama.cpp's spellings are not POSIX: multi-letter short flags (`-ngl`, `-sys`, `-cnv`),
 * negative numbers as values (`-n -1`), and both `_` and `-` in long names
 * (`--repeat_penalty` = `--repeat-penalty`). So the parser knows every flag of a command
 * from its table, never guesses from the shape of an argument, and reports anything else
 * as a usage error naming the flag and the closest known spelling.
 */
import { UsageError } from './exit-codes.js';

/** One flag of a command. */
export interface FlagSpec {
  /** Property name in {@link ParsedArgs.flags}. */
  readonly key: string;
  /** Every accepted spelling, as printed in help (`['-ngl', '--gpu-layers', '--n-gpu-layers']`). */
  readonly names: readonly string[];
  /** The value's placeholder in help (`N`, `FNAME`); absent for a switch that takes none. */
  readonly value?: string;
  /**
   * For a switch that may take a value (`--color [on|off|auto]`, `-fa [on|off|auto]`): the
   * values it accepts as the next argument. Without one of them it means `implied`.
   */
  readonly optionalValues?: readonly string[];
  /** What a switch with {@link optionalValues} means when given alone. */
  readonly implied?: string;
  /** Collects every occurrence (`--include A --include B`); otherwise the last one wins, as in llama.cpp. */
  readonly repeatable?: boolean;
  /** One line of help. */
  readonly help: string;
}

/** What {@link parseArgs} found. */
export interface ParsedArgs {
  /** `key` → the value (a string), `true` for a switch, or every value of a repeatable flag. */
  readonly flags: Readonly<Record<string, string | true | string[]>>;
  /** Arguments that are not flags or their values, in order. */
  readonly positionals: readonly string[];
  /** `key` → the spelling the user typed last, for error messages (`--repeat_penalty`). */
  readonly spelled: Readonly<Record<string, string>>;
}

/** `--repeat_penalty` → `--repeat-penalty`: underscores and dashes are the same in names. */
export function normalizeFlag(name: string): string {
  const dashes = name.startsWith('--') ? 2 : name.startsWith('-') ? 1 : 0;
  return name.slice(0, dashes) + name.slice(dashes).replaceAll('_', '-');
}

/**
 * Parses `argv` (the arguments after the command name) against `specs`.
 * @param command - the command, for the `--help` pointer of usage errors
 * @throws UsageError for an unknown flag (with the closest known one) or a missing value
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], command?: string): ParsedArgs {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) for (const name of spec.names) byName.set(normalizeFlag(name), spec);
  const flags: Record<string, string | true | string[]> = {};
  const spelled: Record<string, string> = {};
  const positionals: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const spec = byName.get(normalizeFlag(name));
    if (spec === undefined) throw unknownFlag(name, specs, command);
    spelled[spec.key] = name;

    let value: string | true;
    if (eq !== -1) {
      if (spec.value === undefined && spec.optionalValues === undefined) {
        throw new UsageError(`${name} takes no value, got "${arg.slice(eq + 1)}"`, command);
      }
      value = arg.slice(eq + 1);
    } else if (spec.value !== undefined) {
      const next = argv[i + 1];
      // A known flag where the value should be means the value was forgotten (`-m -p hi`);
      // anything else is the value, including negative numbers (`-n -1`).
      if (next === undefined || byName.has(normalizeFlag(next.split('=')[0]!))) {
        throw new UsageError(`${name} needs a value (${spec.value})`, command);
      }
      value = next;
      i++;
    } else if (spec.optionalValues !== undefined && spec.optionalValues.includes(argv[i + 1] ?? '')) {
      value = argv[++i]!;
    } else {
      value = spec.implied ?? true;
    }

    if (spec.repeatable) {
      const list = flags[spec.key];
      flags[spec.key] = [...(Array.isArray(list) ? list : []), String(value)];
    } else {
      flags[spec.key] = value;
    }
  }
  return { flags, positionals, spelled };
}

function unknownFlag(name: string, specs: readonly FlagSpec[], command: string | undefined): UsageError {
  const candidates = specs.flatMap((s) => s.names);
  const wanted = normalizeFlag(name);
  let best = candidates[0];
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(wanted, normalizeFlag(candidate));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  const hint = best === undefined ? '' : `; did you mean ${best}?`;
  return new UsageError(`unknown flag ${name}${hint}`, command);
}

/**
 * Edit distance with transpositions (optimal string alignment): single-character insertions,
 * deletions, substitutions and swaps of neighbours each cost 1, so `-nlg` is next to `-ngl`.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** Formats a flag table as help lines: spellings and placeholder, then the help text. */
export function formatFlagHelp(specs: readonly FlagSpec[]): string[] {
  const left = specs.map((s) => {
    const value = s.value ? ` ${s.value}` : s.optionalValues ? ` [${s.optionalValues.join('|')}]` : '';
    return `${s.names.join(', ')}${value}`;
  });
  const width = Math.min(40, Math.max(...left.map((l) => l.length)) + 2);
  return specs.map((s, i) => {
    const l = left[i]!;
    return l.length >= width ? `  ${l}\n  ${' '.repeat(width)}${s.help}` : `  ${l.padEnd(width)}${s.help}`;
  });
}
