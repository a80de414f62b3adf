"""
ESMM in PyTorch, twin of esmm-ts: the same bottoms and objectives, the same parameter names and shapes, and a
safetensors reader / writer (written from the format's specification, no extra package), so that a
model trained in one engine is served by the other.

    import esmm
    cfg = esmm.load_config("model/")                  # an esmm-ts checkpoint directory
    model = esmm.Esmm(cfg)
    model.load_state_dict(esmm.read_safetensors("model/weights.safetensors"))
    out = model(batch)                                  # dict: ctr_logit, cvr_logit, p_ctr, p_cvr, p_ctcvr, gates

The forward pass follows src/esmm/model.ts exactly:
  x = [single-valued field embeddings (config order) | pooled bags (config order) | standardised dense]
  bottom mmoe: experts (ReLU after every layer), softmax gates per task, towers (ReLU between layers)
  bottom shared: one MLP per task straight from x; separate: the same, the CVR net on its own tables
  (cvrEmbeddings.*); escm2-dr adds towers.imp beside the CVR tower. The CVR tower has the sizes of
  towers.cvr (format 5; before, and wherever it is absent, those of towers.hidden), the CTR and
  imputation towers those of towers.hidden. experts.share "owned"/"cgc" detach
  the experts a task does not own, as esmm-ts does; experts.dropout (training only) is not mirrored.
The loss follows Esmm.loss and src/esmm/objectives.ts (each formula is written there): entire-space
BCE(pCTR, click) + BCE(pCTCVR, click*conversion) from the logits in log space; clicked: a clicked-only
CVR BCE; escm2-ips / escm2-dr: entire-space plus the counterfactual CVR risk, pCTR detached.
"""
import json
import struct
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------------
# safetensors: [u64 little-endian header length][JSON header][raw little-endian data]
# ---------------------------------------------------------------------------------------------------

def read_safetensors(path: str) -> Dict[str, torch.Tensor]:
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: truncated")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise ValueError(f"{path}: {name} has dtype {e['dtype']}, only F32 is supported")
        b, en = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:en]), dtype=torch.float32) if en > b else torch.zeros(0)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def write_safetensors(path: str, tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None) -> None:
    names = sorted(tensors)
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    offset = 0
    for name in names:
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        b = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    import os

    os.replace(tmp, path)


def load_config(checkpoint_dir: str) -> dict:
    with open(f"{checkpoint_dir}/model.json", "r", encoding="utf-8") as f:
        j = json.load(f)
    if j.get("format") != "esmm-ts-checkpoint" or j.get("formatVersion") not in (1, 2, 3, 4, 5):
        raise ValueError(f"{checkpoint_dir}/model.json: not an esmm-ts checkpoint of format version 1 to 5")
    cfg = dict(j["config"])
    if j["formatVersion"] < 3:  # the old variant names (their base is base-shared), plain MMoE experts
        cfg.update(LEGACY_VARIANTS[cfg.pop("variant", "esmm-mmoe")])
        cfg["experts"] = {"share": "all", "gatePrior": 0, **cfg.get("experts", {})}
    if j["formatVersion"] < 5:  # the CVR tower was the size of the CTR tower
        towers = cfg.get("towers", {})
        cfg["towers"] = {**towers, "hidden": towers.get("hidden", [64]), "cvr": towers.get("hidden", [64])}
    return cfg


PRESETS = {
    "esmm-mmoe": {"bottom": "mmoe", "objective": "entire-space"},
    "esmm": {"bottom": "shared", "objective": "entire-space"},
    "base": {"bottom": "separate", "objective": "clicked"},
    "base-shared": {"bottom": "shared", "objective": "clicked"},
    "escm2-ips": {"bottom": "shared", "objective": "escm2-ips"},
    "escm2-dr": {"bottom": "shared", "objective": "escm2-dr"},
}
LEGACY_VARIANTS = {"esmm-mmoe": PRESETS["esmm-mmoe"], "esmm": PRESETS["esmm"], "base": PRESETS["base-shared"]}


# ---------------------------------------------------------------------------------------------------
# model.json checksums (format version 2): CRC-32s, the content's over the text that JavaScript's
# JSON.stringify gives for [config, preprocessor, training], so both engines compute the same sum.
# ---------------------------------------------------------------------------------------------------

