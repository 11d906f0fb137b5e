#!/usr/bin/env python3
"""The CLI as a user runs it against Zennit 1.0 and Captum 0.9 given the same batch (issue 20):
ResNet-18 at 64x64, 2 classes, the same weights on both sides (`biaslens weights --arch resnet18
--classes 2 --seed 1`, loaded into torchvision), N images in [0, 1) (NumPy seed 0), targets
alternating 0/1.

- LRP: `biaslens attribute --method lrp --composite epsilon-plus-flat --canonize` at its default
  `--batch-size` (auto) against zennit `Gradient` with `EpsilonPlusFlat(canonizers=
  [ResNetCanonizer()])`, output logit x one-hot, the whole batch in one call.
- IG-32: `biaslens attribute --method ig --ig captum --steps 32` (Gauss-Legendre, zero
  baseline, one-hot) against captum `IntegratedGradients.attribute(n_steps=32,
  method="gausslegendre")` with every path point in one pass (`internal_batch_size=None`).

The CLI's images/s are marginal, (N - 1) / (t_N - t_1), so process start-up and loading the
weights cancel; torch's are N / t for the best of two calls (LRP) or one call (IG) after a
warm-up, so its start-up is not timed at all; torch on all cores. Both sides run in this one
process, back to back.

Usage: .refenv/bin/python tests/reference/cli_bench.py BIASLENS_BINARY [N] [lrp|ig]
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision
from captum.attr import IntegratedGradients
from safetensors.torch import load_file
from zennit.attribution import Gradient
from zennit.composites import EpsilonPlusFlat
from zennit.torchvision import ResNetCanonizer

from attribution_bench import best  # this folder: run as a script, it is on sys.path

SIDE = 64


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    cli = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 96
    only = sys.argv[3] if len(sys.argv) > 3 else None
    torch.set_num_threads(os.cpu_count())
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "w.safetensors")
        subprocess.run([cli, "weights", "--arch", "resnet18", "--classes", "2", "--seed", "1",
                        "--out", weights], check=True, stdout=subprocess.DEVNULL)
        x = np.random.default_rng(0).random((n, 3, SIDE, SIDE), dtype=np.float32)
        labels = np.arange(n, dtype=np.int64) % 2
        paths = {}
        for k in (1, n):
            paths[k] = (os.path.join(tmp, f"x{k}.npy"), os.path.join(tmp, f"l{k}.npy"))
            np.save(paths[k][0], x[:k])
            np.save(paths[k][1], labels[:k])
        out = os.path.join(tmp, "maps.npy")
        model = torchvision.models.resnet18(weights=None, num_classes=2)
        model.load_state_dict(load_file(weights))
        model.eval()
        xt = torch.from_numpy(x)
        targets = torch.from_numpy(labels)
        onehot = torch.zeros(n, 2)
        onehot[torch.arange(n), targets] = 1

        cases = {
            "lrp": (["--method", "lrp", "--composite", "epsilon-plus-flat", "--canonize"],
                    "LRP EpsilonPlusFlat canonized"),
            "ig": (["--method", "ig", "--ig", "captum", "--steps", "32"], "IG-32"),
        }
        for key, (flags, name) in cases.items():
            if only and only != key:
                continue

            def run_cli(k):
                return timed([cli, "attribute", "--weights", weights, "--arch", "resnet18",
                              "--input", paths[k][0], "--labels", paths[k][1], "--output", out,
                              *flags])

            run_cli(1)  # warm the page cache
            t1 = min(run_cli(1) for _ in range(2))
            tn = run_cli(n)
            ours = (n - 1) / (tn - t1)
            print(f"biaslens CLI {name}, {n} images: {tn:.2f} s (1 image: {t1:.2f} s), "
                  f"{ours:.2f} images/s marginal", flush=True)
            if key == "lrp":
                def run_ref():
                    with Gradient(model, EpsilonPlusFlat(canonizers=[ResNetCanonizer()])) as attr:
                        attr(xt, lambda y: y * onehot)
                secs = best(2, run_ref)
                ref = "zennit"
            else:
                ig = IntegratedGradients(model)

                def run_ref():
                    ig.attribute(xt, target=targets, n_steps=32, method="gausslegendre")
                secs = best(1, run_ref)
                ref = "captum"
            print(f"{ref} {name}, {n} images: {secs:.2f} s, {n / secs:.2f} images/s; "
                  f"ratio {ours / (n / secs):.2f}x", flush=True)


if __name__ == "__main__":
    main()
