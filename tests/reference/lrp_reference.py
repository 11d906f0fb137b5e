#!/usr/bin/env python3
"""Reference LRP maps (Zennit 1.0) for crates/attribution/tests/lrp_equal.rs.

Models: torchvision resnet18 and resnet50, 2 classes, the formula weights of
tests/reference/model_reference.py (never stored; non-trivial BatchNorm statistics), eval mode.
Input: that script's "input:64" batch [2, 3, 64, 64] (values in [-1, 1), so the rules' handling
of negative inputs is exercised at the first layer); targets [1, 0].

Cases, for each model: the four composites EpsilonPlus, EpsilonPlusFlat,
EpsilonGammaBox(low=-1, high=1) and EpsilonAlpha2Beta1 at Zennit's defaults (epsilon and
stabilizer 1e-6, gamma 0.25), each without canonizer and with zennit.torchvision.ResNetCanonizer,
output relevance = logit x one-hot (the authors' attr_output, docs/METHODS.md#lrp); plus, for
resnet18, EpsilonPlus without canonizer with a one-hot output and with the predicted class as
target. "resnet18/epsilon_plus/plain/logit" is the authors' exact set-up (EpsilonPlus, no
canonizer, logit x one-hot of the target; docs/METHODS.md#lrp).

Each map is computed with zennit.attribution.Gradient in float64 (model.double()) and float32;
the fixture stores the float64 map (rounded to float32), its per-image input relevance sum and
output relevance sum, and the float32-vs-float64 gap, which sets the Rust tolerance.

Writes tests/fixtures/lrp/maps.npy (float32 [cases, 2, 3, 64, 64]) and cases.json, or, run in
an environment with Zennit 0.5.1 (the version the paper's authors locked), the same cases into
tests/fixtures/lrp-zennit051/ (the output folder is chosen by the installed Zennit version).
Usage: .refenv/bin/python tests/reference/lrp_reference.py
       (REFENV_ZENNIT=0.5.1 REFENV_DIR=.refenv051 bash setup-refenv.sh; .refenv051/bin/python ...)
"""

import importlib.metadata
import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import model_reference as mr  # noqa: E402

from zennit.attribution import Gradient  # noqa: E402
from zennit.composites import (  # noqa: E402
    EpsilonAlpha2Beta1, EpsilonGammaBox, EpsilonPlus, EpsilonPlusFlat,
)
from zennit.torchvision import ResNetCanonizer  # noqa: E402

ZENNIT = importlib.metadata.version("zennit")
OUT = pathlib.Path(__file__).resolve().parents[2] / (
    "tests/fixtures/lrp" if ZENNIT.startswith("1.") else f"tests/fixtures/lrp-zennit{ZENNIT.replace('.', '')}")
SIZE = 64
TARGETS = [1, 0]
LOW, HIGH = -1.0, 1.0

COMPOSITES = {
    "epsilon_plus": lambda c: EpsilonPlus(canonizers=c),
    "epsilon_plus_flat": lambda c: EpsilonPlusFlat(canonizers=c),
    "epsilon_gamma_box": lambda c: EpsilonGammaBox(low=LOW, high=HIGH, canonizers=c),
    "epsilon_alpha2_beta1": lambda c: EpsilonAlpha2Beta1(canonizers=c),
}


def lrp(model, x, composite, canonize, output, target):
    canonizers = [ResNetCanonizer()] if canonize else None
    with torch.no_grad():
        logits = model(x)
    targets = logits.argmax(1).tolist() if target == "predicted" else TARGETS
    onehot = torch.zeros_like(logits)
    onehot[torch.arange(len(targets)), targets] = 1
    attr_output = (lambda y: y * onehot) if output == "logit" else (lambda y: onehot)
    with Gradient(model, COMPOSITES[composite](canonizers)) as attributor:
        out, rel = attributor(x, attr_output)
    out_rel = (out * onehot) if output == "logit" else onehot
    return rel.detach(), out_rel.sum(1).detach(), targets


def gap(a32, a64):
    d = np.abs(a32.astype(np.float64) - a64)
    per_image = []
    for i in range(a64.shape[0]):
        per_image.append(float(np.linalg.norm(d[i]) / np.linalg.norm(a64[i])))
    return {"max_rel_to_max": float(d.max() / np.abs(a64).max()), "rel_l2_per_image": per_image}


def main():
    torch.set_num_threads(2)
    x32 = torch.from_numpy(mr.value_input(f"input:{SIZE}", [2, 3, SIZE, SIZE]))
    x64 = x32.double()
    maps, cases = [], []
    for model_name in ["resnet18", "resnet50"]:
        m32 = mr.build(model_name)[0]
        m64 = mr.build(model_name)[0].double()
        runs = [(c, canon, "logit", "given") for c in COMPOSITES for canon in (False, True)]
        if model_name == "resnet18":
            runs += [("epsilon_plus", False, "onehot", "given"),
                     ("epsilon_plus", False, "logit", "predicted")]
        for composite, canonize, output, target in runs:
            r32, _, _ = lrp(m32, x32, composite, canonize, output, target)
            r64, out64, targets = lrp(m64, x64, composite, canonize, output, target)
            a64 = r64.numpy()
            g = gap(r32.numpy(), a64)
            name = f"{model_name}/{composite}/{'canonized' if canonize else 'plain'}/{output}"
            if target == "predicted":
                name += "/predicted"
            in_sum = a64.sum(axis=(1, 2, 3))
            print(f"{name}: f32 vs f64 {g}; input sum {in_sum}, output sum {out64.numpy()}")
            maps.append(a64.astype(np.float32))
            cases.append({
                "name": name, "model": model_name, "composite": composite, "canonize": canonize,
                "output": output, "target": target, "targets": targets,
                "input_sum_f64": [float(v) for v in in_sum],
                "output_sum_f64": [float(v) for v in out64.numpy()],
                "f32_vs_f64": g,
            })
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(OUT / "maps.npy", np.stack(maps))
    meta = {
        "about": "see tests/reference/lrp_reference.py",
        "torch": torch.__version__, "zennit": importlib.metadata.version("zennit"),
        "seed": mr.SEED, "num_classes": mr.NUM_CLASSES, "input_key": f"input:{SIZE}",
        "input_shape": [2, 3, SIZE, SIZE], "targets": TARGETS, "zbox_low": LOW, "zbox_high": HIGH,
        "cases": cases,
    }
    (OUT / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