def _js_number(x) -> str:
    """A number as ECMAScript's Number::toString writes it (shortest round-trip digits, JS layout)."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if x != x or x in (float("inf"), float("-inf")):
        return "null"
    if x == 0:
        return "0"
    import decimal

    sign = "-" if x < 0 else ""
    t = decimal.Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, t.digits)).rstrip("0") or "0"
    exp = t.exponent + len(t.digits) - len(digits)  # value = digits * 10^exp
    k, n = len(digits), len(digits) + exp  # value = 0.digits * 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mant = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mant}e{'+' if e >= 0 else '-'}{abs(e)}"


def js_json(v) -> str:
    """JSON text as JavaScript's JSON.stringify(v) writes it (no spaces, keys in insertion order)."""
    if v is None:
        return "null"
    if isinstance(v, (bool, int, float)):
        return _js_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(js_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + js_json(x) for k, x in v.items()) + "}"
    raise TypeError(f"not JSON: {type(v)}")


def crc32_hex(data: bytes) -> str:
    import zlib

    return format(zlib.crc32(data) & 0xFFFFFFFF, "08x")


def checksums(mj: dict, files: Dict[str, str]) -> dict:
    """The "checksums" object of model.json for its content and the given {name: path} files."""
    content = js_json([mj["config"], mj.get("preprocessor"), mj.get("training")])
    out = {"content": crc32_hex(content.encode("utf-8"))}
    for name, path in files.items():
        with open(path, "rb") as f:
            out[name] = crc32_hex(f.read())
    return out


# ---------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------

class Mlp(nn.ModuleList):
    """Linear layers named 0, 1, ... (as esmm-ts), ReLU between them and optionally after the last."""

    def __init__(self, sizes: List[int], activate_last: bool = False):
        super().__init__([nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)])
        self.activate_last = activate_last

    def forward(self, x):
        for i, layer in enumerate(self):
            x = layer(x)
            if i < len(self) - 1 or self.activate_last:
                x = F.relu(x)
        return x


