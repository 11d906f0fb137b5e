#!/usr/bin/env python3
"""Reference logits of torchvision ResNet-18 / ResNet-50 with formula-generated weights.

Writes tests/fixtures/model/torchvision_logits.json (2-class heads) and
tests/fixtures/model/torchvision_imagenet_logits.json (1000-class ImageNet-shaped state dicts, the
pretrained start's input). The weights are never stored: both this
script and the Rust test (crates/model/tests/torchvision_equal.rs) generate them from the
formula below, so the fixture stays a few tens of kilobytes.

Formula (all integer arithmetic modulo 2^64):
    h      = FNV-1a 64 of the UTF-8 key (offset 0xcbf29ce484222325, prime 0x100000001b3)
    s0     = SEED xor h
    z_i    = splitmix64 output for state s0 + (i + 1) * 0x9E3779B97F4A7C15, i = flat index
    u_i    = (z_i >> 11) * 2^-53           in [0, 1)
    v_i    = 2 u_i - 1                     in [-1, 1)
Per tensor (computed in float64, then rounded to float32):
    conv weight [o, i, kh, kw]   v * sqrt(3 / (i kh kw))
    fc.weight [o, i]             v * sqrt(1 / i)
    fc.bias                      0.1 v
    bn weight (gamma)            1 + 0.2 v
    bn bias (beta)               0.1 v
    bn running_mean              0.1 v
    bn running_var               0.75 + 0.5 u
    num_batches_tracked          0 (int64, ignored by the loader)
    input (key "input:<H>")      v, shape [2, 3, H, H]

Usage: .refenv/bin/python tests/reference/model_reference.py  (torch 2.15.0, torchvision 0.29.2;
the environment is described in README.md, "Reference fixtures").
"""

import json
import pathlib

import numpy as np
import torch
import torchvision

SEED = 2016
NUM_CLASSES = 2
BATCH = 2
SIZES = [64, 218]
MASK = (1 << 64) - 1
OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/model/torchvision_logits.json"
IMAGENET_CLASSES = 1000
IMAGENET_SIZE = 64
IMAGENET_OUT = OUT.parent / "torchvision_imagenet_logits.json"


def fnv1a64(key: str) -> int:
    h = 0xCBF29CE484222325
    for b in key.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & MASK
    return h


def uniform01(key: str, n: int) -> np.ndarray:
    """u_i in [0, 1) as float64, vectorised SplitMix64 (uint64 arithmetic wraps)."""
    s0 = np.uint64(SEED ^ fnv1a64(key))
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = s0 + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def value(key: str, shape) -> np.ndarray:
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform01(key, n)
    v = 2.0 * u - 1.0
    last = key.rsplit(".", 1)[-1]
    if key.startswith("fc."):
        x = v * np.sqrt(1.0 / shape[1]) if last == "weight" else 0.1 * v
    elif len(shape) == 4:
        x = v * np.sqrt(3.0 / (shape[1] * shape[2] * shape[3]))
    elif last == "weight":
        x = 1.0 + 0.2 * v
    elif last in ("bias", "running_mean"):
        x = 0.1 * v
    elif last == "running_var":
        x = 0.75 + 0.5 * u
    else:
        raise ValueError(f"no formula for {key}")
    return x.astype(np.float32).reshape(shape)


def build(name: str, num_classes: int = NUM_CLASSES):
    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    state = model.state_dict()
    keys = []
    new_state = {}
    for k, t in state.items():
        if k.endswith("num_batches_tracked"):
            keys.append([k, list(t.shape), "int64"])
            new_state[k] = torch.zeros_like(t)
            continue
        keys.append([k, list(t.shape), "float32"])
        new_state[k] = torch.from_numpy(value(k, list(t.shape)))
    model.load_state_dict(new_state, strict=True)
    return model.eval(), keys


def main():
    torch.set_num_threads(2)
    fixture = {
        "about": "torchvision logits for formula weights; see tests/reference/model_reference.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "seed": SEED,
        "num_classes": NUM_CLASSES,
        "models": {},
        "cases": [],
    }
    for name in ["resnet18", "resnet50"]:
        model, keys = build(name)
        fixture["models"][name] = keys
        model64 = build(name)[0].double()
        for size in SIZES:
            key = f"input:{size}"
            x = value_input(key, [BATCH, 3, size, size])
            with torch.no_grad():
                y32 = model(torch.from_numpy(x)).numpy()
                y64 = model64(torch.from_numpy(x).double()).numpy()
            gap = float(np.abs(y32.astype(np.float64) - y64).max())
            print(f"{name} {size}: logits {y32.ravel()}, |f32 - f64| max {gap:.2e}")
            fixture["cases"].append(
                {
                    "model": name,
                    "input_key": key,
                    "input_shape": [BATCH, 3, size, size],
                    "logits_f32": [float(v) for v in y32.ravel()],
                    "logits_f64": [float(v) for v in y64.ravel()],
                }
            )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    imagenet()


def imagenet():
    """ImageNet-shaped (1000-class) state dicts: what `safetensors.torch.save_file(
    model.state_dict())` writes for a torchvision ImageNet model, with formula weights instead of
    the downloaded ones. The pretrained start (crates/model/tests/pretrained_start.rs) must give
    torchvision's 1000 logits before it replaces the head. Only the float64 logits are stored
    (with the float32 model's distance from them), to keep the fixture small."""
    fixture = {
        "about": "torchvision 1000-class logits for formula weights; see tests/reference/model_reference.py, imagenet()",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "seed": SEED,
        "num_classes": IMAGENET_CLASSES,
        "models": {},
        "cases": [],
    }
    for name in ["resnet18", "resnet34", "resnet50"]:
        model, keys = build(name, IMAGENET_CLASSES)
        fixture["models"][name] = keys
        model64 = build(name, IMAGENET_CLASSES)[0].double()
        key = f"input:{IMAGENET_SIZE}"
        x = value_input(key, [BATCH, 3, IMAGENET_SIZE, IMAGENET_SIZE])
        with torch.no_grad():
            y32 = model(torch.from_numpy(x)).numpy()
            y64 = model64(torch.from_numpy(x).double()).numpy()
        gap = float(np.abs(y32.astype(np.float64) - y64).max())
        print(f"{name} {IMAGENET_SIZE} (1000 classes): |f32 - f64| max {gap:.2e}")
        fixture["cases"].append(
            {
                "model": name,
                "input_key": key,
                "input_shape": [BATCH, 3, IMAGENET_SIZE, IMAGENET_SIZE],
                "torch_f32_vs_f64": gap,
                "logits_f64": [float(v) for v in y64.ravel()],
            }
        )
    IMAGENET_OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {IMAGENET_OUT} ({IMAGENET_OUT.stat().st_size} bytes)")


def value_input(key: str, shape) -> np.ndarray:
    n = int(np.prod(shape))
    return (2.0 * uniform01(key, n) - 1.0).astype(np.float32).reshape(shape)


if __name__ == "__main__":
    main()
