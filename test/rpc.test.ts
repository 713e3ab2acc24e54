/**
 * llama.cpp's RPC backend: models split across this process and RPC servers, and servers that
 * fail. The servers are child processes on 127.0.0.1 (test/child/rpc-server.ts, random free
 * ports); every scenario that kills, stops or restarts one runs in a child process of its own
 * (test/child/rpc-client.ts), so a crash is a failed test with a signal name, and a hang is a
 * timeout. The pure parts (endpoints, the HELLO codec, the load-time probe) run here.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { isLlamaError } from '../lib/errors.js';
import { probeRpcServer } from '../lib/rpc/client.js';
import {
  formatRpcEndpoint,
  HELLO_REPLY_SIZE,
  helloRequest,
  isExposedHost,
  parseHelloReply,
  parseRpcEndpoint,
  rpcServersOption,
} from '../lib/rpc/endpoint.js';
import { startRpcServer } from '../lib/rpc/server.js';
import { resolveLoadModelOptions } from '../lib/options/load.js';
import { BIN, describeCli, runCli, staleBuild } from './child/cli-spawn.js';
import { describeOutcome, runChild } from './child/spawn.js';
import { fixtureModel } from './fixtures/models.js';

interface Settled {
  ok?: unknown;
  code?: string;
  message?: string;
  ms?: number;
}
type Report = Record<string, unknown> & { error?: string; localAfter?: boolean; ms: number };

/** Whether this machine can listen on `host` (IPv6 may be off in a container). */
function canListenOn(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, host, () => probe.close(() => resolve(true)));
  });
}

/** Runs one scenario child; it must exit by itself, report, and end with a working local model. */
async function scenario(name: string, timeoutMs = 40_000): Promise<Report> {
  const outcome = await runChild('rpc-client.ts', [name], timeoutMs);
  assert.equal(outcome.timedOut, false, `scenario ${name} hung: ${describeOutcome(outcome)}`);
  assert.equal(outcome.signal, null, `scenario ${name} crashed: ${describeOutcome(outcome)}`);
  assert.equal(outcome.code, 0, describeOutcome(outcome));
  const report = outcome.report as Report;
  assert.equal(report.error, undefined, report.error);
  assert.equal(report.localAfter, true, 'a local model still loads and generates afterwards');
  return report;
}

function assertRpcError(value: unknown, what: string, maxMs?: number): void {
  const s = value as Settled;
  assert.equal(s.code, 'ERR_RPC', `${what}: ${JSON.stringify(s)}`);
  assert.match(s.message ?? '', /127\.0\.0\.1:\d+/, `${what} names the endpoint`);
  if (maxMs !== undefined) assert.ok((s.ms ?? Infinity) < maxMs, `${what} within ${maxMs} ms: ${s.ms}`);
}

