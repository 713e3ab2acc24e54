#!/usr/bin/env bash
# Compile check of the CUDA variant on a machine without a GPU: builds the addon with CUDA
# (nvcc + cuBLAS) into its own build folder, then checks what can be checked honestly without
# a device: the addon links cuBLAS and the CUDA runtime, loads in Node, reports the CUDA backend,
# lists no CUDA device without crashing, and still generates on the CPU.
#
#   bash scripts/cuda-compile-check.sh [path/to/nvidia_cublas-*.whl]
#
# Needs nvcc (found through NVCC, CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda*, /opt/cuda).
# cuBLAS comes from nvcc's toolkit when it has it, else from NVIDIA's cuBLAS wheel (the
# argument, CUBLAS_WHEEL, or found in /opt/pypi-more/files, PIP_FIND_LINKS, /opt/wheels and
# pip's caches); only its headers and libcublas/libcublasLt are unpacked, into .cache/cuda-wheel/.
# CUDA_ARCH: CMAKE_CUDA_ARCHITECTURES (default 90; a CMake list such as "86;90" works).
# CUDA_BUILD_DIR: build folder (default build-cuda). CUDA_JOBS: parallel jobs (default nproc).
# Exit codes: 0 all checks passed, 2 no nvcc, 3 no cuBLAS (prints how to provide one),
# 4 build failed, 5 a check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/cuda-toolkit-root.sh
REPO=$PWD
ARCH=${CUDA_ARCH:-90}
BUILD_DIR=${CUDA_BUILD_DIR:-build-cuda}
JOBS=${CUDA_JOBS:-$(nproc)}
WORK=$REPO/.cache/cuda-check
ROOT=$REPO/.cache/cuda-root
mkdir -p "$WORK"
t0=$(date +%s)
step() { echo "=== [$(($(date +%s) - t0))s] $*"; }

step "nvcc"
cands=("${NVCC:-}" "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" "${CUDA_PATH:+$CUDA_PATH/bin/nvcc}" "$(command -v nvcc || true)" \
  /usr/local/cuda/bin/nvcc $(ls -d /usr/local/cuda-*/bin/nvcc 2>/dev/null | sort -rV) /opt/cuda/bin/nvcc)
