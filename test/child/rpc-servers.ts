/**
 * Starts test/child/rpc-server.ts processes and stops them: shared by test/rpc.test.ts and the
 * scenario children (test/child/rpc-client.ts), which start their own servers so that each can
 * kill, stop (SIGSTOP) and restart them at the moment it tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One server process. */
export interface ServerProcess {
  readonly port: number;
  readonly endpoint: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts one server (port 0: a free one) and waits until it listens. */
export function startServerProcess(
  port = 0,
  timeoutMs = 20_000,
  options: { cacheDir?: string; threads?: number; host?: string; cpus?: string } = {},
): Promise<ServerProcess> {
  const script = fileURLToPath(new URL('rpc-server.ts', import.meta.url));
  const args = [String(port), options.cacheDir ?? '', String(options.threads ?? 1), options.host ?? '127.0.0.1'];
  const command = [process.execPath, '--import', 'tsx', script, ...args];
  // `cpus` (benchmarks only): taskset's CPU list for the server, e.g. '1' to keep every server on CPU 1.
  if (options.cpus !== undefined) command.unshift('taskset', '-c', options.cpus);
  const child = spawn(command[0]!, command.slice(1), {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`RPC server did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n')[0];
      if (!out.includes('\n') || line === undefined) return;
      clearTimeout(timer);
      const { port: bound, endpoint } = JSON.parse(line) as { port: number; endpoint: string };
      resolve({
        port: bound,
        endpoint,
        child,
        exited,
        kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`RPC server exited (${code ?? signal}) before listening: ${stderr}`));
    });
  });
}
