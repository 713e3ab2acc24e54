// A local stand-in for the Hugging Face hub, for tests without the internet: two HTTP servers
// on 127.0.0.1, the hub itself (API, resolve URLs) and a storage host it redirects LFS
// downloads to, as huggingface.co redirects to its CDN. Headers as the real hub sends them
// (X-Repo-Commit, X-Linked-Etag, X-Linked-Size, ETag, Location, X-Error-Code), Range/206,
// and faults on demand: throttling per connection, a connection cut after N bytes, wrong
// bytes, transient 5xx/429, gated repositories. The storage host records any Authorization
// header it receives: a token must never reach it.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MockFile {
  path: string;
  content: Buffer;
  /** Stored with git-lfs (served through the storage host). Default: `.gguf` files. */
  lfs?: boolean;
}

export interface MockRepo {
  id: string;
  files: MockFile[];
  /** Downloads need `Authorization: Bearer <gatedToken>` (the listing stays public, as on the hub). */
  gatedToken?: string;
  /** An old name that redirects (relative Location) to this repository. */
  renamedFrom?: string;
}

export interface LoggedRequest {
  server: 'hub' | 'storage';
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
  userAgent: string | undefined;
  status: number;
  /** Body bytes sent (counted as written, so a cut shows how much got out). */
  bytes: number;
  /** When the request arrived and when its answer ended (ms since the epoch; 0 while running). */
  startedAt: number;
  endedAt: number;
}

interface StoredFile extends MockFile {
  lfs: boolean;
  sha256: string;
  gitSha1: string;
}