class Esmm(nn.Module):
    def __init__(self, cfg: dict, sparse: bool = False):
        super().__init__()
        self.cfg = cfg
        preset = PRESETS[cfg.get("preset", "esmm-mmoe")]
        self.bottom = cfg.get("bottom", preset["bottom"])
        self.objective = cfg.get("objective", preset["objective"])
        cf = cfg.get("counterfactual", {})
        self.clip = cf.get("clip", 0.05)
        self.normalize = cf.get("normalize", False)
        d = cfg["dim"]
        tables = lambda: nn.ModuleDict({f["name"]: nn.Embedding(f["vocab"], d, sparse=sparse) for f in cfg["fields"]})
        self.embeddings = tables()
        self.cvrEmbeddings = tables() if self.bottom == "separate" else None
        self.single = [f["name"] for f in cfg["fields"] if f.get("kind", "single") == "single"]
        self.multi = [(f["name"], f.get("pooling", "mean")) for f in cfg["fields"] if f.get("kind") == "multi"]
        self.register_buffer("dense_mean", torch.tensor(cfg.get("denseMean", []), dtype=torch.float32), persistent=False)
        self.register_buffer("dense_std", torch.tensor(cfg.get("denseStd", []), dtype=torch.float32), persistent=False)
        width = len(cfg["fields"]) * d + len(cfg.get("dense", []))
        eh = cfg["experts"]["hidden"]
        th = cfg["towers"]["hidden"]
        sizes = {"cvr": cfg["towers"].get("cvr", th)}  # the CVR tower's own sizes (format 5); the others are the CTR tower's
        heads = ("ctr", "cvr", "imp") if self.objective == "escm2-dr" else ("ctr", "cvr")
        self.share = cfg["experts"].get("share", "owned")
        if self.bottom == "mmoe":
            e = cfg["experts"]["count"]
            self.experts = nn.ModuleList([Mlp([width] + eh, activate_last=True) for _ in range(e)])
            self.gates = nn.ModuleDict({"ctr": nn.Linear(width, e), "cvr": nn.Linear(width, e)})
            self.towers = nn.ModuleDict({t: Mlp([eh[-1]] + sizes.get(t, th) + [1]) for t in heads})
        else:
            self.experts = nn.ModuleList()
            self.gates = None
            self.towers = nn.ModuleDict({t: Mlp([width] + eh + sizes.get(t, th) + [1]) for t in heads})

    def embed(self, batch: dict, tables=None) -> torch.Tensor:
        """batch: ids [B, Fs] long; bags: list of (offsets [B+1], ids, weights or None); dense [B, Nd]."""
        tables = self.embeddings if tables is None else tables
        ids = batch["ids"]
        b = ids.shape[0]
        parts = [tables[n](ids[:, i]) for i, n in enumerate(self.single)]
        for k, (name, pooling) in enumerate(self.multi):
            offsets, bag_ids, weights = batch["bags"][k]
            counts = offsets[1:] - offsets[:-1]
            dtype = tables[name].weight.dtype
            w = torch.ones(bag_ids.shape[0], dtype=dtype) if weights is None else weights.to(dtype)
            if pooling == "mean":
                per = torch.repeat_interleave(counts.clamp(min=1).to(dtype), counts)
                w = w / per
            # sum pooling with per-id coefficients; empty bags give zeros (as esmm-ts)
            emb = tables[name].weight[bag_ids] * w[:, None]
            seg = torch.repeat_interleave(torch.arange(b), counts)
            pooled = torch.zeros(b, emb.shape[1], dtype=emb.dtype).index_add_(0, seg, emb)
            parts.append(pooled)
        if len(self.cfg.get("dense", [])) > 0:
            parts.append((batch["dense"] - self.dense_mean) / self.dense_std)
        return torch.cat(parts, dim=1)

    def forward(self, batch: dict) -> dict:
        x = self.embed(batch)
        out = {}
        if self.gates is not None:
            experts = torch.stack([e(x) for e in self.experts], dim=1)  # [B, E, H]
            g_ctr = torch.softmax(self.gates["ctr"](x), dim=1)  # [B, E]
            g_cvr = torch.softmax(self.gates["cvr"](x), dim=1)
            if self.share in ("owned", "cgc"):  # expert e is trained by its owner task only; the other reads it detached
                n = experts.shape[1]
                owner = [None if (self.share == "cgc" and e >= 2) else e % 2 for e in range(n)]
                seen = lambda t: torch.where(torch.tensor([o is None or o == t for o in owner])[None, :, None], experts, experts.detach())
                h_ctr = (g_ctr[:, :, None] * seen(0)).sum(1)
                h_cvr = (g_cvr[:, :, None] * seen(1)).sum(1)
            else:
                h_ctr = (g_ctr[:, :, None] * experts).sum(1)
                h_cvr = (g_cvr[:, :, None] * experts).sum(1)
            out["gates"] = {"ctr": g_ctr, "cvr": g_cvr}
        else:
            h_ctr = x
            h_cvr = self.embed(batch, self.cvrEmbeddings) if self.cvrEmbeddings is not None else x
        ctr_logit = self.towers["ctr"](h_ctr).reshape(-1)
        cvr_logit = self.towers["cvr"](h_cvr).reshape(-1)
        p_ctr = torch.sigmoid(ctr_logit)
        p_cvr = torch.sigmoid(cvr_logit)
        out.update(ctr_logit=ctr_logit, cvr_logit=cvr_logit, p_ctr=p_ctr, p_cvr=p_cvr, p_ctcvr=p_ctr * p_cvr)
        if "imp" in self.towers:
            out["imp_logit"] = self.towers["imp"](h_cvr).reshape(-1)
        return out

    def loss(self, out: dict, click: torch.Tensor, conversion: torch.Tensor, w_ctr: float = 1.0, w_cvr: float = 1.0, w_cf: float = 1.0, w_imp: float = 1.0):
        """(total, terms): the objective's terms, each a mean, as src/esmm/objectives.ts defines them."""
        if bool(((conversion == 1) & (click != 1)).any()):
            raise ValueError("a conversion without a click is a data error, not a label")
        a, b = out["ctr_logit"], out["cvr_logit"]
        terms = {"ctr": F.binary_cross_entropy_with_logits(a, click)}
        if self.objective == "clicked":
            s = click.sum()
            per = F.binary_cross_entropy_with_logits(b, conversion, reduction="none")
            terms["cvr"] = (per * click).sum() / s if s > 0 else (per * 0).sum()
        else:
            y = click * conversion
            log_p = F.logsigmoid(a) + F.logsigmoid(b)
            log_1mp = torch.logsumexp(torch.stack([-a, -b, -a - b]), dim=0) + log_p
            terms["cvr"] = -(y * log_p + (1 - y) * log_1mp).mean()
        if self.objective in ("escm2-ips", "escm2-dr"):
            p = torch.sigmoid(a.detach())
            w = click / torch.clamp(p, min=self.clip)  # inverse propensity weights, pCTR held fixed
            n = w.sum() if self.normalize else torch.tensor(float(a.shape[0]), dtype=a.dtype)
            e = F.binary_cross_entropy_with_logits(b, conversion, reduction="none")
            if self.objective == "escm2-ips":
                terms["counterfactual"] = (w * e).sum() / n
            else:
                q = torch.sigmoid(out["imp_logit"])
                e_hat = F.binary_cross_entropy_with_logits(b, q.detach(), reduction="none")  # q held fixed
                terms["counterfactual"] = e_hat.mean() + (w * (e - e_hat)).sum() / n
                delta = (q - conversion) * b.detach()  # e - e_hat with the CVR logit held fixed
                terms["imputation"] = (w * delta * delta).sum() / n
        weights = {"ctr": w_ctr, "cvr": w_cvr, "counterfactual": w_cf, "imputation": w_imp}
        total = sum(weights[k] * v for k, v in terms.items())
        return total, terms
