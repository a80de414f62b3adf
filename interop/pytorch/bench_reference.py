"""
The benchmark's reference workload in PyTorch on CPU, for a side-by-side figure with `npm run bench`:
esmm-mmoe, F = 24 fields, D = 16, experts 384 -> 256 -> 128, gates 384 -> 2, towers 128 -> 64 -> 1,
batch 1024; sparse embeddings with SparseAdam, Adam for the dense weights (esmm-ts's lazy Adam split).

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 interop/pytorch/bench_reference.py [--threads 1] [--vocab 10000] [--steps 30]

--threads is PyTorch's own thread count; keep OpenBLAS (apt-get install libopenblas0-pthread) on one
thread, as above, or its threads and PyTorch's contend for the cores (two threads ran 2.5-3x slower
than one that way on 2 vCPUs, docs/results.md 2026-12-07).
"""
import argparse
import time

import torch

import esmm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=30)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    f, b = 24, 1024
    cfg = {
        "preset": "esmm-mmoe",
        "fields": [{"name": f"f{i}", "vocab": a.vocab, "kind": "single"} for i in range(f)],
        "dense": [], "denseMean": [], "denseStd": [], "dim": 16,
        "experts": {"count": 2, "hidden": [256, 128]}, "towers": {"hidden": [64]},
    }
    model = esmm.Esmm(cfg, sparse=True)
    sparse = [p for n, p in model.named_parameters() if n.startswith("embeddings.")]
    dense = [p for n, p in model.named_parameters() if not n.startswith("embeddings.")]
    opts = [torch.optim.SparseAdam(sparse, lr=1e-3), torch.optim.Adam(dense, lr=1e-3)]
    # Zipf-like ids, about 5% clicks and 12% conversions after a click (as bench/workload.ts)
    u = torch.rand(8, b, f)
    ids = torch.clamp((a.vocab ** u).long() - 1, 0, a.vocab - 1)
    click = (torch.rand(8, b) < 0.05).float()
    conv = click * (torch.rand(8, b) < 0.12).float()

    def step(i):
        out = model({"ids": ids[i % 8], "bags": [], "dense": None})
        loss, _ = model.loss(out, click[i % 8], conv[i % 8])
        for o in opts:
            o.zero_grad()
        loss.backward()
        for o in opts:
            o.step()

    for i in range(3):
        step(i)
    t = time.perf_counter()
    for i in range(a.steps):
        step(i)
    train = a.steps * b / (time.perf_counter() - t)
    with torch.no_grad():
        t = time.perf_counter()
        for i in range(a.steps):
            model({"ids": ids[i % 8], "bags": [], "dense": None})
        infer = a.steps * b / (time.perf_counter() - t)
    print(f"PyTorch {torch.__version__}, {a.threads} thread(s), V = {a.vocab}: train {train:.0f} samples/s, inference {infer:.0f} samples/s")


if __name__ == "__main__":
    main()
