#!/usr/bin/env bash
# The reference workload on every engine this machine has, in turn, round after round, so that the
# ratios come from one run on one host (docs/benchmarks.md, "Comparing with another engine fairly").
# An engine that is not installed is skipped with one line saying how to install it:
#   esmm-ts      npm run build                                   (always)
#   PyTorch      apt-get install python3-torch libopenblas0-pthread
#   TF.js        cd interop/tfjs && npm ci
#   onnxruntime  npm ci --ignore-scripts --prefix interop/onnx   (inference only)
# Usage: scripts/engines.sh [ROUNDS] [THREADS...]   (default: 2 rounds, threads 1 2)
set -uo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2}"
shift || true
threads=("${@:-1}")
[ $# -eq 0 ] && threads=(1 2)
[ -f dist/cli/bin.js ] || npm run build >/dev/null
echo "engines on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, node $(node --version)"
have_torch=0; /usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1
have_tfjs=0; [ -d interop/tfjs/node_modules/@tensorflow/tfjs ] && have_tfjs=1
have_ort=0; [ -d interop/onnx/node_modules/onnxruntime-node ] && have_ort=1
[ $have_torch = 1 ] || echo "PyTorch: skipped (apt-get install python3-torch libopenblas0-pthread)"
[ $have_tfjs = 1 ] || echo "TF.js: skipped (cd interop/tfjs && npm ci)"
[ $have_ort = 1 ] || echo "onnxruntime: skipped (npm ci --ignore-scripts --prefix interop/onnx)"
tlist=$(IFS=,; echo "${threads[*]}")
for r in $(seq 1 "$rounds"); do
  echo "--- round $r"
  node dist/cli/bin.js bench --seconds 3 --rounds 1 --backend wasm --threads "$tlist" 2>/dev/null | grep -E "^  wasm +[0-9]+ thread"
  if [ $have_torch = 1 ]; then
    # OpenBLAS held to one thread: PyTorch's --threads are then the only ones (docs/benchmarks.md)
    for t in "${threads[@]}"; do OPENBLAS_NUM_THREADS=1 /usr/bin/python3 interop/pytorch/bench_reference.py --threads "$t" --steps 40 2>/dev/null | tail -1; done
  fi
  [ $have_tfjs = 1 ] && node interop/tfjs/bench_reference.mjs --backend wasm --steps 10 2>/dev/null | tail -1
  [ $have_ort = 1 ] && node interop/onnx/bench_reference.mjs --threads "$tlist" --rounds 1 2>/dev/null | grep "^round" | sed "s/^round 1: /inference, one process: /"
done
