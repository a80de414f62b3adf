"""
Train the esmm-ts model in PyTorch with DistributedDataParallel, for data that outgrows one machine,
then serve the result with esmm-ts:

    esmm train --train sample.csv --model init/ --epochs 1          # fits vocabularies, writes model.json
    torchrun --nproc_per_node=2 interop/pytorch/train_ddp.py --model init/ --train big.csv --out trained/ --epochs 2
    esmm eval --model trained/ --data test.csv                       # serve it in esmm-ts

The CSV is read with the vocabularies (or hashing) saved in the esmm-ts checkpoint, exactly as
esmm-ts maps ids. Each rank reads every row and keeps its own share (rank, rank + world, ...).
Embeddings use dense gradients here (DDP all-reduces dense tensors), so the optimiser is plain Adam,
not esmm-ts's lazy row-wise Adam: the two differ for rows a batch does not touch.
Backend: gloo (CPU). Output: OUT/model.json and OUT/weights.safetensors, loadable by esmm-ts.

`--nproc N` starts N local ranks itself (torch.multiprocessing) instead of torchrun: Debian's
python3-torch 1.13 on Python 3.11 ships a torchrun that fails before starting any worker
("'NoneType' object has no attribute 'get'" in elastic/multiprocessing/api.py, to_map).
"""
import argparse
import csv
import json
import os
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

import esmm


def fnv1a(s: str) -> int:
    h = 0x811C9DC5
    for ch in s.encode("utf-16-le").decode("utf-16-le"):
        for unit in _utf16_units(ch):
            h ^= unit
            h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def _utf16_units(ch):
    code = ord(ch)
    if code < 0x10000:
        return [code]
    code -= 0x10000
    return [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]


class Mapper:
    def __init__(self, mapping):
        self.kind = mapping["kind"]
        if self.kind == "vocab":
            # format 4 may hold the tokens as one string, one per line ("tokenLines")
            tokens = mapping["tokens"] if "tokens" in mapping else mapping["tokenLines"].split("\n")
            self.index = {t: i + 1 for i, t in enumerate(tokens)}
        else:
            self.buckets = mapping["buckets"]

    def __call__(self, token: str) -> int:
        if self.kind == "vocab":
            return self.index.get(token, 0)
        return 1 + fnv1a(token) % self.buckets


def read_rows(path, pre, rank, world):
    schema = pre["schema"]
    maps = [Mapper(m) for m in pre["mappings"]]
    nsingle = len(schema["categorical"])
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for i, r in enumerate(reader):
            if i % world != rank:
                continue
            ids = [maps[k](r[c]) for k, c in enumerate(schema["categorical"])]
            bags = []
            for k, m in enumerate(schema["multi"]):
                cell = r[m["name"]].strip()
                toks, ws = [], []
                for part in cell.split(m.get("sep", "|")) if cell else []:
                    tok, _, w = part.rpartition(":") if ":" in part else (part, "", "1")
                    toks.append(maps[nsingle + k](tok))
                    ws.append(float(w))
                bags.append((toks, ws))
            dense = [float(r[c]) for c in schema["dense"]]
            rows.append((ids, bags, dense, float(r[schema["click"]]), float(r[schema["conversion"]])))
    return rows


def collate(rows):
    ids = torch.tensor([r[0] for r in rows], dtype=torch.long)
    bags = []
    for k in range(len(rows[0][1])):
        offsets, bid, bw = [0], [], []
        for r in rows:
            bid += r[1][k][0]
            bw += r[1][k][1]
            offsets.append(len(bid))
        bags.append((torch.tensor(offsets), torch.tensor(bid, dtype=torch.long), torch.tensor(bw, dtype=torch.float32)))
    dense = torch.tensor([r[2] for r in rows], dtype=torch.float32)
    return {"ids": ids, "bags": bags, "dense": dense}, torch.tensor([r[3] for r in rows]), torch.tensor([r[4] for r in rows])


# What an esmm-ts checkpoint directory holds; --out may be one of these, an empty directory, or new.
CHECKPOINT_FILES = {"model.json", "weights.safetensors", "optimizer.safetensors"}
# what a file manager leaves in any folder it shows: nobody's data
OS_METADATA = {".DS_Store", "Thumbs.db", "desktop.ini"}


