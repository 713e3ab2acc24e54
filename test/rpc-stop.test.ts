/**
 * Stopping an RPC server (startRpcServer's stop(), vendor/patches/0004 and 0009) in every state
 * its thread can be in: waiting for a client, holding an idle client, and in the middle of a
 * client's message. Each must end the server's thread, close the client's connection and free
 * the port, within a bound (a hang fails the test instead of stalling the suite). The server's
 * sockets wait for data in 100 ms slices (0009), the path that lets Windows stop at all; the
 * 'flag only' runs take the sockets' shutdown away, so that path alone must stop the server.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { helloRequest, HELLO_REPLY_SIZE } from '../lib/rpc/endpoint.js';
import { startRpcServer, type RpcServer } from '../lib/rpc/server.js';

/** A stop that hangs fails here, after `ms`, instead of stalling the run. */
async function stopWithin(server: RpcServer, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`stop() did not resolve within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([server.stop(), hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** Connects to `port` and resolves once connected; `closed` resolves when the server closes it. */
async function client(port: number): Promise<{ socket: Socket; closed: Promise<void>; received: () => Buffer }> {
  const socket = connect({ host: '127.0.0.1', port });
  let data = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (data = Buffer.concat([data, chunk])));
  socket.on('error', () => {}); // a reset on close is expected
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, closed, received: () => data };
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The port is free again: a new server listens on it, and stops. */
async function portIsFree(port: number): Promise<void> {
  const again = await startRpcServer({ port, threads: 1 });
  assert.equal(again.port, port);
  await stopWithin(again, 5_000);
}

// 'shutdown': stop() shuts the sockets down, which wakes the server's thread on Linux and macOS.
// 'flag only': LLAMA_NAPI_RPC_STOP_FLAG_ONLY makes stop() only mark the sockets, which is all that
// Windows' shutdown() amounts to for a blocked call: the server's 100 ms polling must end it alone.
for (const mode of ['shutdown', 'flag only'] as const) {
  describe(`stopping an RPC server (${mode})`, () => {
    beforeEach(() => {
      if (mode === 'flag only') process.env.LLAMA_NAPI_RPC_STOP_FLAG_ONLY = '1';
    });
    afterEach(() => {
      delete process.env.LLAMA_NAPI_RPC_STOP_FLAG_ONLY;
    });

    it('while it waits for a client', async () => {
      const server = await startRpcServer({ port: 0, threads: 1 });
      await stopWithin(server, 5_000);
      await stopWithin(server, 1_000); // idempotent
      await portIsFree(server.port);
    });

    it('while a client that said HELLO sits idle: its connection closes', async () => {
      const server = await startRpcServer({ port: 0, threads: 1 });
      const c = await client(server.port);
      c.socket.write(helloRequest());
      await until(() => c.received().length >= 8 + HELLO_REPLY_SIZE, 'the HELLO reply');
      await stopWithin(server, 5_000);
      await c.closed;
      await portIsFree(server.port);
    });

    it('while a client is halfway through a message', async () => {
      const server = await startRpcServer({ port: 0, threads: 1 });
      const c = await client(server.port);
      // The command byte and half of the 8-byte size: the server's thread waits for the rest.
      c.socket.write(helloRequest().subarray(0, 5));
      await new Promise((resolve) => setTimeout(resolve, 200));
      await stopWithin(server, 5_000);
      await c.closed;
      await portIsFree(server.port);
    });
  });
}