export function gitBlobSha1(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** A fault served to the next `count` matching requests. */
interface Fault {
  match: (server: 'hub' | 'storage', path: string) => boolean;
  count: number;
  kind: 'status' | 'cut' | 'corrupt';
  status?: number;
  headers?: Record<string, string>;
  cutAfter?: number;
}

export class MockHub {
  readonly requests: LoggedRequest[] = [];
  /** Authorization headers the storage host received (must stay empty). */
  readonly leakedAuthorization: string[] = [];
  /** Per-connection bandwidth in bytes/s for file bodies (0: unthrottled). */
  bytesPerSecond = 0;
  /** Answer 200 with the whole file to Range requests, like a server without range support. */
  ignoreRanges = false;
  private readonly repos = new Map<string, { repo: MockRepo; commit: string; files: Map<string, StoredFile> }>();
  private readonly faults: Fault[] = [];
  private hubServer!: Server;
  private storageServer!: Server;
  endpoint = '';
  storage = '';

  static async start(repos: MockRepo[] = []): Promise<MockHub> {
    const hub = new MockHub();
    for (const repo of repos) hub.addRepo(repo);
    hub.hubServer = createServer((req, res) => hub.handle('hub', req, res));
    hub.storageServer = createServer((req, res) => hub.handle('storage', req, res));
    hub.endpoint = await listen(hub.hubServer);
    hub.storage = await listen(hub.storageServer);
    return hub;
  }

  addRepo(repo: MockRepo): string {
    const commit = createHash('sha1').update(`commit:${repo.id}:${repo.files.map((f) => f.path + sha256(f.content)).join()}`).digest('hex');
    const files = new Map<string, StoredFile>();
    for (const file of repo.files) {
      files.set(file.path, { ...file, lfs: file.lfs ?? file.path.endsWith('.gguf'), sha256: sha256(file.content), gitSha1: gitBlobSha1(file.content) });
    }
    this.repos.set(repo.id, { repo, commit, files });
    return commit;
  }

  commitOf(repoId: string): string {
    return this.repos.get(repoId)!.commit;
  }

  /** The next `count` requests to `server` whose path contains `pathPart` answer `status`. */
  failNext(server: 'hub' | 'storage', pathPart: string, status: number, count = 1, headers: Record<string, string> = {}): void {
    this.faults.push({ match: (s, p) => s === server && p.includes(pathPart), count, kind: 'status', status, headers });
  }

  /** The next `count` downloads whose path contains `pathPart` are cut after `afterBytes` body bytes. */
  cutNext(server: 'hub' | 'storage', pathPart: string, afterBytes: number, count = 1): void {
    this.faults.push({ match: (s, p) => s === server && p.includes(pathPart), count, kind: 'cut', cutAfter: afterBytes });
  }

  /** The next `count` downloads whose path contains `pathPart` carry one flipped byte. */
  corruptNext(server: 'hub' | 'storage', pathPart: string, count = 1): void {
    this.faults.push({ match: (s, p) => s === server && p.includes(pathPart), count, kind: 'corrupt' });
  }

  /** Requests logged so far for which `filter` holds. */
  count(filter: (r: LoggedRequest) => boolean): number {
    return this.requests.filter(filter).length;
  }

  clearLog(): void {
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    for (const server of [this.hubServer, this.storageServer]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private takeFault(server: 'hub' | 'storage', path: string, method: string): Fault | undefined {
    // Faults in a body (a cut, wrong bytes) wait for a request that has one.
    const index = this.faults.findIndex((f) => f.count > 0 && f.match(server, path) && (f.kind === 'status' || method === 'GET'));
    if (index === -1) return undefined;
    const fault = this.faults[index]!;
    if (--fault.count === 0) this.faults.splice(index, 1);
    return fault;
  }

  private handle(server: 'hub' | 'storage', req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://mock');
    const entry: LoggedRequest = {
      server,
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      range: req.headers.range,
      authorization: req.headers.authorization,
      userAgent: req.headers['user-agent'],
      status: 0,
      bytes: 0,
      startedAt: Date.now(),
      endedAt: 0,
    };
    this.requests.push(entry);
    res.on('close', () => (entry.endedAt = Date.now()));
    const reply = (status: number, headers: Record<string, string> = {}, body = '') => {
      entry.status = status;
      res.writeHead(status, { 'Content-Length': Buffer.byteLength(body), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (server === 'storage' && req.headers.authorization !== undefined) {
      this.leakedAuthorization.push(req.headers.authorization);
      return reply(400, {}, 'Authorization header sent to the storage host');
    }
    const fault = this.takeFault(server, entry.path, entry.method);
    if (fault?.kind === 'status') return reply(fault.status!, fault.headers, `fault ${fault.status}`);
    if (server === 'storage') return this.serveStorage(url, req, res, entry, reply, fault);
    return this.serveHub(url, req, res, entry, reply, fault);
  }

  private serveHub(url: URL, req: IncomingMessage, res: ServerResponse, entry: LoggedRequest, reply: Reply, fault: Fault | undefined): void {
    const segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
    if (segments[0] === 'api' && segments[1] === 'models' && segments[4] === 'revision') {
      const found = this.repos.get(`${segments[2]}/${segments[3]}`);
      if (!found) return reply(404, { 'X-Error-Code': 'RepoNotFound' }, '{"error":"Repository not found"}');
      if (!this.knownRevision(found.commit, segments.slice(5).join('/'))) return reply(404, { 'X-Error-Code': 'RevisionNotFound' }, '{}');
      const siblings = [...found.files.keys()].map((rfilename) => ({ rfilename }));
      return reply(200, { 'Content-Type': 'application/json' }, JSON.stringify({ id: found.repo.id, sha: found.commit, siblings }));
    }
    const resolveAt = segments.indexOf('resolve');
    if (resolveAt !== 2 || segments.length < 5) return reply(404, {}, 'not found');
    const repoId = `${segments[0]}/${segments[1]}`;
    const revision = segments[3]!;
    const path = segments.slice(4).join('/');
    const renamed = [...this.repos.values()].find((r) => r.repo.renamedFrom === repoId);
    if (renamed) return reply(307, { Location: `/${renamed.repo.id}/resolve/${encodeURIComponent(revision)}/${path}` });
    const found = this.repos.get(repoId);
    if (!found) return reply(401, { 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Repository not found' }, 'Repository not found');
    const gated = found.repo.gatedToken;
    if (gated !== undefined && req.headers.authorization !== `Bearer ${gated}`) {
      return reply(401, { 'X-Error-Code': 'GatedRepo', 'X-Error-Message': 'Access to this model is restricted' }, 'gated');
    }
    if (!this.knownRevision(found.commit, revision)) return reply(404, { 'X-Error-Code': 'RevisionNotFound' });
    const file = found.files.get(path);
    if (!file) return reply(404, { 'X-Error-Code': 'EntryNotFound', 'X-Repo-Commit': found.commit }, 'Entry not found');
    const common = { 'X-Repo-Commit': found.commit };
    if (file.lfs) {
      return reply(302, {
        ...common,
        'X-Linked-Etag': `"${file.sha256}"`,
        'X-Linked-Size': String(file.content.length),
        ETag: `W/"${gitBlobSha1(Buffer.from(`lfs pointer ${file.sha256}`))}"`,
        Location: `${this.storage}/blobs/${file.sha256}?X-Amz-Signature=mock`,
      });
    }
    this.serveBytes(file.content, req, res, entry, { ...common, ETag: `"${file.gitSha1}"` }, fault);
  }

  private serveStorage(url: URL, req: IncomingMessage, res: ServerResponse, entry: LoggedRequest, reply: Reply, fault: Fault | undefined): void {
    const sha = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname)?.[1];
    const file = sha && [...this.repos.values()].flatMap((r) => [...r.files.values()]).find((f) => f.sha256 === sha);
    if (!file) return reply(404, {}, 'no such blob');
    this.serveBytes(file.content, req, res, entry, {}, fault);
  }

  private knownRevision(commit: string, revision: string): boolean {
    return revision === 'main' || revision === commit;
  }

  /** Sends `content` (or the asked range), throttled per connection, with the fault if any. */
  private serveBytes(content: Buffer, req: IncomingMessage, res: ServerResponse, entry: LoggedRequest, headers: Record<string, string>, fault: Fault | undefined): void {
    let start = 0;
    let end = content.length; // exclusive
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range && !this.ignoreRanges) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]) + 1, content.length) : content.length;
      if (start >= content.length) {
        entry.status = 416;
        res.writeHead(416, { 'Content-Range': `bytes */${content.length}` }).end();
        return;
      }
      status = 206;
      headers = { ...headers, 'Content-Range': `bytes ${start}-${end - 1}/${content.length}` };
    }
    entry.status = status;
    res.writeHead(status, { ...headers, 'Content-Length': String(end - start), 'Accept-Ranges': 'bytes' });
    if (req.method === 'HEAD') return void res.end();
    let body = content.subarray(start, end);
    if (fault?.kind === 'corrupt' && body.length > 0) {
      body = Buffer.from(body);
      body[Math.floor(body.length / 2)]! ^= 0xff;
    }
    const limit = fault?.kind === 'cut' ? Math.min(fault.cutAfter!, body.length) : body.length;
    void this.pump(body, limit, res, entry, fault?.kind === 'cut');
  }

  private async pump(body: Buffer, limit: number, res: ServerResponse, entry: LoggedRequest, cut: boolean): Promise<void> {
    const chunkSize = 64 * 1024;
    const began = Date.now();
    let sent = 0;
    while (sent < limit && !res.destroyed) {
      const piece = body.subarray(sent, Math.min(sent + chunkSize, limit));
      res.write(piece);
      sent += piece.length;
      entry.bytes = sent;
      if (this.bytesPerSecond > 0) {
        const due = began + (sent / this.bytesPerSecond) * 1000;
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      }
      if (res.writableNeedDrain && !res.destroyed) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done).off('close', done);
            resolve();
          };
          res.on('drain', done).on('close', done);
        });
      }
    }
    if (cut) {
      // Everything written goes out, then the connection closes before the body is complete:
      // the client sees exactly `limit` bytes and a premature end (deterministic, unlike a reset).
      res.socket?.end();
    } else res.end();
  }
}

type Reply = (status: number, headers?: Record<string, string>, body?: string) => void;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

/** Deterministic pseudo-random bytes: xorshift32 from a seed (the fixture is this function and its arguments). */
export function fixtureBytes(size: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, size);
}
