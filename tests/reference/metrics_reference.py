#!/usr/bin/env python3
"""Independent numpy + scipy reference for the biaslens-metrics crate (issue 3).

Written from the definitions, not from the Rust code:
  * Sztukiewicz et al. 2025, "Investigating the Relationship Between Debiasing and Artifact Removal
    using Saliency Maps", XAI 2025, section 3 (RRF eq. 1, ADR eq. 2, DIF eq. 3, RDDT eq. 4);
  * what the authors' code computes (docs/METHODS.md, sections #preprocess and #metrics): signed
    channel sum, per-image max-abs scaling s = (R + a) / 2 / a and |s - 0.5|, HRF / MRR / DET,
    DIF's strict 1e-3 margin, RDDT = scipy.stats.ttest_1samp(delta, 0, alternative="greater")
    with p < 0.01, and the np.allclose -> zeros rule for identical maps;
  * DetoxAI's comprehensive_metrics_torch for the fairness gaps (guarded denominators), with the
    demographic-parity bug fixed (predicted, not actual, positives) and accuracy per group guarded.

Everything is vectorised over images with numpy; the t distribution is scipy's. Bootstrap indices
come from SplitMix64 (Steele et al. 2014), evaluated in closed form (output i depends only on
seed + (i+1)*gamma) and mapped to 0..n by Lemire's multiply-high, so the Rust crate can draw the
same resamples.

Re-run (writes tests/fixtures/metrics/*.json, deterministic; the Rust test
crates/metrics/tests/reference.rs reads them):

    python3 -m venv .refenv-np && .refenv-np/bin/pip install numpy==2.4.6 scipy==1.17.1
    .refenv-np/bin/python tests/reference/metrics_reference.py

Benchmark (numpy side of BENCHMARKS.md "## Metrics"; 10,000 218x218 map pairs, necktie ROI):

    .refenv-np/bin/python tests/reference/metrics_reference.py --bench
"""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "metrics"
QUANT = 1024  # maps are stored as integers k; the value is k / 1024 (exact in f32 and f64)

DEFAULT_SETTINGS = {
    "preprocess": {"channel_reduction": "signed_sum", "normalisation": "max_abs_half"},
    "hrf_threshold": 0.05,
    "dif_margin": 1e-3,
    "alpha": 0.01,
    "det_outside": "all_pixels",
    "identical_maps": "zero",
}

# ----------------------------------------------------------------------------------------------
# SplitMix64 bootstrap indices


