#!/usr/bin/env python3
"""Independent numpy + scipy reference for the saliency metrics with a region per image.

Checks crates/metrics/src/saliency.rs `per_image_metrics_each` and `saliency_report` (the Rust test
is crates/metrics/tests/masks_reference.rs) on small seeded maps where every image has its own
region: a box (given to Rust as `Region::Box`) or a pixel mask (`Region::Mask`). Written from the
definitions, not from the Rust code:

  * Sztukiewicz et al. 2025, "Investigating the Relationship Between Debiasing and Artifact Removal
    using Saliency Maps", XAI 2025, section 3 (RRF eq. 1, ADR eq. 2, DIF eq. 3, RDDT eq. 4), with R
    the image's own set of pixels instead of one rectangle;
  * what the authors' code computes (docs/METHODS.md #preprocess, #metrics): signed channel sum,
    per-image max-abs scaling |s - 0.5|, HRF / MRR / DET (outside mean over all H*W pixels, or over
    the outside pixels), DIF's strict margin, RDDT = scipy.stats.ttest_1samp(delta, 0,
    alternative="greater"), and the np.allclose -> zeros rule for identical maps;
  * docs/METHODS.md #per-image-regions: a mask is a boolean H x W array in map pixels, a box
    x, y, w, h covers rows y..y+h and columns x..x+w (x = column).

Each image is scored with numpy boolean indexing p[mask] (no loops over pixels, no spans); the
maps are not square, so a box with swapped axes cannot pass. Regions vary on purpose: boxes of
different places and sizes, an L shape, scattered pixels, one pixel, a whole-image mask (nothing
outside: MRR's 0-denominator rule), masks touching every border, a mask equal to a box.

Maps are integers k stored in the fixture; the value is k / 1024 (exact in f32 and f64). JSON
encoding: NaN -> null, +-inf -> "inf" / "-inf". Package versions are recorded in the fixture.

Deterministic (numpy.random.default_rng(20251204)). Re-run from the repository root:

    /work/.refenv051/bin/python tests/reference/masks_reference.py

(any python with numpy and scipy). Writes tests/fixtures/masks/masks_cases.json.
"""

import importlib.metadata
import json
import math
import platform
from pathlib import Path

import numpy as np
from scipy import stats

# The same seeded integer maps, quantisation and metric settings as the shared-box fixture.
from metrics_reference import DEFAULT_SETTINGS, QUANT, blobs

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "masks" / "masks_cases.json"


def num(x):
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def preprocess(m):
    """(C, H, W) -> (H, W): signed channel sum, then |(R + a) / 2a - 0.5| with a = max|R| (0 if a = 0)."""
    r = m.sum(axis=0)
    a = np.abs(r).max()
    if a == 0:
        return np.zeros_like(r)
    return np.abs((r + a) / 2 / a - 0.5)


def map_metrics(p, mask, s):
    inside, outside = p[mask], p[~mask]
    n_in, n_out = inside.size, outside.size
    total = p.sum()
    roi_mean = inside.sum() / n_in
    out_mean = outside.sum() / n_out if n_out else 0.0
    rrf = 0.0 if total == 0 else inside.sum() / total
    if out_mean != 0:
        mrr = roi_mean / out_mean
    else:
        mrr = 0.0 if roi_mean == 0 else math.copysign(math.inf, roi_mean)
    if s["det_outside"] == "all_pixels":
        det = roi_mean - np.where(mask, 0.0, p).mean()
    else:
        det = roi_mean - out_mean
    hrf = (inside > s["hrf_threshold"]).mean()
    return {"rrf": float(rrf), "hrf": float(hrf), "mrr": float(mrr), "det": float(det)}


def paired(pv, pd, mask, s):
    if s["identical_maps"] == "zero" and np.allclose(pd, pv):
        return 0.0, 0.0
    diff = pv[mask] - pd[mask]
    return float(diff.mean()), float((diff > s["dif_margin"]).mean())


def ttest(values, alpha):
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n < 2 or np.all(values == 0):
        return {"n": n, "mean": num(values.mean()) if n else 0.0, "t": None, "p": None, "significant": False}
    res = stats.ttest_1samp(values, 0.0, alternative="greater")
    t, p = float(res.statistic), float(res.pvalue)
    return {"n": n, "mean": num(values.mean()), "t": num(t), "p": None if math.isnan(p) else p, "significant": bool(p < alpha)}


def box_mask(h, w, box):
    x, y, bw, bh = box
    m = np.zeros((h, w), dtype=bool)
    m[y : y + bh, x : x + bw] = True  # rows = y, columns = x
    return m


def check_no_ties(pv, pd, mask, s):
    """No value within 1e-9 of a strict threshold, where the last bit of rounding (which differs
    between two correct implementations) would decide a count."""
    for p in (pv, pd):
        assert not (np.abs(p[mask] - s["hrf_threshold"]) < 1e-9).any(), "HRF tie"
    diff = pv[mask] - pd[mask]
    near = np.abs(diff - s["dif_margin"]) < 1e-9
    if s["dif_margin"] == 0:
        near &= diff != 0
    assert not near.any(), "DIF tie"


