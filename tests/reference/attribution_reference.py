#!/usr/bin/env python3
"""Reference Integrated Gradients and gradients for crates/attribution/tests/reference_equal.rs.

Model: torchvision resnet18, 2 classes, the formula weights of tests/reference/model_reference.py
(never stored), eval mode; input = that script's "input:64" batch [2, 3, 64, 64]; targets [1, 0].
Each map is computed in float32 AND float64 (model.double()); the fixture stores the float64 maps
(rounded to float32) and the measured float32-vs-float64 gap, which sets the Rust tolerance.

Cases
- captum 0.9 IntegratedGradients, n_steps=16, each method (riemann_left/right/middle/trapezoid,
  gausslegendre), zero baseline, multiply_by_inputs=True, return_convergence_delta=True;
- the same with a blurred baseline (scipy.ndimage.gaussian_filter over H and W, sigma 2.0,
  mode "reflect", truncate 4.0), gausslegendre;
- zennit 1.0 IntegratedGradients (the authors' IG, docs/METHODS.md#ig): n_iter=20,
  zero baseline, attr_output = logit x one-hot; its completeness delta is taken against
  0.5 z_t^2, the function whose gradient it integrates;
- the plain gradient of the target logit.

Writes tests/fixtures/attribution/maps.npy (float32 [cases, 2, 3, 64, 64]),
blurred_baseline.npy (float32 [2, 3, 64, 64]) and cases.json.
Usage: .refenv/bin/python tests/reference/attribution_reference.py
"""

import importlib.metadata
import json
import pathlib
import sys
import time

import numpy as np
import scipy.ndimage
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import model_reference as mr  # noqa: E402

import captum  # noqa: E402
import zennit  # noqa: E402
from captum.attr import IntegratedGradients  # noqa: E402
from zennit.attribution import IntegratedGradients as ZennitIG  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/attribution"
SIZE = 64
TARGETS = [1, 0]
STEPS = 16
ZENNIT_STEPS = 20
BLUR_SIGMA = 2.0
METHODS = ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"]


def captum_ig(model, x, baseline, method):
    ig = IntegratedGradients(model)
    attr, delta = ig.attribute(
        x, baselines=baseline, target=TARGETS, n_steps=STEPS, method=method,
        return_convergence_delta=True,
    )
    return attr.detach(), delta.detach()


def zennit_ig(model, x):
    onehot = torch.zeros(len(TARGETS), mr.NUM_CLASSES, dtype=x.dtype)
    onehot[torch.arange(len(TARGETS)), TARGETS] = 1
    attributor = ZennitIG(model, n_iter=ZENNIT_STEPS)
    with attributor:
        out, attr = attributor(x, lambda y: y * onehot)
    with torch.no_grad():
        z_x = model(x)[torch.arange(2), TARGETS]
        z_b = model(torch.zeros_like(x))[torch.arange(2), TARGETS]
    delta = attr.sum(dim=(1, 2, 3)) - 0.5 * (z_x**2 - z_b**2)
    return attr.detach(), delta.detach()


def gradient(model, x):
    x = x.clone().requires_grad_(True)
    y = model(x)
    y[torch.arange(2), TARGETS].sum().backward()
    return x.grad.detach(), None


def gap(a32, a64):
    """float32-vs-float64 gap: what the Rust tolerance must allow."""
    d = np.abs(a32.astype(np.float64) - a64)
    scale = np.abs(a64).max()
    return {
        "max_rel_to_max": float(d.max() / scale),
        "q99_rel_to_max": float(np.quantile(d, 0.99) / scale),
        "frac_within_1e-3_max": float((d <= 1e-3 * scale).mean()),
        "rel_l2": float(np.linalg.norm(d) / np.linalg.norm(a64)),
    }


def main():
    torch.set_num_threads(2)
    model32, _ = mr.build("resnet18")
    model64 = mr.build("resnet18")[0].double()
    x32 = torch.from_numpy(mr.value_input(f"input:{SIZE}", [2, 3, SIZE, SIZE]))
    x64 = x32.double()
    blur = scipy.ndimage.gaussian_filter(
        x32.numpy().astype(np.float64), sigma=(0, 0, BLUR_SIGMA, BLUR_SIGMA), mode="reflect",
        truncate=4.0,
    )
    runs = [(f"captum_{m}_zero", lambda mdl, x, m=m: captum_ig(mdl, x, torch.zeros_like(x), m))
            for m in METHODS]
    runs.append(("captum_gausslegendre_blurred",
                 lambda mdl, x: captum_ig(mdl, x, torch.from_numpy(blur).to(x.dtype),
                                          "gausslegendre")))
    runs.append(("zennit_right_logit_zero", zennit_ig))
    runs.append(("gradient", gradient))
    maps, cases = [], []
    for name, fn in runs:
        a32, d32 = fn(model32, x32)
        a64, d64 = fn(model64, x64)
        g = gap(a32.numpy(), a64.numpy())
        print(f"{name}: f32 vs f64 {g}; delta64 {None if d64 is None else d64.tolist()}")
        maps.append(a64.numpy().astype(np.float32))
        cases.append({
            "name": name,
            "delta_f64": None if d64 is None else [float(v) for v in d64],
            "delta_f32": None if d32 is None else [float(v) for v in d32],
            "f32_vs_f64": g,
        })
    with torch.no_grad():
        logits = model64(x64).numpy()
    t0 = time.perf_counter()
    ig = IntegratedGradients(model32)
    reps = 2
    for _ in range(reps):
        ig.attribute(x32, target=TARGETS, n_steps=32, method="gausslegendre",
                     internal_batch_size=32)
    ips = reps * 2 / (time.perf_counter() - t0)
    print(f"captum IG-32 gausslegendre float32, 2 threads: {ips:.2f} images/s")
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(OUT / "maps.npy", np.stack(maps))
    np.save(OUT / "blurred_baseline.npy", blur.astype(np.float32))
    meta = {
        "about": "see tests/reference/attribution_reference.py",
        "torch": torch.__version__, "captum": captum.__version__, "zennit": importlib.metadata.version("zennit"),
        "seed": mr.SEED, "num_classes": mr.NUM_CLASSES, "input_key": f"input:{SIZE}",
        "input_shape": [2, 3, SIZE, SIZE], "targets": TARGETS, "steps": STEPS,
        "zennit_steps": ZENNIT_STEPS, "blur_sigma": BLUR_SIGMA,
        "logits_f64": [float(v) for v in logits.ravel()],
        "captum_ig32_images_per_s_f32_2threads": ips,
        "cases": cases,
    }
    (OUT / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
