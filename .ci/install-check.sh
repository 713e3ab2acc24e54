#!/usr/bin/env bash
# Both install paths of the packed package, the way a user meets them (.ci/run calls this after
# the build and the tests):
# 1. Prebuild: `npm run prebuild` (prebuildify through our CMake build), `npm pack`, then
#    `npm install <tarball>` in a fresh folder with cc, c++, cmake and nvcc hidden from PATH.
#    No build may run, the install must take under 30 s, and generation must work from ES
#    modules, CommonJS and the CLI.
# 2. Source: the same tarball with LLAMA_NAPI_BUILD=source LLAMA_NAPI_BACKEND=vulkan. It
#    fetches llama.cpp from the npm registry and builds with Vulkan; the GPU offload tests then
#    run on that build (Mesa's lavapipe), and its Vulkan backend, packed as the optional
#    package @llama-napi/vulkan-linux-x64, is installed next to the prebuild of (1) and used.
# `.ci/install-check.sh prebuild` stops after (1).
set -euo pipefail
only=${1:-all}
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { echo "[install-check] $*"; }

npm run prebuild
say "prebuild folder: $(du -sk prebuilds/linux-x64 | cut -f1) KiB: $(ls prebuilds/linux-x64 | tr '\n' ' ')"
tarball="$work/$(npm pack --pack-destination "$work" --json | node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(0,'utf8'))[0].filename)")"
say "packed: $(basename "$tarball"), $(( $(stat -c %s "$tarball") / 1024 )) KiB"
node --import tsx test/install/make-model.ts "$work/model.gguf"

# A PATH with everything but the toolchain.
nobin="$work/no-toolchain-bin"
mkdir "$nobin"
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  for f in "$dir"/*; do
    name=$(basename "$f")
    case "$name" in
      cc | c++ | gcc | g++ | cpp | clang | clang++ | cmake | nvcc | ninja | make | gcc-* | g++-* | cpp-* | *-gcc | *-g++ | *-gcc-* | *-g++-* | *-cc) continue ;;
    esac
    [ -e "$nobin/$name" ] || ln -s "$f" "$nobin/$name"
  done
done
for tool in cc c++ cmake nvcc gcc g++; do
  if PATH="$nobin" command -v "$tool" >/dev/null; then say "error: $tool is still on the PATH"; exit 1; fi
done

say "1. prebuild install without a toolchain"
app="$work/app-prebuild"
mkdir "$app" && cd "$app" && npm init -y >/dev/null
cp "$repo"/test/install/smoke.* .
start=$(date +%s%N)
PATH="$nobin" npm install --no-audit --no-fund "$tarball"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
say "install took ${elapsed_ms} ms; installed: llama-napi $(du -sk node_modules/llama-napi | cut -f1) KiB, node_modules $(du -sk node_modules | cut -f1) KiB ($(ls node_modules | wc -l) entries)"
[ "$elapsed_ms" -lt 30000 ] || { say "error: the install took ${elapsed_ms} ms (limit 30 s)"; exit 1; }
for built in build vendor/llama.cpp .build-tools; do
  [ ! -e "node_modules/llama-napi/$built" ] || { say "error: the prebuild install built something: $built exists"; exit 1; }
done
# The prebuild brings its own OpenMP runtime: the loader resolves libgomp inside the package.
prebuilt="$app/node_modules/llama-napi/prebuilds/linux-x64"
ldd "$prebuilt/libllama-napi-ggml-base.so" | grep -q "libgomp.so.1 => $prebuilt/libgomp.so.1" ||
  { say "error: libgomp does not resolve inside the prebuild"; ldd "$prebuilt/libllama-napi-ggml-base.so"; exit 1; }
# llama.cpp's RPC backend is in every prebuild (smoke.mjs checks that it loads).
[ -f "$prebuilt/libggml-rpc.so" ] || { say "error: the prebuild lacks libggml-rpc.so"; exit 1; }
PATH="$nobin" node smoke.mjs "$work/model.gguf" prebuild
PATH="$nobin" node smoke.cjs "$work/model.gguf" prebuild
PATH="$nobin" npx --no-install llama-napi
[ "$only" != prebuild ] || exit 0

say "2. source install with the Vulkan backend"
src="$work/app-source"
mkdir "$src" && cd "$src" && npm init -y >/dev/null
cp "$repo"/test/install/smoke.* .
start=$(date +%s)
# A user's source build: the CPU backend for this machine (native + the best named variant on
# x86-64 Linux), whatever CI chose for the prebuild.
env -u LLAMA_NAPI_CPU_VARIANTS LLAMA_NAPI_BUILD=source LLAMA_NAPI_BACKEND=vulkan \
  npm install --no-audit --no-fund --foreground-scripts "$tarball"
say "source install took $(( $(date +%s) - start )) s"
release="$src/node_modules/llama-napi/build/Release"
GGML_VK_VISIBLE_DEVICES=0 node smoke.mjs "$work/model.gguf" source Vulkan
(cd "$repo" && LLAMA_NAPI_ADDON="$release/llama_napi.node" GGML_VK_VISIBLE_DEVICES=0 LLAMA_NAPI_EXPECT_GPU=1 \
  node --import tsx --test test/gpu-offload.test.ts)

say "3. the Vulkan backend as an optional package, beside the prebuild"
package=$(node "$repo/scripts/backend-package.mjs" vulkan "$release/libggml-vulkan.so" "$work/packages")
vulkan_tarball="$work/$(cd "$work" && npm pack "$package" --json | node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(0,'utf8'))[0].filename)")"
say "packed: $(basename "$vulkan_tarball"), $(( $(stat -c %s "$vulkan_tarball") / 1024 )) KiB"
cd "$app"
PATH="$nobin" npm install --no-audit --no-fund "$vulkan_tarball"
GGML_VK_VISIBLE_DEVICES=0 PATH="$nobin" node smoke.mjs "$work/model.gguf" prebuild Vulkan
say "all install paths passed"
