"""
Regenerates test/fixtures/pytorch-<variant>.json: golden values from the PyTorch twin (esmm.py), in
float64, that test/parity.test.ts checks esmm-ts against (no Python needed to run that test).

    /usr/bin/python3 interop/pytorch/make_fixtures.py       # Debian's python3-torch serves

Each fixture holds the config, float32 weights (so both engines start from identical values), a batch
(single-valued ids, a multi-valued bag, dense features, labels), the outputs, the loss, every
parameter's gradient, and the weights after two Adam steps on that batch. The batch touches every
embedding row, so PyTorch's dense Adam and esmm-ts's lazy row-wise Adam must agree.
"""
import json
import os

import torch

import esmm

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "test", "fixtures")


def config(preset):
    return {
        "preset": preset,
        "fields": [
            {"name": "user", "vocab": 6, "kind": "single", "pooling": "mean"},
            {"name": "item", "vocab": 5, "kind": "single", "pooling": "mean"},
            {"name": "tags", "vocab": 4, "kind": "multi", "pooling": "mean"},
            {"name": "cats", "vocab": 3, "kind": "multi", "pooling": "sum"},
        ],
        "dense": ["d0", "d1"],
        "denseMean": [0.5, -1.0],
        "denseStd": [2.0, 0.5],
        "dim": 4,
        "experts": {"count": 2, "hidden": [8, 6]},
        "towers": {"hidden": [5]},
        "embeddingInit": {"kind": "normal", "std": 1},
        "seed": 1,
    }


def batch():
    ids = [[0, 4], [1, 3], [2, 2], [3, 1], [4, 0], [5, 4], [0, 1], [3, 3]]
    tags_off = [0, 2, 2, 5, 6, 7, 9, 10, 12]
    tags_ids = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]
    tags_w = [1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0, 1.0, 0.25, 1.0, 2.0, 1.0]
    cats_off = [0, 1, 2, 3, 3, 4, 5, 6, 8]
    cats_ids = [0, 1, 2, 0, 1, 2, 1, 0]
    dense = [[0.1, -1.0], [2.0, 0.5], [-1.5, -2.0], [0.0, 0.0], [3.0, -0.5], [1.0, 1.0], [-0.5, -1.5], [0.7, 0.3]]
    click = [1, 0, 1, 1, 0, 0, 1, 0]
    conversion = [1, 0, 0, 1, 0, 0, 0, 0]
    return dict(ids=ids, bags=[dict(offsets=tags_off, ids=tags_ids, weights=tags_w), dict(offsets=cats_off, ids=cats_ids, weights=None)],
                dense=dense, click=click, conversion=conversion)


def torch_batch(b):
    return {
        "ids": torch.tensor(b["ids"], dtype=torch.long),
        "bags": [(torch.tensor(g["offsets"]), torch.tensor(g["ids"]), None if g["weights"] is None else torch.tensor(g["weights"], dtype=torch.float64)) for g in b["bags"]],
        "dense": torch.tensor(b["dense"], dtype=torch.float64),
    }


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


# the counterfactual options each ESCM2 fixture exercises: a clip that binds for some rows, and the
# self-normalised weights
COUNTERFACTUAL = {"escm2-ips": {"clip": 0.45, "normalize": False}, "escm2-dr": {"clip": 0.05, "normalize": True}}


# the fixtures whose CVR tower differs from their CTR tower ([5])
CVR_TOWER = {"esmm-mmoe": [7, 3], "escm2-dr": [7]}


def make(variant, seed):
    torch.manual_seed(seed)
    cfg = config(variant.replace("-shared-experts", "").replace("-cgc", ""))
    if variant.endswith("-shared-experts"):  # plain MMoE: every task trains every expert
        cfg["experts"]["share"] = "all"
    if variant.endswith("-cgc"):  # experts 0, 1 owned by ctr, cvr; expert 2 shared
        cfg["experts"].update(share="cgc", count=3)
    if variant in COUNTERFACTUAL:
        cfg["counterfactual"] = COUNTERFACTUAL[variant]
    if variant in CVR_TOWER:  # a CVR tower of its own sizes (format 5); escm2-dr's imputation tower stays the CTR tower's
        cfg["towers"]["cvr"] = CVR_TOWER[variant]
    model = esmm.Esmm(cfg)
    # float32 weights first, so that both engines start from exactly the same values; then float64.
    weights = {n: p.detach().to(torch.float32).clone() for n, p in model.named_parameters()}
    model = model.double()
    model.dense_mean = model.dense_mean.double()
    model.dense_std = model.dense_std.double()
    b = batch()
    tb = torch_batch(b)
    click = torch.tensor(b["click"], dtype=torch.float64)
    conv = torch.tensor(b["conversion"], dtype=torch.float64)
    out = model(tb)
    total, terms = model.loss(out, click, conv)
    total.backward()
    grads = {n: flat(p.grad) for n, p in model.named_parameters()}
    outputs = {k: flat(out[k]) for k in ("ctr_logit", "cvr_logit", "p_ctr", "p_cvr", "p_ctcvr")}
    if "imp_logit" in out:
        outputs["imp_logit"] = flat(out["imp_logit"])
    if "gates" in out:
        outputs["gates_ctr"] = flat(out["gates"]["ctr"])
        outputs["gates_cvr"] = flat(out["gates"]["cvr"])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.zero_grad()
    for _ in range(2):
        opt.zero_grad()
        o = model(tb)
        model.loss(o, click, conv)[0].backward()
        opt.step()
    after = {n: flat(p) for n, p in model.named_parameters()}
    return {
        "generatedBy": "interop/pytorch/make_fixtures.py (torch %s, float64)" % torch.__version__,
        "config": cfg,
        "weights": {n: {"shape": list(w.shape), "data": flat(w)} for n, w in weights.items()},
        "batch": b,
        "outputs": outputs,
        "loss": {"total": float(total), **{k: float(v) for k, v in terms.items()}},
        "grads": grads,
        "adam": {"lr": 0.01, "steps": 2, "weights": after},
    }


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    # one fixture per preset: every bottom and every objective is covered
    for i, variant in enumerate(["esmm-mmoe", "esmm", "base", "base-shared", "escm2-ips", "escm2-dr", "esmm-mmoe-shared-experts", "esmm-mmoe-cgc"]):
        path = os.path.join(OUT, f"pytorch-{variant}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(make(variant, 100 + i), f)
            f.write("\n")
        print("wrote", path)
