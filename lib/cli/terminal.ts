/**
 * Everything the CLI writes goes through here: generated text and results to stdout,
 * progress and diagnostics to stderr, colour and progress bars only where a person is
 * watching (a TTY). The library itself never prints (design: printing belongs to lib/cli).
 */

/** The streams a command uses; `process`'s by default, replaceable in tests. */
export interface CliStreams {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

const ANSI = { reset: '\x1b[0m', green: '\x1b[32m', yellow: '\x1b[33m', dim: '\x1b[2m', bold: '\x1b[1m' } as const;
/** A colour name of {@link Terminal.paint}. */
export type Colour = Exclude<keyof typeof ANSI, 'reset'>;

/** Output of one command run. */
export class Terminal {
  readonly streams: CliStreams;
  /** Whether user input and prompts are coloured (`--color` and a terminal on stdout). */
  colour = false;
  #progressShown = false;

  constructor(streams: CliStreams = process) {
    this.streams = streams;
  }

  /** Whether a person is watching stderr (progress bars go there only then). */
  get stderrIsTTY(): boolean {
    return this.streams.stderr.isTTY === true;
  }

  /** Whether stdout is a terminal (not a pipe or a file). */
  get stdoutIsTTY(): boolean {
    return this.streams.stdout.isTTY === true;
  }

  /** `--color [on|off|auto]`: `on` and `auto` colour only a terminal, so pipes never get escape codes. */
  setColour(mode: string | undefined): void {
    this.colour = (mode === 'on' || mode === 'auto') && this.stdoutIsTTY;
  }

  /** Writes to stdout as is (generated text, results). */
  out(text: string): void {
    this.streams.stdout.write(text);
  }

  /** Writes one diagnostic line to stderr. */
  note(line: string): void {
    this.clearProgress();
    this.streams.stderr.write(`${line}\n`);
  }

  /** `text` in `colour` when colouring is on. */
  paint(text: string, colour: Colour): string {
    return this.colour ? `${ANSI[colour]}${text}${ANSI.reset}` : text;
  }

  /** The escape that starts `colour` (for readline prompts that colour what is typed next), or ''. */
  colourStart(colour: Colour): string {
    return this.colour ? ANSI[colour] : '';
  }

  /** The escape that ends a colour, or ''. */
  colourEnd(): string {
    return this.colour ? ANSI.reset : '';
  }

  /**
   * Shows `label [#####-----] 45%` on stderr, redrawn in place; nothing when stderr is not a
   * terminal (a log file gets no carriage-return noise).
   */
  progress(label: string, fraction: number, detail = ''): void {
    if (!this.stderrIsTTY) return;
    const width = 30;
    const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    const line = `${label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}%${detail ? ` ${detail}` : ''}`;
    const columns = (this.streams.stderr.columns ?? 0) > 20 ? this.streams.stderr.columns! : 80;
    this.streams.stderr.write(`\r${line.slice(0, columns - 1)}\x1b[K`);
    this.#progressShown = true;
  }

  /** Removes a progress bar, if one is shown. */
  clearProgress(): void {
    if (!this.#progressShown) return;
    this.streams.stderr.write('\r\x1b[K');
    this.#progressShown = false;
  }
}

/** `1536` → `1.5 KiB`; binary units, as llama.cpp prints them. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit]}`;
}

/** `46702792704` → `46.70 B`, `4318528` → `4.32 M`: a parameter count as model cards write it. */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)} K`;
  return String(n);
}

/** Lays out rows as left-aligned columns (the first row is the header). */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]! + 2))).join('').trimEnd());
}