M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix_outputs(seed, count):
    """The first `count` SplitMix64 outputs from `seed`, vectorised (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def boot_indices(n, resamples, seed):
    """(resamples, n) indices: floor(z * n / 2^64) via 32-bit halves (n < 2^32, no overflow)."""
    z = splitmix_outputs(seed, n * resamples)
    nn = np.uint64(n)
    lo = (z & np.uint64(0xFFFFFFFF)) * nn
    hi = (z >> np.uint64(32)) * nn + (lo >> np.uint64(32))
    return (hi >> np.uint64(32)).astype(np.int64).reshape(resamples, n)


def percentile_ci(stats_, level):
    if len(stats_) == 0 or np.isnan(stats_).any():
        return None
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats_, [tail, 1.0 - tail], method="linear")
    return {"low": float(lo), "high": float(hi)}


def mean_ci(values, boot):
    if boot is None or boot["resamples"] == 0 or len(values) == 0:
        return None
    idx = boot_indices(len(values), boot["resamples"], boot["seed"])
    return percentile_ci(values[idx].mean(axis=1), boot["level"])


# ----------------------------------------------------------------------------------------------
# Saliency metrics


def preprocess(maps, settings):
    """(N, C, H, W) -> (N, H, W) per the preprocessing settings."""
    red = settings["preprocess"]["channel_reduction"]
    norm = settings["preprocess"]["normalisation"]
    if red == "signed_sum":
        r = maps.sum(axis=1)
    elif red == "abs_sum":
        r = np.abs(maps).sum(axis=1)
    else:
        r = np.sqrt((maps**2).sum(axis=1))
    if norm == "max_abs_half":
        amax = np.abs(r).max(axis=(1, 2), keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (r + amax) / 2 / amax  # the code's [0, 1] map, 0.5 = no relevance
            p = np.abs(s - 0.5)  # the code's _symmetrize
        return np.where(amax > 0, p, 0.0)
    if norm == "sum_to_one":
        tot = np.abs(r).sum(axis=(1, 2), keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(tot > 0, np.abs(r) / tot, 0.0)
    return r


def ttest(values, alpha):
    n = len(values)
    mean = float(values.mean()) if n else 0.0
    if n < 2 or (np.all(values == values[0]) and values[0] == 0):
        return {"n": n, "mean": mean, "t": None, "p": None, "significant": False}
    with np.errstate(divide="ignore", invalid="ignore"):
        res = stats.ttest_1samp(values, 0.0, alternative="greater")
    t, p = float(res.statistic), float(res.pvalue)
    return {
        "n": n,
        "mean": mean,
        "t": t if math.isfinite(t) else None,  # serde_json writes +-inf as null
        "p": None if math.isnan(p) else p,
        "significant": bool(p < alpha),
    }


def map_metrics(p, mask, settings):
    """Per-image RRF, HRF, MRR, DET of (N, H, W) maps p with boolean ROI mask (H, W)."""
    n_roi = mask.sum()
    n_out = mask.size - n_roi
    roi = p[:, mask]
    out = p[:, ~mask]
    total = p.sum(axis=(1, 2))
    roi_sum = roi.sum(axis=1)
    roi_mean = roi_sum / n_roi
    out_mean = out.sum(axis=1) / n_out if n_out else np.zeros(len(p))
    with np.errstate(divide="ignore", invalid="ignore"):
        rrf = np.where(total == 0, 0.0, roi_sum / total)
        mrr = np.where(out_mean != 0, roi_mean / out_mean, np.where(roi_mean == 0, 0.0, np.copysign(np.inf, roi_mean)))
    if settings["det_outside"] == "all_pixels":
        zeroed = p * ~mask  # the code's "map with the ROI zeroed", averaged over all H*W pixels
        det = roi_mean - zeroed.mean(axis=(1, 2))
    else:
        det = roi_mean - out_mean
    hrf = (roi > settings["hrf_threshold"]).mean(axis=1)
    return {"rrf": rrf, "hrf": hrf, "mrr": mrr, "det": det}


def paired(pv, pd, mask, settings):
    # np.allclose(d, v) per image, vectorised: |d - v| <= atol + rtol * |v| with numpy's defaults.
    same = (np.abs(pd - pv) <= 1e-8 + 1e-5 * np.abs(pv)).all(axis=(1, 2))
    rv, rd = pv[:, mask], pd[:, mask]
    adr = (rv - rd).mean(axis=1)
    dif = ((rv - rd) > settings["dif_margin"]).mean(axis=1)
    delta = rv.mean(axis=1) - rd.mean(axis=1)  # RDDT's d = mu_vanilla - mu_debiased (eq. 4)
    if settings["identical_maps"] == "zero":
        adr, dif, delta = (np.where(same, 0.0, a) for a in (adr, dif, delta))
    return adr, dif, delta


def summary(values, boot):
    return {"mean": float(values.mean()), "std": float(values.std()), "ci": mean_ci(values, boot)}


def test_summary(values, alpha, boot):
    return {"test": ttest(values, alpha), "ci": mean_ci(values, boot)}


def summarise(per, idx, settings, boot):
    a = settings["alpha"]
    g = {k: v[idx] for k, v in per.items()}
    return {
        "n": int(len(idx)),
        "rrf_vanilla": summary(g["v_rrf"], boot),
        "rrf": summary(g["d_rrf"], boot),
        "hrf_vanilla": summary(g["v_hrf"], boot),
        "hrf": summary(g["d_hrf"], boot),
        "mrr_vanilla": summary(g["v_mrr"], boot),
        "mrr": summary(g["d_mrr"], boot),
        "det_vanilla": test_summary(g["v_det"], a, boot),
        "det": test_summary(g["d_det"], a, boot),
        "adr": summary(g["adr"], boot),
        "dif": summary(g["dif"], boot),
        "rddt": test_summary(g["delta"], a, boot),
    }


def check_no_ties(pv, pd, mask, settings):
    """Fixture maps must not put a value within 1e-9 of a strict threshold, where the last bit of
    rounding (which differs between any two correct implementations) would decide the count."""
    for p in (pv, pd):
        r = p[:, mask]
        assert not (np.abs(r - settings["hrf_threshold"]) < 1e-9).any(), "HRF tie"
    diff = pv[:, mask] - pd[:, mask]
    near = np.abs(diff - settings["dif_margin"]) < 1e-9
    if settings["dif_margin"] == 0:
        near &= diff != 0  # exact zeros are exact in both implementations
    assert not near.any(), "DIF tie"


def saliency_case(name, vq, dq, roi, settings, pa, target, boot):
    n, c, h, w = vq.shape
    v = vq.astype(np.float64) / QUANT
    d = dq.astype(np.float64) / QUANT
    x, y, rw, rh = roi
    mask = np.zeros((h, w), dtype=bool)
    mask[y : y + rh, x : x + rw] = True  # rows = y, columns = x
    pv, pd = preprocess(v, settings), preprocess(d, settings)
    check_no_ties(pv, pd, mask, settings)
    mv, md = map_metrics(pv, mask, settings), map_metrics(pd, mask, settings)
    adr, dif, delta = paired(pv, pd, mask, settings)
    per = {f"v_{k}": a for k, a in mv.items()} | {f"d_{k}": a for k, a in md.items()}
    per |= {"adr": adr, "dif": dif, "delta": delta}
    groups = []
    keys = sorted(set(zip(pa.tolist(), target.tolist())))
    for kp, kt in keys:
        idx = np.nonzero((pa == kp) & (target == kt))[0]
        groups.append({"group": {"protected": kp, "target": kt}, "metrics": summarise(per, idx, settings, boot)})
    per_image = [
        {
            "vanilla": {k: float(mv[k][i]) for k in mv},
            "debiased": {k: float(md[k][i]) for k in md},
            "adr": float(adr[i]),
            "dif": float(dif[i]),
        }
        for i in range(n)
    ]
    return {
        "name": name,
        "n": n,
        "channels": c,
        "height": h,
        "width": w,
        "roi": list(roi),
        "settings": settings,
        "bootstrap": boot,
        "quant": QUANT,
        "vanilla_q": vq.ravel().tolist(),
        "debiased_q": dq.ravel().tolist(),
        "protected": pa.tolist(),
        "target": target.tolist(),
        "expected": {
            "per_image": per_image,
            "report": {"pooled": summarise(per, np.arange(n), settings, boot), "groups": groups},
        },
    }


# ----------------------------------------------------------------------------------------------
# Fairness


def fairness_stats(L, P, A):
    """Vectorised over rows: L, P, A are (B, n) 0/1 arrays. Returns dict of (B,) arrays."""

    def counts(mask):
        return {
            "tp": (mask & (L == 1) & (P == 1)).sum(-1),
            "fp": (mask & (L == 0) & (P == 1)).sum(-1),
            "tn": (mask & (L == 0) & (P == 0)).sum(-1),
            "fn": (mask & (L == 1) & (P == 0)).sum(-1),
        }

    def rates(c):
        def g(num, den):
            return np.where(den > 0, num / np.maximum(den, 1), 0.0)  # guarded denominator

        n = c["tp"] + c["fp"] + c["tn"] + c["fn"]
        tpr, tnr = g(c["tp"], c["tp"] + c["fn"]), g(c["tn"], c["fp"] + c["tn"])
        return {
            "confusion": c,
            "tpr": tpr,
            "fpr": g(c["fp"], c["fp"] + c["tn"]),
            "tnr": tnr,
            "fnr": g(c["fn"], c["tp"] + c["fn"]),
            "accuracy": g(c["tp"] + c["tn"], n),
            "balanced_accuracy": (tpr + tnr) / 2,
            "positive_rate": g(c["tp"] + c["fp"], n),
        }

    u, p, o = rates(counts(A == 0)), rates(counts(A == 1)), rates(counts(np.ones_like(A, dtype=bool)))
    gaps = {
        "equalized_odds": np.maximum(np.abs(p["tpr"] - u["tpr"]), np.abs(p["fpr"] - u["fpr"])),
        "equal_opportunity": np.abs(p["tpr"] - u["tpr"]),
        "demographic_parity": np.abs(p["positive_rate"] - u["positive_rate"]),
        "accuracy_parity": np.abs(p["accuracy"] - u["accuracy"]),
        "accuracy": o["accuracy"],
        "balanced_accuracy": o["balanced_accuracy"],
    }
    return u, p, o, gaps


def phi(a, b, c, d):
    den = float((a + b) * (c + d) * (a + c) * (b + d))
    return None if den == 0 else float((a * d - b * c) / math.sqrt(den))


def fairness_case(name, labels, preds, pa, boot):
    L, P, A = labels[None, :], preds[None, :], pa[None, :]
    u, p, o, gaps = fairness_stats(L, P, A)
    cis = {}
    if boot is not None:
        idx = boot_indices(len(labels), boot["resamples"], boot["seed"])
        _, _, _, bg = fairness_stats(labels[idx], preds[idx], pa[idx])
        cis = {k: percentile_ci(v, boot["level"]) for k, v in bg.items()}

    def scalar(r):
        return {k: ({kk: int(vv[0]) for kk, vv in v.items()} if k == "confusion" else float(v[0])) for k, v in r.items()}

    a = int(((pa == 1) & (labels == 1)).sum())
    b = int(((pa == 1) & (labels == 0)).sum())
    c = int(((pa == 0) & (labels == 1)).sum())
    d = int(((pa == 0) & (labels == 0)).sum())
    expected = {"overall": scalar(o), "unprotected": scalar(u), "protected": scalar(p)}
    expected |= {k: {"value": float(v[0]), "ci": cis.get(k)} for k, v in gaps.items()}
    expected["phi_label"] = phi(a, b, c, d)
    return {
        "name": name,
        "labels": labels.tolist(),
        "predictions": preds.tolist(),
        "protected": pa.tolist(),
        "bootstrap": boot,
        "expected": expected,
    }


# ----------------------------------------------------------------------------------------------
# Cases


def settings_with(**kw):
    s = json.loads(json.dumps(DEFAULT_SETTINGS))
    for k, v in kw.items():
        if k in ("channel_reduction", "normalisation"):
            s["preprocess"][k] = v
        else:
            s[k] = v
    return s


def blobs(rng, n, c, h, w, scale=300):
    """Integer maps: a random blob plus noise, signed."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, c, h, w), dtype=np.int64)
    for i in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (h / 4) ** 2))
        for ch in range(c):
            out[i, ch] = np.round(scale * blob * rng.uniform(0.5, 1.5) + rng.normal(0, scale / 8, (h, w)))
    return out


