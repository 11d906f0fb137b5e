#!/usr/bin/env python3
"""Float64 reference of one Integrated Gradients setting on ResNet-50, for the precision test in
crates/attribution/tests/ig_precision.rs (issue 20: "our IG is further from float64 Captum than
torch float32").

Model: torchvision resnet50, 2 classes, the formula weights of tests/reference/model_reference.py
(never stored), eval mode. Input: that script's formula for key "input:80x72", shape
[2, 3, 80, 72] (values 2u - 1); targets [1, 0]. Captum 0.9 IntegratedGradients, n_steps=32,
method="gausslegendre", zero baseline, one-hot target, return_convergence_delta=True, all 64 path
rows in one pass, computed in float64 (model.double()) and in float32.

Writes tests/fixtures/attribution/ig_precision_resnet50.npy (the float64 map rounded to float32,
[2, 3, 80, 72]) and ig_precision_resnet50.json (settings, float64 deltas, and the float32 map's
distance to the float64 one: what torch float32 achieves).
Usage: .refenv/bin/python tests/reference/ig_precision_reference.py
"""

import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import model_reference as mr  # noqa: E402

import captum  # noqa: E402
from captum.attr import IntegratedGradients  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/attribution"
SHAPE = [2, 3, 80, 72]
KEY = "input:80x72"
TARGETS = [1, 0]
STEPS = 32


def ig(model, x):
    attr, delta = IntegratedGradients(model).attribute(
        x, baselines=torch.zeros_like(x), target=TARGETS, n_steps=STEPS, method="gausslegendre",
        return_convergence_delta=True,
    )
    return attr.detach().numpy(), delta.detach().numpy()


def main():
    torch.set_num_threads(2)
    model32, _ = mr.build("resnet50")
    model64 = mr.build("resnet50")[0].double()
    x32 = torch.from_numpy(mr.value_input(KEY, SHAPE))
    a32, d32 = ig(model32, x32)
    a64, d64 = ig(model64, x32.double())
    d = np.abs(a32.astype(np.float64) - a64)
    scale = np.abs(a64).max()
    gap = {
        "max_rel_to_max": float(d.max() / scale),
        "frac_within_1e-3_max": float((d <= 1e-3 * scale).mean()),
        "rel_l2": float(np.linalg.norm(d) / np.linalg.norm(a64)),
    }
    print(f"torch float32 vs float64: {gap}; deltas f64 {d64.tolist()} f32 {d32.tolist()}")
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(OUT / "ig_precision_resnet50.npy", a64.astype(np.float32))
    meta = {
        "about": "see tests/reference/ig_precision_reference.py",
        "torch": torch.__version__, "captum": captum.__version__,
        "model": "resnet50", "seed": mr.SEED, "num_classes": mr.NUM_CLASSES,
        "input_key": KEY, "input_shape": SHAPE, "targets": TARGETS, "steps": STEPS,
        "method": "gausslegendre", "baseline": "zero", "relevance": "one_hot",
        "delta_f64": [float(v) for v in d64], "delta_f32": [float(v) for v in d32],
        "f32_vs_f64": gap,
    }
    (OUT / "ig_precision_resnet50.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
