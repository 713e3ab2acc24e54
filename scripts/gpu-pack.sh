#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine without network into .cache/gpu/
# (git-ignored): this machine's node binary, the vendored llama.cpp sources (no git history,
# docs or models but the SPM vocabulary) and node_modules (without TypeScript). ~35 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache/gpu
node_bin=$(command -v node)
tar -C "$(dirname "$(dirname "$node_bin")")" -cf - "bin/$(basename "$node_bin")" | xz -T0 -6 > .cache/gpu/node.tar.xz
tar -C vendor/llama.cpp --exclude=.git --exclude=docs --exclude=media --exclude='models/*' --exclude=tools/ui \
  --exclude=tests --exclude=benches -cf - . | xz -T0 -6 > .cache/gpu/llama-src.tar.xz
tar -C vendor/llama.cpp -cf - models/ggml-vocab-llama-spm.gguf models/ggml-vocab-llama-spm.gguf.inp \
  models/ggml-vocab-llama-spm.gguf.out | xz -T0 > .cache/gpu/llama-models.tar.xz
tar --exclude=node_modules/typescript -cf - node_modules | xz -T0 -6 > .cache/gpu/node_modules.tar.xz
du -sh .cache/gpu