NVCC_REAL=$(cuda_real_nvcc "${cands[@]}") || {
  echo "no nvcc with its toolkit found (set NVCC=/path/to/cuda/bin/nvcc or CUDA_HOME)"
  exit 2
}
"$NVCC_REAL" --version | tail -2
CUDA_MAJOR=$("$NVCC_REAL" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p' | head -1)
TK=$(dirname "$(dirname "$NVCC_REAL")")
echo "nvcc: $NVCC_REAL (toolkit $TK, CUDA $CUDA_MAJOR)"

step "cuBLAS"
CUBLAS_H=$(ls "$TK"/include/cublas_v2.h "$TK"/targets/*/include/cublas_v2.h 2>/dev/null | head -1)
CUBLAS_SO=$(ls "$TK"/lib64/libcublas.so* "$TK"/lib/libcublas.so* "$TK"/targets/*/lib/libcublas.so* 2>/dev/null | head -1)
WHEEL=""
if [ -n "$CUBLAS_H" ] && [ -n "$CUBLAS_SO" ]; then
  echo "the toolkit has cuBLAS: $CUBLAS_H $CUBLAS_SO"
else
  WHEEL=${1:-${CUBLAS_WHEEL:-}}
  if [ -z "$WHEEL" ]; then
    dirs=(/opt/pypi-more/files ${PIP_FIND_LINKS:-} /opt/wheels ${PIP_CACHE_DIR:-} "$(pip cache dir 2>/dev/null || true)" "$HOME/.cache/pip")
    found=$(for d in "${dirs[@]}"; do [ -n "$d" ] && [ -d "$d" ] && find "$d" -name 'nvidia_cublas*.whl' 2>/dev/null; done | sort -u)
    echo "cuBLAS wheels found: ${found:-none}"
    # The wheel of nvcc's major version: nvidia_cublas-13.* (CUDA 13), nvidia_cublas_cu12-* (CUDA 12).
    WHEEL=$(echo "$found" | grep -E "/nvidia_cublas(_cu$CUDA_MAJOR-|-$CUDA_MAJOR\.)" | sort -V | tail -1)
  fi
  if [ -z "$WHEEL" ] || [ ! -f "$WHEEL" ]; then
    pkg=nvidia-cublas; [ "$CUDA_MAJOR" -lt 13 ] 2>/dev/null && pkg=nvidia-cublas-cu$CUDA_MAJOR
    why="no nvidia_cublas wheel for CUDA $CUDA_MAJOR was found"; [ -n "$WHEEL" ] && why="$WHEEL is not a file"
    echo "no cuBLAS for CUDA $CUDA_MAJOR: the toolkit at $TK has none, and $why."
    echo "Provide one of:"
    echo "  - the wheel: pip download --no-deps -d DIR '$pkg==$CUDA_MAJOR.*', then"
    echo "    bash scripts/cuda-compile-check.sh DIR/<wheel>.whl   (or CUBLAS_WHEEL=DIR/<wheel>.whl)"
    echo "  - the toolkit's own cuBLAS (e.g. NVIDIA's apt package libcublas-dev-$CUDA_MAJOR-<minor>)"
    exit 3
  fi
  echo "wheel: $WHEEL"
  dest=$REPO/.cache/cuda-wheel/$(basename "$WHEEL" .whl)
  if [ ! -f "$dest/.unpacked" ]; then
    rm -rf "$dest" && mkdir -p "$dest"
    s=$(date +%s)
    unzip -q -o "$WHEEL" '*/include/cublas*.h' '*/lib/libcublas.so*' '*/lib/libcublasLt.so*' -d "$dest" || {
      echo "could not unpack $WHEEL"; exit 3; }
    touch "$dest/.unpacked"
    echo "unpacked in $(($(date +%s) - s)) s"
  fi
  CUBLAS_H=$(find "$dest" -name cublas_v2.h | head -1)
  CUBLAS_SO=$(find "$dest" -name 'libcublas.so*' | head -1)
  if [ -z "$CUBLAS_H" ] || [ -z "$CUBLAS_SO" ]; then echo "$WHEEL holds no cublas_v2.h or libcublas.so*"; exit 3; fi
  du -sh "$dest"
fi

step "toolkit root $ROOT"
cuda_toolkit_root "$ROOT" "$NVCC_REAL" "$CUBLAS_H" "$CUBLAS_SO" || exit 2
ls "$ROOT/lib64" | grep -E '^lib(cublas|cublasLt|cudart)\.so' | tr '\n' ' '; echo
export LD_LIBRARY_PATH=$ROOT/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

step "build ($BUILD_DIR, CMAKE_CUDA_ARCHITECTURES=$ARCH, $JOBS jobs)"
# CMake cannot switch the CUDA compiler of an existing cache: drop the cache when it was
# configured for other architectures or another toolkit root, so these arguments apply.
cache=$BUILD_DIR/CMakeCache.txt
if [ -f "$cache" ] && { ! grep -qx "CMAKE_CUDA_ARCHITECTURES:[A-Z]*=$ARCH" "$cache" || ! grep -q "=$ROOT\$" "$cache"; }; then
  echo "reconfiguring: $cache was made with other CUDA settings"
  rm -f "$cache"
fi
export LLAMA_NAPI_BUILD_DIR=$BUILD_DIR LLAMA_NAPI_BACKEND=cuda
export LLAMA_NAPI_CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=$ARCH -DGGML_CUDA_NO_VMM=ON -DCUDAToolkit_ROOT=$ROOT -DCMAKE_CUDA_COMPILER=$ROOT/bin/nvcc"
echo "LLAMA_NAPI_BUILD_DIR=$LLAMA_NAPI_BUILD_DIR LLAMA_NAPI_BACKEND=cuda LLAMA_NAPI_CMAKE_ARGS=\"$LLAMA_NAPI_CMAKE_ARGS\" node scripts/build-native.mjs --parallel $JOBS"
b0=$(date +%s)
configured="" build_rc=1
# Every line with the seconds since the build started; the end of configure is noted.
while IFS= read -r line; do
  now=$(($(date +%s) - b0))
  case $line in __rc=*) build_rc=${line#__rc=}; continue ;; *"Build files have been written"*) configured=$now ;; esac
  printf '[%5ds] %s\n' "$now" "$line"
done < <(node scripts/build-native.mjs --parallel "$JOBS" 2>&1; echo "__rc=$?")
build_s=$(($(date +%s) - b0))
ADDON=$BUILD_DIR/Release/llama_napi.node
step "build finished in ${build_s} s (configure ${configured:-?} s), rc=$build_rc"
units=$(grep -c '^build [^:]*\.cu\.o:' "$BUILD_DIR/build.ninja" 2>/dev/null || echo "?")

fail=0
check() { # check NAME COMMAND...: runs it, prints PASS/FAIL
  if "${@:2}"; then echo "PASS $1"; else echo "FAIL $1"; fail=1; fi
}

step "checks"
if [ "$build_rc" != 0 ] || [ ! -f "$ADDON" ]; then
  echo "FAIL the build (rc=$build_rc) did not produce $ADDON"
  exit 4
fi
size=$(stat -c %s "$ADDON")
echo "addon: $ADDON, $size bytes ($(numfmt --to=iec "$size"))"
needed=$(readelf -d "$ADDON" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
echo "NEEDED: $needed"
check "needs libcublas" grep -q 'libcublas\.so' <<<"$needed"
if grep -q 'libcudart\.so' <<<"$needed"; then
  cudart="shared ($(grep -o 'libcudart\.so[.0-9]*' <<<"$needed"))"
elif nm "$ADDON" 2>/dev/null | grep -qE ' [Tt] cudaGetDeviceCount$'; then
  cudart="static (cudaGetDeviceCount defined inside the addon)"
else
  cudart="none found"
fi
echo "CUDA runtime: $cudart"
check "links the CUDA runtime" test "$cudart" != "none found"
check "does not need the driver library (GGML_CUDA_NO_VMM)" bash -c "! grep -q 'libcuda\.so' <<<'$needed'"
echo "ldd (LD_LIBRARY_PATH=$ROOT/lib64):"
ldd "$ADDON" | grep -E 'cuda|cublas|not found' | sed 's/^/  /'
check "every library resolves" bash -c "! ldd '$ADDON' | grep -q 'not found'"
check "cuBLAS resolves to the unpacked copy" bash -c "ldd '$ADDON' | grep -q 'libcublas\.so.* => $ROOT/lib64/'"

cat > "$WORK/probe.ts" <<'EOF'
// Loads the addon named by LLAMA_NAPI_ADDON through the library, as an application would.
import { getBuildInfo, listDevices, setLogger } from '../../lib/index.js';
const log: string[] = [];
setLogger((level, message) => log.push(`${level}: ${message.trim()}`), { level: 'warn' });
const info = getBuildInfo();
const devices = listDevices();
await new Promise((resolve) => setTimeout(resolve, 100)); // let queued log lines arrive
console.log(`llamaVersion: ${info.llamaVersion} (${info.llamaTag})`);
console.log(`systemInfo: ${info.systemInfo}`);
console.log(`gpuOffload: ${info.gpuOffload}`);
console.log(`devices: ${JSON.stringify(devices.map((d) => `${d.name} (${d.backend}, ${d.type})`))}`);
for (const line of log) console.log(`llama.cpp ${line}`);
const cuda = /(^|\| )CUDA : /.test(info.systemInfo);
const cudaDevices = devices.filter((d) => d.backend === 'CUDA');
console.log(`cuda backend compiled in: ${cuda}; CUDA devices: ${cudaDevices.length}`);
process.exitCode = cuda && cudaDevices.length === 0 && devices.some((d) => d.backend === 'CPU') ? 0 : 1;
EOF
step "load in Node (no GPU here)"
export LLAMA_NAPI_ADDON=$REPO/$ADDON
l0=$(date +%s%N)
node --import tsx "$WORK/probe.ts" 2>&1 | tee "$WORK/probe.txt"
probe_rc=${PIPESTATUS[0]}
load_ms=$((($(date +%s%N) - l0) / 1000000))
check "loads, reports the CUDA backend, lists no CUDA device and the CPU (${load_ms} ms)" test "$probe_rc" = 0

step "CPU generation with the CUDA addon (test/generate.test.ts)"
g0=$(date +%s)
node --import tsx --test test/generate.test.ts > "$WORK/generate.txt" 2>&1
gen_rc=$?
gen_s=$(($(date +%s) - g0))
grep -E '^# (tests|pass|fail|duration_ms)' "$WORK/generate.txt"
[ "$gen_rc" = 0 ] || tail -40 "$WORK/generate.txt"
check "test/generate.test.ts passes with the CUDA addon (${gen_s} s)" test "$gen_rc" = 0

step "summary"
echo "nvcc:          $("$NVCC_REAL" --version | sed -n 's/.*release \([0-9.]*\), \(V[0-9.]*\).*/\1 (\2)/p') at $TK"
echo "cuBLAS:        ${WHEEL:-toolkit} -> $(basename "$(readlink -f "$ROOT/lib64/libcublas.so")")"
echo "architectures: $ARCH; $units CUDA units; $JOBS jobs; $(nproc) cores"
echo "build:         ${build_s} s (configure ${configured:-?} s)"
echo "addon:         $ADDON $(numfmt --to=iec "$size") ($size bytes)"
echo "NEEDED:        $needed"
echo "CUDA runtime:  $cudart"
echo "load:          $(grep -E '^(systemInfo|devices):' "$WORK/probe.txt" | tr '\n' ' ')"
echo "generation:    test/generate.test.ts rc=$gen_rc in ${gen_s} s"
echo "total:         $(($(date +%s) - t0)) s"
[ "$fail" = 0 ] && echo "ALL CHECKS PASSED" || { echo "SOME CHECKS FAILED"; exit 5; }
