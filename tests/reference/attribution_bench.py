#!/usr/bin/env python3
"""Captum IG-32 throughput, the counterpart of crates/attribution/tests/bench_ig.rs.

ResNet-18 (random weights), 2 classes, batch 16, 64x64, Gauss-Legendre 32 steps, zero baseline,
internal_batch_size=32. Usage: .refenv/bin/python tests/reference/attribution_bench.py [THREADS]
"""

import sys
import time

import torch
import torchvision
from captum.attr import IntegratedGradients

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
m = torchvision.models.resnet18(weights=None, num_classes=2).eval()
x = torch.sin(torch.arange(16 * 3 * 64 * 64, dtype=torch.float32) * 0.013).reshape(16, 3, 64, 64)
t = [i % 2 for i in range(16)]
ig = IntegratedGradients(m)
ig.attribute(x, target=t, n_steps=32, method="gausslegendre", internal_batch_size=32)
t0 = time.perf_counter()
reps = 2
for _ in range(reps):
    ig.attribute(x, target=t, n_steps=32, method="gausslegendre", internal_batch_size=32)
ips = reps * 16 / (time.perf_counter() - t0)
print(f"captum IG-32 gausslegendre resnet18 64x64 b16, torch {torch.__version__}, "
      f"{threads} thread(s): {ips:.2f} images/s")