def regions(rng, n, h, w):
    """A varied region per image: ("box", [x, y, w, h]) or ("mask", H x W booleans)."""
    out = []
    kinds = ["box", "l_shape", "scattered", "one_pixel", "whole", "border", "box_as_mask", "box_big"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "box":
            bw, bh = int(rng.integers(1, w)), int(rng.integers(1, h))
            out.append(("box", [int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1)), bw, bh]))
        elif kind == "box_big":
            out.append(("box", [1, 2, w - 2, h - 3]))
        elif kind == "l_shape":
            m = np.zeros((h, w), dtype=bool)
            m[1:h - 1, 2] = True
            m[h - 2, 2 : w - 1] = True
            out.append(("mask", m))
        elif kind == "scattered":
            m = rng.random((h, w)) < 0.3
            m[0, 0] = True
            out.append(("mask", m))
        elif kind == "one_pixel":
            m = np.zeros((h, w), dtype=bool)
            m[int(rng.integers(0, h)), int(rng.integers(0, w))] = True
            out.append(("mask", m))
        elif kind == "whole":
            out.append(("mask", np.ones((h, w), dtype=bool)))
        elif kind == "border":
            m = np.zeros((h, w), dtype=bool)
            m[0, :] = m[-1, :] = m[:, 0] = m[:, -1] = True
            out.append(("mask", m))
        else:  # a box written as a mask: Rust must give what it gives for the box
            out.append(("mask", box_mask(h, w, [3, 1, 4, 5])))
    return out


def case(name, vq, dq, regs, s):
    n, c, h, w = vq.shape
    v, d = vq / QUANT, dq / QUANT
    per_image, fields = [], {k: [] for k in ["v_rrf", "v_hrf", "v_mrr", "v_det", "d_rrf", "d_hrf", "d_mrr", "d_det", "adr", "dif"]}
    for i, (kind, r) in enumerate(regs):
        mask = box_mask(h, w, r) if kind == "box" else r
        pv, pd = preprocess(v[i]), preprocess(d[i])
        check_no_ties(pv, pd, mask, s)
        mv, md = map_metrics(pv, mask, s), map_metrics(pd, mask, s)
        adr, dif = paired(pv, pd, mask, s)
        per_image.append({"vanilla": {k: num(x) for k, x in mv.items()}, "debiased": {k: num(x) for k, x in md.items()}, "adr": adr, "dif": dif})
        for k in mv:
            fields[f"v_{k}"].append(mv[k])
            fields[f"d_{k}"].append(md[k])
        fields["adr"].append(adr)
        fields["dif"].append(dif)
    a = np.asarray
    with np.errstate(invalid="ignore"):
        summ = lambda k: {"mean": num(a(fields[k]).mean()), "std": num(a(fields[k]).std())}
        pooled = {
            "n": n,
            "rrf_vanilla": summ("v_rrf"),
            "rrf": summ("d_rrf"),
            "hrf_vanilla": summ("v_hrf"),
            "hrf": summ("d_hrf"),
            "mrr_vanilla": summ("v_mrr"),
            "mrr": summ("d_mrr"),
            "adr": summ("adr"),
            "dif": summ("dif"),
            "det_vanilla": ttest(fields["v_det"], s["alpha"]),
            "det": ttest(fields["d_det"], s["alpha"]),
            "rddt": ttest(fields["adr"], s["alpha"]),
        }
    return {
        "name": name,
        "n": n,
        "channels": c,
        "height": h,
        "width": w,
        "settings": s,
        "quant": QUANT,
        "vanilla_q": vq.ravel().tolist(),
        "debiased_q": dq.ravel().tolist(),
        "regions": [{"box": r} if kind == "box" else {"mask": r.astype(int).ravel().tolist()} for kind, r in regs],
        "expected": {"per_image": per_image, "pooled": pooled},
    }


def build():
    rng = np.random.default_rng(20251204)
    n, c, h, w = 16, 3, 9, 12  # not square: swapped axes cannot pass
    v = blobs(rng, n, c, h, w)
    d = v.copy()
    d[: n * 3 // 4] //= 2  # most debiased maps damped
    d += rng.integers(-25, 26, d.shape)
    d[5] = v[5]  # one identical pair: ADR = DIF = 0 under the code's rule
    regs = regions(rng, n, h, w)
    variant = dict(DEFAULT_SETTINGS, det_outside="outside_pixels", identical_maps="compute", dif_margin=0.0, hrf_threshold=0.1001, alpha=0.05)
    single = blobs(rng, n, 1, h, w)
    return [
        case("code_defaults_rgb", v, d, regs, DEFAULT_SETTINGS),
        case("outside_pixels_compute_paper_dif", v, d, regs, variant),
        case("single_channel_regions_shuffled", single, single // 3 + 5, [regs[(i * 5) % n] for i in range(n)], DEFAULT_SETTINGS),
    ]


def main():
    cases = build()
    versions = {"python": platform.python_version(), "numpy": importlib.metadata.version("numpy"), "scipy": importlib.metadata.version("scipy")}
    doc = {"note": "Generated by tests/reference/masks_reference.py; do not edit by hand.", "versions": versions, "cases": cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {OUT.stat().st_size} bytes, {len(cases)} cases")


if __name__ == "__main__":
    main()