def check_out(out):
    """Refuses an --out whose files are not all an esmm-ts checkpoint's, before any work: the weights
    would be written among someone else's files (the rule `esmm train --model` keeps)."""
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        sys.exit(f"train_ddp.py: --out {out} exists and is not a directory; refusing to write into it")
    names = set(os.listdir(out))
    if not names:
        return
    try:
        with open(os.path.join(out, "model.json"), encoding="utf-8") as f:
            ours = json.load(f).get("format") == "esmm-ts-checkpoint"
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        sys.exit(f"train_ddp.py: --out {out} exists and is not an esmm-ts checkpoint; refusing to write into it (choose another path)")
    foreign = sorted(names - CHECKPOINT_FILES - OS_METADATA)
    if foreign:
        sys.exit(f"train_ddp.py: --out {out} is an esmm-ts checkpoint that also holds {', '.join(foreign[:3])}; refusing to write into it (move them out, or choose another path)")


def main():
    a = parse_args()
    check_out(a.out)
    if a.nproc and "RANK" not in os.environ:
        import torch.multiprocessing as mp

        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
        os.environ["WORLD_SIZE"] = str(a.nproc)
        mp.spawn(_rank_main, args=(a,), nprocs=a.nproc, join=True)
    else:
        run(a)


def _rank_main(rank, a):
    os.environ["RANK"] = str(rank)
    os.environ["LOCAL_RANK"] = str(rank)
    run(a)


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="esmm-ts checkpoint directory (config + vocabularies)")
    ap.add_argument("--train", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1024, help="global batch size (split across ranks)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nproc", type=int, default=0, help="start this many local ranks without torchrun")
    return ap.parse_args()


def run(a):
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    with open(os.path.join(a.model, "model.json"), encoding="utf-8") as f:
        mj = json.load(f)
    cfg, pre = esmm.load_config(a.model), mj["preprocessor"]
    mj["config"] = cfg  # written back in format 3 (bottom and objective, no variant)
    model = esmm.Esmm(cfg)
    model.load_state_dict(esmm.read_safetensors(os.path.join(a.model, "weights.safetensors")))
    ddp = DDP(model)
    opt = torch.optim.Adam(ddp.parameters(), lr=a.lr)
    rows = read_rows(a.train, pre, rank, world)
    per_rank = max(1, a.batch // world)
    g = torch.Generator().manual_seed(a.seed + rank)
    # every rank must run the same number of steps
    n = torch.tensor([len(rows)])
    dist.all_reduce(n, op=dist.ReduceOp.MIN)
    steps = int(n.item()) // per_rank
    for epoch in range(a.epochs):
        order = torch.randperm(len(rows), generator=g).tolist()
        total = 0.0
        for s in range(steps):
            batch, click, conv = collate([rows[i] for i in order[s * per_rank:(s + 1) * per_rank]])
            out = ddp(batch)
            loss, _ = model.loss(out, click, conv)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss)
        if rank == 0:
            print(f"epoch {epoch + 1}: mean loss {total / max(steps, 1):.4f} over {steps} steps x {world} ranks")
    if rank == 0:
        os.makedirs(a.out, exist_ok=True)
        mj.setdefault("training", {})
        mj["training"] = {**mj["training"], "trainedWith": f"PyTorch {torch.__version__} DDP x{world}", "epochsDone": a.epochs}
        weights = os.path.join(a.out, "weights.safetensors")
        # written beside, then renamed over: a crash leaves the old weights whole, never half of the new
        esmm.write_safetensors(weights + ".tmp", dict(model.named_parameters()), {"format": "pt", "producer": "train_ddp.py"})
        os.replace(weights + ".tmp", weights)
        # no optimizer.safetensors: its Adam state is PyTorch's, not esmm-ts's
        stale = os.path.join(a.out, "optimizer.safetensors")
        if os.path.exists(stale):
            os.remove(stale)
        mj["formatVersion"] = max(3, mj["formatVersion"])  # the config is format 3's; the preprocessor as it was read
        mj["checksums"] = esmm.checksums(mj, {"weights.safetensors": weights})
        tmp = os.path.join(a.out, "model.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(mj, f, indent=2, ensure_ascii=False)
        os.replace(tmp, os.path.join(a.out, "model.json"))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
