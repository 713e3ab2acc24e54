#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine without network into .cache/gpu/
# (git-ignored): this machine's node binary, the vendored llama.cpp sources (no git history,
# docs or models but the SPM vocabulary) and node_modules (without TypeScript). ~35 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache/gpu
node_bin=$(command -v node)
tar -C "$(dirname "$(dirname "$node_bin")")" -cf - "bin/$(basename "$node_bin")" | xz -T0 -6 > .cache/gpu/node.tar.xz
tar -C vendor/llama.cpp --exclude=./.git --exclude=./docs --exclude=./media --exclude='./models/*' --exclude=./tools/ui \
  --exclude=./tests --exclude=./benches -cf - . | xz -T0 -6 > .cache/gpu/llama-src.tar.xz
tar -C vendor/llama.cpp -cf - models/ggml-vocab-llama-spm.gguf models/ggml-vocab-llama-spm.gguf.inp \
  models/ggml-vocab-llama-spm.gguf.out | xz -T0 > .cache/gpu/llama-models.tar.xz
tar --exclude=node_modules/typescript -cf - node_modules | xz -T0 -6 > .cache/gpu/node_modules.tar.xz
# cmake + ninja with their non-core libraries, relocatable (cmake finds its modules next to
# its own executable); a wrapper points the loader at the libraries.
stage=$(mktemp -d)
mkdir -p "$stage/cmake/bin" "$stage/cmake/lib" "$stage/cmake/share"
cp "$(command -v cmake)" "$stage/cmake/bin/cmake.real"
cp "$(command -v ninja)" "$stage/cmake/bin/ninja"
cp -r /usr/share/cmake-"$(cmake --version | head -1 | awk '{print $3}' | cut -d. -f1,2)" "$stage/cmake/share/"
for lib in $(ldd "$(command -v cmake)" | awk '{print $3}' | grep '^/'); do
  case $(basename "$lib") in libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|libresolv.so.*|libgcc_s.so.*|libstdc++.so.*) ;;
    *) cp -L "$lib" "$stage/cmake/lib/" ;;
  esac
done
printf '%s\n' '#!/bin/sh' 'here=$(dirname "$(readlink -f "$0")")' \
  'LD_LIBRARY_PATH="$here/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/cmake.real" "$@"' > "$stage/cmake/bin/cmake"
chmod +x "$stage/cmake/bin/cmake"
tar -C "$stage" -cf - cmake | xz -T0 -6 > .cache/gpu/cmake.tar.xz
rm -rf "$stage"
du -sh .cache/gpu
