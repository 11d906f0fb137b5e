#!/usr/bin/env python3
"""PyTorch anchor for crates/model/examples/bench_resnet.rs: the same cases (eval-mode
forward; forward + backward to the input of sum(logits)), images/s, torch threads = all cores."""

import json
import os
import time

import torch
import torchvision



def time_it(f, images, min_iters):
    f()
    t = time.perf_counter()
    iters = 0
    while iters < min_iters or time.perf_counter() - t < 2.0:
        f()
        iters += 1
    return iters * images / (time.perf_counter() - t)


def main():
    torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count() or 1)))
    torch.manual_seed(0)
    for name, side, batch in [("resnet18", 64, 16), ("resnet18", 224, 4), ("resnet50", 64, 16), ("resnet50", 224, 4)]:
        model = getattr(torchvision.models, name)(weights=None, num_classes=2).eval()
        x = torch.rand(batch, 3, side, side) * 2 - 1

        def fwd():
            with torch.no_grad():
                model(x)

        def fwd_bwd():
            xi = x.clone().requires_grad_(True)
            model(xi).sum().backward()
            _ = xi.grad

        f = time_it(fwd, batch, 3)
        fb = time_it(fwd_bwd, batch, 2)
        print(json.dumps({"impl": f"torch-{torch.__version__}", "threads": torch.get_num_threads(), "model": name,
                          "side": side, "batch": batch, "forward_img_s": round(f, 2), "forward_backward_img_s": round(fb, 2)}))


if __name__ == "__main__":
    main()
