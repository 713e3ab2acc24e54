/**
 * RPC endpoints (`host:port`) and the first message of llama.cpp's RPC protocol: pure policy,
 * no addon, so the option checks and the handshake codec are testable without a build.
 * @internal
 */
import { isIPv6 } from 'node:net';
import { INT32_MAX, integerOption, rangeError, typeError } from '../validate.js';

/** The protocol major version of the vendored RPC backend (`RPC_PROTO_MAJOR_VERSION`, ggml-rpc.h). */
export const RPC_PROTO_MAJOR = 6;
/** The newest minor version this client speaks: a server with a higher one is refused, as ggml does. */
export const RPC_PROTO_MINOR = 0;
/** llama.cpp's default RPC port (tools/rpc). */
export const DEFAULT_RPC_PORT = 50052;
/**
 * Default {@link LoadModelOptions.rpcTimeout}: how long one send or receive to an RPC server
 * may take before the server counts as failed (a graph computed remotely is waited for within
 * this time, so it must exceed the slowest step the server computes).
 */
export const DEFAULT_RPC_TIMEOUT_MS = 60_000;
/** ggml's limit on RPC servers (`GGML_RPC_MAX_SERVERS`). */
export const MAX_RPC_SERVERS = 16;

/** One parsed endpoint. */
export interface RpcEndpoint {
  /** A host name, an IPv4 address or an IPv6 address (without brackets). */
  readonly host: string;
  readonly port: number;
  /** `host:port` (`[v6]:port` for an IPv6 address), as llama.cpp spells it. */
  readonly text: string;
}

// A host name or an IPv4 address: what llama.cpp resolves with getaddrinfo (vendor/patches/0008).
const HOST = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;

/** `host:port` for an RPC endpoint: an IPv6 address in brackets, as URLs and vendor/patches/0008 spell it. */
export function formatRpcEndpoint(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses `host:port` or `[IPv6]:port` (port 1–65535); errors name `option`. */
export function parseRpcEndpoint(value: unknown, option: string): RpcEndpoint {
  const expected = 'an RPC endpoint "host:port" (a host name or IPv4 address, or an IPv6 address in brackets such as "[::1]:50052"; port 1-65535)';
  if (typeof value !== 'string') throw typeError(option, expected, value);
  const colon = value.lastIndexOf(':');
  const hostText = value.slice(0, colon);
  const portText = value.slice(colon + 1);
  const bracketed = /^\[(.+)\]$/.exec(hostText);
  const host = bracketed ? bracketed[1]! : hostText;
  const hostOk = bracketed ? isIPv6(host) : HOST.test(host);
  if (colon <= 0 || !hostOk || !/^[0-9]{1,5}$/.test(portText)) throw rangeError(option, expected, value);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw rangeError(option, expected, value);
  return { host, port, text: formatRpcEndpoint(host, port) };
}

/** `rpcServers`: an array of endpoints (or one comma-separated string, llama.cpp's `--rpc`). */
export function rpcServersOption(value: unknown, option = 'rpcServers'): RpcEndpoint[] {
  const expected = `an array of at most ${MAX_RPC_SERVERS} "host:port" endpoints ("[v6]:port" for IPv6)`;
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(list)) throw typeError(option, expected, value);
  if (list.length > MAX_RPC_SERVERS) throw rangeError(option, expected, `${list.length} endpoints`);
  const out = list.map((item: unknown, i) => parseRpcEndpoint(item, `${option}[${i}]`));
  const seen = new Set<string>();
  for (const e of out) {
    if (seen.has(e.text)) throw rangeError(option, `${expected}, each once`, value);
    seen.add(e.text);
  }
  return out;
}

/** `rpcTimeout` in milliseconds: an integer in [100, 2^31-1]. */
export function rpcTimeoutOption(value: unknown, option = 'rpcTimeout'): number {
  return integerOption(option, value, { min: 100, max: INT32_MAX });
}

const RPC_CMD_HELLO = 14;
const CAPS_SIZE = 24;
/** The reply's size: major, minor, patch, padding, then the transport capabilities. */
export const HELLO_REPLY_SIZE = 4 + CAPS_SIZE;

/** The HELLO request: command byte, 8-byte little-endian size, capabilities (none: plain TCP). */
export function helloRequest(): Buffer {
  const out = Buffer.alloc(1 + 8 + CAPS_SIZE);
  out.writeUInt8(RPC_CMD_HELLO, 0);
  out.writeBigUInt64LE(BigInt(CAPS_SIZE), 1);
  return out;
}

/** A server's protocol version from its HELLO reply; undefined while incomplete; throws on a malformed one. */
export function parseHelloReply(bytes: Buffer): { major: number; minor: number; patch: number } | undefined {
  if (bytes.length < 8) return undefined;
  const size = bytes.readBigUInt64LE(0);
  if (size !== BigInt(HELLO_REPLY_SIZE)) throw new Error(`a HELLO reply of ${size} bytes (expected ${HELLO_REPLY_SIZE}): not a llama.cpp RPC server of this protocol`);
  if (bytes.length < 8 + HELLO_REPLY_SIZE) return undefined;
  return { major: bytes.readUInt8(8), minor: bytes.readUInt8(9), patch: bytes.readUInt8(10) };
}

/**
 * Whether binding `host` exposes the server beyond this machine: llama.cpp warns for anything
 * but 127.0.0.1; the IPv6 loopback `::1` is this machine only as well.
 */
export function isExposedHost(host: string): boolean {
  return host !== '127.0.0.1' && host !== '::1';
}

/** The warning llama.cpp's rpc-server prints when it binds anything but 127.0.0.1 (tools/rpc). */
export function exposedServerWarning(host: string): string {
  return [
    '',
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    `WARNING: Host ('${host}') is != '127.0.0.1'`,
    '         Never expose the RPC server to an open network!',
    '         This is an experimental feature and is not secure!',
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    '',
  ].join('\n');
}
