/**
 * Runs a test script in a child process, so that a native crash (SIGSEGV, SIGABRT from a
 * GGML_ASSERT) shows up as a failed test with the signal's name instead of a dead runner.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How a child process ended. */
export interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Killed because it ran past the timeout. */
  timedOut: boolean;
  elapsedMs: number;
  /** The last stdout line parsed as JSON (child scripts report with one JSON line), if any. */
  report: unknown;
}

/**
 * Runs `test/child/<script>` with tsx.
 * @param script - file name under test/child/
 * @param args - arguments the script reads from `process.argv.slice(2)`
 * @param timeoutMs - the child is killed (SIGKILL) after this long
 * @param env - variables added to this process's environment for the child
 */
export function runChild(
  script: string,
  args: readonly string[] = [],
  timeoutMs = 60_000,
  env: Record<string, string> = {},
): Promise<ChildOutcome> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (data: string) => (stdout += data));
    child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lastLine = stdout.trim().split('\n').at(-1) ?? '';
      let report: unknown;
      try {
        report = JSON.parse(lastLine);
      } catch {
        report = undefined;
      }
      resolve({ code, signal, stdout, stderr, timedOut, elapsedMs: performance.now() - started, report });
    });
  });
}

/** A one-line description of an outcome for assertion messages. */
export function describeOutcome(outcome: ChildOutcome): string {
  const how = outcome.timedOut
    ? `timed out after ${Math.round(outcome.elapsedMs)} ms`
    : outcome.signal
      ? `killed by ${outcome.signal}`
      : `exit code ${outcome.code}`;
  return `${how}\nstdout: ${outcome.stdout.slice(-2000)}\nstderr: ${outcome.stderr.slice(-2000)}`;
}
