#!/usr/bin/env python3
"""Throughput of Zennit 1.0 LRP and Captum 0.9 IG-32 on this machine, the anchor for
crates/attribution/benches/attribution.rs (same models, sizes, batches and settings).

Cases: torchvision resnet18 and resnet50, 2 classes, random init, eval mode, float32 on the CPU
with torch.set_num_threads(os.cpu_count()); batches 16 at 64x64, 4 (resnet18) or 2 (resnet50)
at 224x224; LRP = zennit Gradient with EpsilonPlus() (the paper's) and EpsilonGammaBox(0, 1)
with ResNetCanonizer, output logit x one-hot; IG = captum IntegratedGradients, n_steps=32,
gausslegendre, internal_batch_size=32, zero baseline. Best of 2 runs after a warm-up (1 run
at 224, none for IG at 224 beyond the warm-up) as in the Rust bench.

Usage: .refenv/bin/python tests/reference/attribution_bench.py [FILTER]
"""

import os
import sys
import time

import torch
import torchvision
from captum.attr import IntegratedGradients
from zennit.attribution import Gradient
from zennit.composites import EpsilonGammaBox, EpsilonPlus
from zennit.torchvision import ResNetCanonizer


def best(reps, fn):
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) if times else None


def main():
    flt = sys.argv[1] if len(sys.argv) > 1 else None
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    for arch, side, batch in [("resnet18", 64, 16), ("resnet18", 224, 4), ("resnet50", 64, 16),
                              ("resnet50", 224, 2)]:
        model = getattr(torchvision.models, arch)(weights=None, num_classes=2).eval()
        i = torch.arange(batch * 3 * side * side, dtype=torch.float32)
        x = (torch.sin(i * 0.013) * 0.5 + 0.5).reshape(batch, 3, side, side)
        targets = [k % 2 for k in range(batch)]
        onehot = torch.zeros(batch, 2)
        onehot[torch.arange(batch), targets] = 1
        reps = 1 if side == 224 else 2
        for name, make in [
            ("LRP EpsilonPlus", lambda: EpsilonPlus()),
            ("LRP EpsilonGammaBox canonized",
             lambda: EpsilonGammaBox(low=0.0, high=1.0, canonizers=[ResNetCanonizer()])),
        ]:
            case = f"{name} {arch} {side}x{side} b{batch}"
            if flt and flt not in case:
                continue

            def run():
                with Gradient(model, make()) as attributor:
                    attributor(x, lambda y: y * onehot)

            secs = best(reps, run)
            print(f"zennit {case}: {batch / secs:.2f} images/s", flush=True)
        case = f"IG-32 {arch} {side}x{side} b{batch}"
        if flt and flt not in case:
            continue
        ig = IntegratedGradients(model)

        def run_ig():
            ig.attribute(x, target=targets, n_steps=32, method="gausslegendre",
                         internal_batch_size=32)

        t = time.perf_counter()
        run_ig()
        secs = time.perf_counter() - t
        if side != 224:
            secs = min(secs, best(1, run_ig) or secs)
        print(f"captum {case}: {batch / secs:.3f} images/s", flush=True)


if __name__ == "__main__":
    main()
