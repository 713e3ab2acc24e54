/**
 * Runs the `llama-napi` command as a user does (`bin/llama-napi.mjs`, which imports the
 * compiled dist/cli), with pipes or inside a pseudo-terminal.
 *
 * Pseudo-terminals come from util-linux `script` (`script -qfec CMD /dev/null`): it gives the
 * command a pty and relays our writes to it as keystrokes (Ctrl-C as \x03 reaches readline
 * in raw mode, or becomes SIGINT in cooked mode, exactly as on a real terminal).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(REPO_ROOT, 'bin', 'llama-napi.mjs');

/** How a CLI run ended. */
export interface CliOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs `llama-napi ARGS…` with pipes (no terminal); stdin gets `input`, then end of input. */
export function runCli(args: readonly string[], options: { input?: string; cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.end(options.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** One line for assertion messages. */
export function describeCli(o: CliOutcome): string {
  return `exit ${o.code}${o.signal ? ` (${o.signal})` : ''}${o.timedOut ? ' TIMED OUT' : ''}\nstdout: ${o.stdout.slice(-1500)}\nstderr: ${o.stderr.slice(-1500)}`;
}

/** Why the CLI cannot be run from dist/ (missing or older than lib/cli), or undefined. */
export function staleBuild(): string | undefined {
  const built = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  let builtAt: number;
  try {
    builtAt = statSync(built).mtimeMs;
  } catch {
    return 'dist/cli/main.js is missing: run `node scripts/build-ts.mjs` first';
  }
  const sources = join(REPO_ROOT, 'lib', 'cli');
  const newer = readdirSync(sources).filter((f) => statSync(join(sources, f)).mtimeMs > builtAt);
  return newer.length > 0 ? `dist/cli is older than lib/cli/${newer[0]}: run \`node scripts/build-ts.mjs\` first` : undefined;
}

/** Why no pseudo-terminal can be made here (no util-linux `script`), or undefined. */
export function ptyUnavailable(): string | undefined {
  const probe = spawnSync('script', ['-qfec', 'true', '/dev/null'], { stdio: 'ignore', timeout: 10_000 });
  if (probe.error) return `no pseudo-terminal: util-linux \`script\` is not available (${probe.error.message})`;
  return probe.status === 0 ? undefined : `no pseudo-terminal: \`script -qfec true /dev/null\` exited ${probe.status}`;
}

/** A CLI process inside a pseudo-terminal, driven by keystrokes. */
export class PtySession {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #child;

  constructor(args: readonly string[], cwd = REPO_ROOT) {
    const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
    const command = [process.execPath, BIN, ...args].map(quote).join(' ');
    // -e: script exits with the command's exit code; -f: flush output as it comes.
    this.#child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, COLUMNS: '120', LINES: '40' } });
    this.#child.stdout.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    this.#child.stderr.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    this.exited = new Promise((resolve) => this.#child.on('close', (code, signal) => resolve({ code, signal })));
  }

  /** Sends keystrokes (`\r` is Enter, `\x03` Ctrl-C, `\x04` Ctrl-D). */
  type(keys: string): void {
    this.#child.stdin.write(keys);
  }

  /** Resolves once the output (after `from`) matches `pattern`; rejects after `timeoutMs`. */
  async waitFor(pattern: RegExp, from = 0, timeoutMs = 20_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.output.slice(from));
      if (match) return from + match.index + match[0].length;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output so far:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}
