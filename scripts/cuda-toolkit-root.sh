# Sourced by scripts/gpu-check.sh and scripts/cuda-compile-check.sh (not run on its own).
# CMake's FindCUDAToolkit wants one toolkit root with nvcc, the headers and the libraries;
# pip wheels (cuBLAS, the runtime) keep each library in its own folder and ship only
# versioned .so names. These helpers merge nvcc's own toolkit with the pieces found
# elsewhere into one root made of symbolic links.

# cuda_real_nvcc CANDIDATE...: prints the first candidate that is the toolkit's own nvcc
# (its folder holds nvcc.profile, following symbolic links). A wrapper script elsewhere on
# PATH would hide the toolkit's root, so it is skipped. Returns 1 when none is.
cuda_real_nvcc() {
  local candidate real
  for candidate in "$@"; do
    [ -n "$candidate" ] && [ -e "$candidate" ] || continue
    real=$(readlink -f "$candidate")
    if [ -e "$(dirname "$real")/nvcc.profile" ]; then echo "$real"; return 0; fi
  done
  return 1
}

# cuda_toolkit_root ROOT NVCC CUBLAS_H CUBLAS_SO [CUDART_SO] [RUNTIME_H]
# (Re)creates ROOT: nvcc's toolkit (bin, nvvm, include, lib64) plus the folders holding
# cublas_v2.h, libcublas.so*, libcudart.so* and cuda_runtime_api.h (empty: nvcc's own).
# The toolkit's own files win over same-named files elsewhere. Adds unversioned
# libcublas.so, libcublasLt.so and libcudart.so names where only versioned ones exist.
# Configure with -DCUDAToolkit_ROOT=ROOT -DCMAKE_CUDA_COMPILER=ROOT/bin/nvcc.
cuda_toolkit_root() {
  local root=$1 nvcc=$2 cublas_h=$3 cublas_so=$4 cudart_so=${5:-} runtime_h=${6:-}
  local tk dir f name v target
  if [ -z "$root" ] || [ -z "$nvcc" ]; then echo "cuda_toolkit_root: ROOT and NVCC are required" >&2; return 1; fi
  tk=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
  rm -rf "$root" && mkdir -p "$root/include" "$root/lib64" || return 1
  ln -s "$tk/bin" "$root/bin"
  [ -d "$tk/nvvm" ] && ln -s "$tk/nvvm" "$root/nvvm"
  local includes=("$tk/include" "$tk"/targets/*/include) libs=("$tk/lib64" "$tk/lib" "$tk"/targets/*/lib)
  [ -n "$cublas_h" ] && includes+=("$(dirname "$cublas_h")")
  [ -n "$runtime_h" ] && includes+=("$(dirname "$runtime_h")")
  [ -n "$cublas_so" ] && libs+=("$(dirname "$cublas_so")")
  [ -n "$cudart_so" ] && libs+=("$(dirname "$cudart_so")")
  for dir in "${includes[@]}"; do
    [ -d "$dir" ] || continue
    for f in "$dir"/*; do [ -e "$root/include/$(basename "$f")" ] || ln -s "$f" "$root/include/"; done
  done
  for dir in "${libs[@]}"; do
    [ -d "$dir" ] || continue
    for f in "$dir"/*; do [ -e "$root/lib64/$(basename "$f")" ] || ln -s "$f" "$root/lib64/"; done
  done
  for name in cublas cublasLt cudart; do
    if [ ! -e "$root/lib64/lib$name.so" ]; then
      v=$(ls "$root/lib64/lib$name.so."* 2>/dev/null | head -1)
      [ -n "$v" ] && ln -s "$v" "$root/lib64/lib$name.so"
    fi
  done
  # nvcc derives its include and library folders from where it was invoked (TOP/targets/<arch>/…).
  target="$root/targets/$(uname -m)-linux"
  mkdir -p "$target"
  ln -s "$root/lib64" "$target/lib"
  ln -s "$root/include" "$target/include"
}