def build():
    rng = np.random.default_rng(20250303)
    boot = {"resamples": 200, "level": 0.95, "seed": 12345}
    cases = []
    n, c, h, w = 24, 3, 10, 14  # non-square, so a swapped axis cannot pass
    pa = rng.integers(0, 2, n)
    t = rng.integers(0, 2, n)
    v = blobs(rng, n, c, h, w)
    # Debiased: the ROI relevance damped in most images (so RDDT has something to find).
    d = v.copy()
    d[: n * 3 // 4, :, 6:9, 3:11] //= 3
    d += rng.integers(-20, 21, d.shape)
    cases.append(saliency_case("code_defaults_rgb", v, d, (3, 6, 8, 3), DEFAULT_SETTINGS, pa, t, boot))
    cases.append(
        saliency_case(
            "l2_sum_to_one_negative",
            -v,
            d - 40,
            (1, 2, 5, 4),
            settings_with(channel_reduction="l2", normalisation="sum_to_one", hrf_threshold=0.004),
            pa,
            t,
            None,
        )
    )
    cases.append(
        saliency_case(
            "abs_sum_raw_paper_dif",
            v,
            d,
            (0, 0, 4, 10),
            settings_with(
                channel_reduction="abs_sum",
                normalisation="none",
                dif_margin=0.0,
                det_outside="outside_pixels",
                identical_maps="compute",
                hrf_threshold=0.5001,
            ),
            pa,
            t,
            None,
        )
    )
    # Zero maps: some vanilla, some debiased, one both.
    z1, z2 = 7 * v[:, :1] + 1, 7 * d[:, :1] - 1  # odd offsets keep values off the 10%-of-max HRF edge
    z1[[0, 5]] = 0
    z2[[5, 7]] = 0
    cases.append(saliency_case("zero_maps_single_channel", z1, z2, (2, 3, 6, 4), DEFAULT_SETTINGS, pa, t, boot))
    # Identical maps everywhere: ADR = DIF = 0, RDDT undefined -> not significant.
    cases.append(saliency_case("identical_maps", v, v.copy(), (3, 6, 8, 3), DEFAULT_SETTINGS, pa, t, boot))
    # One-pixel ROI and strongly unbalanced groups (one image in a cell).
    pa_u = np.array([0] * 20 + [1] * 4)
    t_u = np.array([0] * 10 + [1] * 10 + [1, 1, 1, 0])
    cases.append(saliency_case("one_pixel_roi_unbalanced", v, d, (13, 9, 1, 1), DEFAULT_SETTINGS, pa_u, t_u, boot))
    # Paper settings with a different alpha and the code's HRF threshold: a significant RDDT.
    vs = v.copy()
    ds = v.copy()
    ds[:, :, 6:9, 3:11] = ds[:, :, 6:9, 3:11] // 2
    ds += rng.integers(-3, 4, ds.shape)
    cases.append(saliency_case("rddt_significant", vs, ds, (3, 6, 8, 3), settings_with(alpha=0.05), pa, t, boot))

    fair = []
    m = 60
    labels = rng.integers(0, 2, m)
    pa_f = rng.integers(0, 2, m)
    preds = np.where(rng.random(m) < 0.75, labels, 1 - labels)
    preds = np.where((pa_f == 1) & (rng.random(m) < 0.3), 1, preds)  # biased towards PA = 1
    fair.append(fairness_case("random_biased", labels, preds, pa_f, {"resamples": 300, "level": 0.9, "seed": 7}))
    # Group PA = 1 has no positives: guarded TPR = 0.
    fair.append(
        fairness_case(
            "empty_denominator",
            np.array([1, 0, 1, 0, 0, 0, 0]),
            np.array([1, 0, 0, 1, 1, 0, 0]),
            np.array([0, 0, 0, 1, 1, 1, 1]),
            None,
        )
    )
    fair.append(
        fairness_case(
            "unbalanced",
            np.array([1] * 30 + [0] * 10 + [1, 0]),
            np.array([1] * 25 + [0] * 5 + [0] * 8 + [1] * 2 + [0, 0]),
            np.array([0] * 40 + [1, 1]),
            {"resamples": 100, "level": 0.95, "seed": 99},
        )
    )
    return cases, fair


def write():
    OUT.mkdir(parents=True, exist_ok=True)
    cases, fair = build()
    note = "Generated by tests/reference/metrics_reference.py; do not edit by hand."
    (OUT / "saliency_cases.json").write_text(json.dumps({"note": note, "cases": cases}, separators=(",", ":")) + "\n")
    (OUT / "fairness_cases.json").write_text(json.dumps({"note": note, "cases": fair}, indent=1) + "\n")
    # The idx stream itself, so the Rust test checks the resampling independently of any metric.
    idx = boot_indices(17, 3, 12345)
    (OUT / "bootstrap_indices.json").write_text(
        json.dumps({"note": note, "n": 17, "resamples": 3, "seed": 12345, "indices": idx.tolist()}) + "\n"
    )
    for f in sorted(OUT.iterdir()):
        print(f"{f.relative_to(ROOT)}: {f.stat().st_size} bytes")


# ----------------------------------------------------------------------------------------------
# Benchmark


def bench(n=10_000, chunk=500, side=218):
    """All saliency metrics (code defaults, 1 channel, necktie ROI) over n map pairs, vectorised
    per chunk of 500 images. Generation is untimed; only the metric computation is."""
    rng = np.random.default_rng(42)
    settings = DEFAULT_SETTINGS
    mask = np.zeros((side, side), dtype=bool)
    mask[180:210, 49:169] = True
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    timed = 0.0
    parts = []
    for start in range(0, n, chunk):
        k = np.arange(start, start + chunk, dtype=np.float32)[:, None, None]
        cy, cx = 100 + 60 * np.sin(k * 0.37), 109 + 40 * np.cos(k * 0.11)
        base = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 1600).astype(np.float32)
        v = (base + 0.1 * rng.uniform(-1, 1, base.shape).astype(np.float32))[:, None]
        cy2 = cy + 30
        base2 = np.exp(-((yy - cy2) ** 2 + (xx - cx) ** 2) / 1600).astype(np.float32)
        d = (base2 + 0.1 * rng.uniform(-1, 1, base.shape).astype(np.float32))[:, None]
        t0 = time.perf_counter()
        pv = preprocess(v.astype(np.float64), settings)
        pd = preprocess(d.astype(np.float64), settings)
        mv, md = map_metrics(pv, mask, settings), map_metrics(pd, mask, settings)
        adr, dif, delta = paired(pv, pd, mask, settings)
        timed += time.perf_counter() - t0
        parts.append((mv["rrf"], md["rrf"], adr, dif, delta, md["det"]))
    t0 = time.perf_counter()
    rrf = np.concatenate([p[1] for p in parts])
    adr = np.concatenate([p[2] for p in parts])
    dif = np.concatenate([p[3] for p in parts])
    r = ttest(np.concatenate([p[4] for p in parts]), 0.01)
    ttest(np.concatenate([p[5] for p in parts]), 0.01)
    timed += time.perf_counter() - t0
    print(
        f"numpy: {n} map pairs {side}x{side}, necktie ROI, all saliency metrics: {timed:.3f} s "
        f"({timed * 1e6 / n:.1f} us per pair); RRF={rrf.mean():.6f} ADR={adr.mean():.6f} "
        f"DIF={dif.mean():.6f} RDDT p={r['p']}"
    )


if __name__ == "__main__":
    if "--bench" in sys.argv:
        bench()
    else:
        write()