describe('RPC endpoints and handshake', () => {
  it('validates endpoints, naming the option', () => {
    assert.deepEqual(parseRpcEndpoint('gpu-box-1:50052', 'rpcServers[0]'), { host: 'gpu-box-1', port: 50052, text: 'gpu-box-1:50052' });
    assert.deepEqual(parseRpcEndpoint('[::1]:50052', 'rpcServers[0]'), { host: '::1', port: 50052, text: '[::1]:50052' });
    assert.equal(parseRpcEndpoint('[fd00:1::7]:1', 'x').host, 'fd00:1::7');
    assert.equal(parseRpcEndpoint('10.0.0.2:50052', 'x').text, '10.0.0.2:50052');
    const malformed = ['', 'host', ':50052', 'host:', 'host:0', 'host:65536', 'host:12x', 'a b:1', 'host:-1'];
    // IPv6 only in brackets; brackets only around IPv6.
    malformed.push('::1:50052', '[::1]', '[::1]:', '[]:1', '[host]:1', '[10.0.0.2]:1', '[::1:1', '::1]:1');
    for (const bad of malformed) {
      assert.throws(() => parseRpcEndpoint(bad, 'rpcServers[0]'), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_INVALID_ARG');
        assert.match(e.message, /rpcServers\[0\]/);
        return e instanceof RangeError;
      });
    }
    assert.throws(() => parseRpcEndpoint(50052, 'x'), TypeError);
    assert.equal(formatRpcEndpoint('::1', 7), '[::1]:7');
    assert.equal(formatRpcEndpoint('10.0.0.2', 7), '10.0.0.2:7');
    assert.deepEqual(['127.0.0.1', '::1', '0.0.0.0', '::', '10.8.0.2'].map(isExposedHost), [false, false, true, true, true]);
    assert.deepEqual(
      rpcServersOption('a:1, b:2').map((e) => e.text),
      ['a:1', 'b:2'],
    );
    assert.throws(() => rpcServersOption(['a:1', 'a:1']), RangeError);
    assert.throws(() => rpcServersOption(Array.from({ length: 17 }, (_, i) => `h:${i + 1}`)), RangeError);
    assert.throws(() => resolveLoadModelOptions({ rpcServers: 'nope' }), /rpcServers\[0\]/);
    assert.throws(() => resolveLoadModelOptions({ rpcTimeout: 5 }), RangeError);
    // RPC device names are checked by the addon once the servers are registered.
    const o = resolveLoadModelOptions({ rpcServers: ['h:1'], tensorOverrides: [{ pattern: 'blk', device: 'RPC0' }] }, () => ['CPU']);
    assert.equal(o.tensorOverrides[0]!.device, 'RPC0');
    assert.throws(() => resolveLoadModelOptions({ tensorOverrides: [{ pattern: 'blk', device: 'RPC0' }] }, () => ['CPU']), RangeError);
  });

  it('startRpcServer: host is an IPv4 or IPv6 address, checked before the addon is asked', async () => {
    for (const host of ['localhost', '1.2.3', '256.0.0.1', '::1]', '[::1', 'fe80::1::2', '']) {
      await assert.rejects(startRpcServer({ host }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_INVALID_ARG');
        assert.match(e.message, /host/);
        assert.match(e.message, /IPv4 or IPv6/);
        return e instanceof RangeError;
      }, host);
    }
    await assert.rejects(startRpcServer({ host: 1 as unknown as string }), TypeError);
  });

  it('encodes HELLO and decodes the reply as ggml-rpc does', () => {
    const req = helloRequest();
    assert.equal(req[0], 14); // RPC_CMD_HELLO
    assert.equal(req.readBigUInt64LE(1), 24n);
    assert.equal(req.length, 1 + 8 + 24);
    const reply = Buffer.alloc(8 + HELLO_REPLY_SIZE);
    reply.writeBigUInt64LE(BigInt(HELLO_REPLY_SIZE), 0);
    reply.set([6, 0, 0], 8);
    assert.equal(parseHelloReply(reply.subarray(0, 10)), undefined);
    assert.deepEqual(parseHelloReply(reply), { major: 6, minor: 0, patch: 0 });
    const wrongSize = Buffer.alloc(8);
    wrongSize.writeBigUInt64LE(3n, 0);
    assert.throws(() => parseHelloReply(wrongSize), /not a llama.cpp RPC server/);
  });

  describe('the load-time probe', () => {
    const servers: Server[] = [];
    after(() => servers.forEach((s) => s.close()));
    async function fake(onConnection: (socket: Socket) => void): Promise<{ host: string; port: number; text: string }> {
      const server = createServer(onConnection);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      return { host: '127.0.0.1', port, text: `127.0.0.1:${port}` };
    }
    const expectRpc = async (p: Promise<unknown>, pattern: RegExp): Promise<void> => {
      await assert.rejects(p, (e: Error) => isLlamaError(e, 'ERR_RPC') && pattern.test(e.message) && e.message.includes('127.0.0.1:'));
    };

    it('accepts protocol 6 and refuses another major version, garbage, silence and a closed port', async () => {
      const reply = (major: number) => (socket: Socket) =>
        socket.once('data', () => {
          const r = Buffer.alloc(8 + HELLO_REPLY_SIZE);
          r.writeBigUInt64LE(BigInt(HELLO_REPLY_SIZE), 0);
          r.set([major, 0, 1], 8);
          socket.end(r);
        });
      assert.deepEqual(await probeRpcServer(await fake(reply(6)), 2000), { major: 6, minor: 0, patch: 1 });
      await expectRpc(probeRpcServer(await fake(reply(3)), 2000), /protocol 3\.0\.1/);
      await expectRpc(probeRpcServer(await fake((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')), 2000), /not a llama.cpp RPC server|closed/);
      const silent = await fake(() => {});
      const t = performance.now();
      await expectRpc(probeRpcServer(silent, 300), /no answer within 300 ms/);
      assert.ok(performance.now() - t < 2000);
      const closed = await fake(() => {});
      servers.at(-1)!.close();
      await expectRpc(probeRpcServer(closed, 2000), /refused/);
    });
  });
});

describe('models split over RPC servers (child processes)', { concurrency: 2 }, () => {
  it('greedy tokens (sampled on the server) and logits equal the local run, dense and MoE; layers land where the options say', async () => {
    const r = await scenario('parity');
    for (const name of ['dense', 'moe']) {
      const m = r[name] as { tokensEqual: boolean; tokens: number; maxDiff: number; sampledOn: string[] };
      assert.equal(m.tokensEqual, true, `${name}: greedy tokens equal`);
      // The split model samples on the RPC server (deviceSampling 'on'), the local one on the
      // host ('auto' on the CPU), and the tokens above are equal.
      assert.deepEqual(m.sampledOn, ['host', 'device'], `${name}: where greedy sampled (local, split)`);
      assert.ok(m.tokens > 0);
      assert.ok(m.maxDiff < 1e-3, `${name}: logits within 1e-3 (max difference ${m.maxDiff})`);
    }
    assert.equal((r.rpcDevices as string[]).length, 2, 'listDevices shows both servers');
    const split = r.split as Record<string, number>;
    assert.ok(split.RPC0! > 0 && split.RPC1! > 0, `tensorSplit [1, 1] puts weights on both: ${JSON.stringify(split)}`);
    const first = r.firstOnly as Record<string, number>;
    assert.ok(first.RPC0! > 0 && first.RPC1 === 0, `tensorSplit [1, 0]: all on RPC0: ${JSON.stringify(first)}`);
    const override = r.override as Record<string, number>;
    assert.ok(override.RPC1! > 0 && override.RPC0! < first.RPC0!, `tensorOverrides moves layer 0 to RPC1: ${JSON.stringify(override)}`);
    const none = r.noOffload as Record<string, number>;
    assert.ok(none.RPC0 === 0 && none.RPC1 === 0, 'gpuLayers 0: nothing remote');
    const moe = r.moePlacement as { all: Record<string, number>; cpuMoe: Record<string, number> };
    const remote = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);
    assert.ok(remote(moe.cpuMoe) < remote(moe.all), 'cpuMoe keeps the experts on the host');
    assert.deepEqual(r.localOnly, {}, 'a model without rpcServers has no remote device');
  });

  it('a server killed before the load: ERR_RPC at once, naming it', async () => {
    const r = await scenario('before-load');
    assertRpcError(r.load, 'load', 2000);
    assert.equal((r.malformed as Settled).code, 'ERR_INVALID_ARG', 'port 0 is not an endpoint');
  });

  it('a server killed during the load: the load rejects with ERR_RPC', async () => {
    const r = await scenario('during-load');
    assert.equal(r.killed, true);
    assertRpcError(r.load, 'load');
  });

  for (const name of ['between-tokens', 'mid-prompt', 'hung'] as const) {
    it(`a server ${name === 'hung' ? 'stopped (SIGSTOP) between tokens' : `killed ${name}`}: the generation rejects, the model is unusable, the process lives on`, async () => {
      const r = await scenario(name);
      assert.equal(r.warm, true);
      assertRpcError(r.generate, 'generate', name === 'hung' ? 5000 : 2000);
      assertRpcError(r.createContext, 'createContext afterwards');
      assertRpcError(r.generateAgain, 'generate afterwards');
      assert.ok('ok' in (r.dispose as Settled), 'dispose works');
      assert.equal(r.other, true, 'another model on a healthy server still generates');
    });
  }

  it('the OpenAI server over a remote that dies: 503 backend_unavailable, and /health says so', async () => {
    const r = await scenario('http-server');
    assert.equal(r.healthBefore, 200);
    assert.deepEqual(r.chatBefore, { status: 200, code: null });
    assert.deepEqual(r.chatAfter, { status: 503, code: 'backend_unavailable' });
    assert.deepEqual(r.chatAgain, { status: 503, code: 'backend_unavailable' });
    assert.equal(r.healthAfter, 503, 'a load balancer takes this replica out');
  });

  it('a server restarted on the same port: a new loadModel uses it again', async () => {
    const r = await scenario('restart');
    assert.equal(r.first, 4);
    assertRpcError(r.afterKill, 'use after the kill');
    assertRpcError(r.whileDown, 'load while down');
    assert.equal(r.second, 4);
  });
});

describe('llama-napi rpc-server and --rpc (the command line)', () => {
  /** Starts `llama-napi rpc-server ARGS` and waits for its "listening on" line. */
  async function startCliServer(args: string[]): Promise<{ child: ChildProcess; endpoint: string; stderr: () => string }> {
    const child = spawn(process.execPath, [BIN, 'rpc-server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const endpoint = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`rpc-server did not listen: ${stderr}`)), 20_000);
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /listening on (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => reject(new Error(`rpc-server exited ${code}: ${stderr}`)));
    });
    return { child, endpoint, stderr: () => stderr };
  }
  const exitOf = (child: ChildProcess): Promise<number | null> =>
    child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

  it('serves; run --rpc generates the same greedy text as a local run; SIGTERM stops it', async () => {
    const stale = staleBuild();
    if (stale) throw new Error(stale);
    const model = await fixtureModel({ kind: 'llama', type: 'F32', layerCount: 4 });
    const server = await startCliServer(['--port', '0', '-t', '1']);
    try {
      const line = ['run', '-m', model, '-n', '6', '--temp', '0', '-p', 'The quick brown fox', '-t', '1'];
      const local = await runCli(line);
      assert.equal(local.code, 0, describeCli(local));
      const remote = await runCli([...line, '--rpc', server.endpoint, '-ngl', 'max']);
      assert.equal(remote.code, 0, describeCli(remote));
      assert.equal(remote.stdout, local.stdout);
    } finally {
      server.child.kill('SIGTERM');
    }
    assert.equal(await exitOf(server.child), 0, server.stderr());
  });

  it('a non-loopback host prints llama.cpp\'s warning on stderr', async () => {
    const server = await startCliServer(['--host', '0.0.0.0', '--port', '0', '-t', '1']);
    server.child.kill('SIGINT');
    assert.equal(await exitOf(server.child), 0);
    assert.match(server.stderr(), /WARNING: Host \('0\.0\.0\.0'\) is != '127\.0\.0\.1'[\s\S]*Never expose the RPC server to an open network/);
  });

  it('IPv6: --host ::1 serves [::1]:PORT without the warning, and run --rpc [::1]:PORT equals a local run', async (t) => {
    if (!(await canListenOn('::1'))) {
      t.skip('this machine has no IPv6 loopback');
      return;
    }
    const model = await fixtureModel({ kind: 'llama', type: 'F32', layerCount: 4 });
    const server = await startCliServer(['--host', '::1', '--port', '0', '-t', '1']);
    try {
      assert.match(server.endpoint, /^\[::1\]:\d+$/);
      const line = ['run', '-m', model, '-n', '6', '--temp', '0', '-p', 'The quick brown fox', '-t', '1'];
      const local = await runCli(line);
      assert.equal(local.code, 0, describeCli(local));
      const remote = await runCli([...line, '--rpc', server.endpoint, '-ngl', 'max', '-v']);
      assert.equal(remote.code, 0, describeCli(remote));
      assert.equal(remote.stdout, local.stdout);
      assert.match(remote.stderr, /RPC0\[\[::1\]:\d+\]/, 'the layers went to the IPv6 server');
    } finally {
      server.child.kill('SIGTERM');
    }
    assert.equal(await exitOf(server.child), 0, server.stderr());
    assert.doesNotMatch(server.stderr(), /WARNING/, '::1 is loopback: no warning');
  });

  it('--rpc: a malformed endpoint is a usage error, an unreachable one ERR_RPC naming it', async () => {
    const model = await fixtureModel({ kind: 'llama', type: 'F32', layerCount: 4 });
    const bad = await runCli(['run', '-m', model, '-n', '1', '-p', 'x', '--rpc', 'nohost']);
    assert.equal(bad.code, 2, describeCli(bad));
    assert.match(bad.stderr, /rpcServers\[0\]/);
    const down = await runCli(['run', '-m', model, '-n', '1', '-p', 'x', '--rpc', '127.0.0.1:1']);
    assert.equal(down.code, 1, describeCli(down));
    assert.match(down.stderr, /ERR_RPC: .*127\.0\.0\.1:1/);
  });
});
