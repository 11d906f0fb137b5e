#!/usr/bin/env python3
"""Independent scipy + statsmodels reference for the small statistics of biaslens-metrics.

Checks, on seeded random and hand-picked edge cases, the functions of crates/metrics/src/stats.rs
that the findings and the report use (the Rust test is crates/metrics/tests/stats_reference.rs):

  * holm            statsmodels.stats.multitest.multipletests(p, method="holm")[1]. Missing
                    p-values (None, an undefined test) are left out of the family: only the
                    present ones are passed to statsmodels, and the missing ones stay null.
  * spearman        scipy.stats.spearmanr(x, y).statistic (average ranks for ties; NaN where it is
                    undefined: a constant side, a NaN input).
  * mean_t_interval scipy.stats.t.interval(level, n - 1, loc=mean, scale=scipy.stats.sem(x)) for
                    levels 0.9, 0.95 and 0.99.
  * ttest_greater   scipy.stats.ttest_1samp(x, 0, alternative="greater"): statistic and p-value.
  * two_sided_p     scipy.stats.ttest_1samp(x, 0, alternative="two-sided").pvalue.

Edge cases: ties (Holm and Spearman), n = 0, 1, 2, constant vectors (zero and non-zero: scipy
gives NaN or +-inf), p-values at and near 0 and 1, large |t| (tiny one- and two-sided p-values on
either side), NaN inputs, and cases that tell Holm from Bonferroni and Hochberg, and average from
ordinal ranks.

JSON encoding: NaN -> null, +-inf -> the strings "inf" / "-inf" (JSON has neither); NaN inputs
(Spearman) are null as well. Inputs are rounded to 6 decimals so that every parser reads the same
double. The package versions used are recorded in the fixture under "versions".

Deterministic (numpy.random.default_rng(20250507)). Re-run from the repository root:

    /work/.refenv051/bin/python tests/reference/stats_reference.py

In general: a venv with numpy, scipy and statsmodels, e.g. one made by setup-refenv.sh
(`REFENV_DIR=.refenv bash ../shared/tools/setup-refenv.sh`, then `.refenv/bin/pip install
statsmodels`; statsmodels is not among the packages it pins).
Writes tests/fixtures/metrics/stats_cases.json.
"""

import importlib.metadata
import json
import math
import platform
import warnings
from pathlib import Path

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "metrics" / "stats_cases.json"
LEVELS = [0.9, 0.95, 0.99]

rng = np.random.default_rng(20250507)


def num(x):
    """A float for JSON: NaN -> None, +-inf -> "inf" / "-inf"."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def vec(a):
    """Inputs rounded to 6 decimals (short decimal strings: every parser reads the same double)."""
    return [None if (v is None or math.isnan(v)) else round(float(v), 6) for v in a]


def as_array(v):
    return np.array([np.nan if x is None else x for x in v], dtype=float)


# ----------------------------------------------------------------------------------------------
# Holm


def holm_case(name, p):
    present = [x for x in p if x is not None]
    adjusted = list(multipletests(present, method="holm")[1]) if present else []
    it = iter(adjusted)
    want = [None if x is None else num(next(it)) for x in p]
    return {"name": name, "p": p, "holm": want}


def holm_cases():
    return [
        # statsmodels' documentation example; 0.04 and 0.03 share 0.06 (the step-down maximum).
        holm_case("textbook", [0.01, 0.04, 0.03, 0.005]),
        # Holm 0.03, 0.04, 0.04; Bonferroni 0.03, 0.06, 0.09; Hochberg 0.03, 0.03, 0.03.
        holm_case("step_down_not_bonferroni", [0.01, 0.02, 0.03]),
        # None entries are not tests: m = 4 here, not 6.
        holm_case("missing_entries", [0.01, None, 0.04, 0.03, None, 0.005]),
        holm_case("all_missing", [None, None]),
        holm_case("empty", []),
        holm_case("single", [0.3]),
        holm_case("ties", [0.02, 0.02, 0.02, 0.001, 0.02]),
        holm_case("near_one_and_capped", [0.9, 0.95, 0.999, 0.5, 0.2]),
        holm_case("exact_zero_and_one", [0.0, 1.0, 0.0, 0.25]),
        holm_case("tiny", [1e-300, 3e-12, 2.5e-8, 0.004]),
        holm_case("random_small", vec(rng.uniform(size=20) ** 4)),
        holm_case("random_with_missing",
                  [None if m else v for v, m in zip(vec(rng.uniform(size=12) ** 2), rng.uniform(size=12) < 0.25)]),
    ]


# ----------------------------------------------------------------------------------------------
# Spearman


def spearman_case(name, x, y):
    x, y = vec(x), vec(y)
    r = stats.spearmanr(as_array(x), as_array(y)).statistic
    return {"name": name, "x": x, "y": y, "rho": num(r)}


def spearman_cases():
    n = 30
    cx = rng.normal(size=n)
    cy = 0.6 * cx + rng.normal(size=n)
    ix = rng.integers(0, 5, size=40).astype(float)
    iy = ix + rng.integers(-2, 3, size=40)
    return [
        spearman_case("scipy_doc_tie", [1, 2, 3, 4, 5], [5, 6, 7, 8, 7]),
        # Ties on both sides: average ranks give a different value than ordinal ranks.
        spearman_case("ties_both_sides", [1, 1, 2, 2, 3, 3, 3], [2, 1, 2, 3, 3, 3, 1]),
        spearman_case("three_no_ties", [0.5, -1.0, 2.0], [3.0, 1.0, 2.0]),
        spearman_case("perfect_negative", [1, 2, 3, 4, 5, 6], [9, 7, 5, 3, 1, -1]),
        spearman_case("monotone_nonlinear", [1, 2, 3, 4, 5], [1, 8, 27, 64, 125]),
        spearman_case("constant_x", [1, 1, 1, 1], [1, 2, 3, 4]),
        spearman_case("constant_y", [4, 3, 2, 1], [0.5, 0.5, 0.5, 0.5]),
        spearman_case("nan_input", [1, 2, float("nan"), 4], [2, 1, 4, 3]),
        # n = 2: scipy returns +-1 (any two distinct pairs are perfectly ranked); biaslens: None.
        spearman_case("two_pairs", [1, 2], [3, 4]),
        spearman_case("two_pairs_reversed", [1, 2], [4, 3]),
        spearman_case("random_continuous", cx, cy),
        spearman_case("random_many_ties", ix, iy),
    ]


# ----------------------------------------------------------------------------------------------
# One-sample t: test and interval


def t_case(name, x):
    x = vec(x)
    a = np.array(x, dtype=float)
    n = len(a)
    with np.errstate(all="ignore"):
        greater = stats.ttest_1samp(a, 0.0, alternative="greater")
        two = stats.ttest_1samp(a, 0.0, alternative="two-sided")
        mean = float(np.mean(a)) if n else float("nan")
        sem = stats.sem(a) if n else float("nan")
        intervals = []
        for level in LEVELS:
            lo, hi = stats.t.interval(level, n - 1, loc=mean, scale=sem) if n >= 1 else (np.nan, np.nan)
            intervals.append({"level": level, "low": num(lo), "high": num(hi)})
    return {
        "name": name,
        "x": x,
        "mean": num(mean),
        "t": num(greater.statistic),
        "p_greater": num(greater.pvalue),
        "p_two_sided": num(two.pvalue),
        "intervals": intervals,
    }


def t_cases():
    return [
        t_case("empty", []),
        t_case("single", [2.0]),
        t_case("two", [0.3, 1.1]),
        t_case("two_negative", [-0.3, -1.1]),
        t_case("hand_worked", [1, 2, 3, 6]),
        t_case("constant_zero", [0, 0, 0]),
        t_case("constant_positive", [2, 2, 2, 2]),
        t_case("constant_negative", [-1.5, -1.5, -1.5, -1.5]),
        # t close to 0: one-sided p near 0.5, two-sided near 1.
        t_case("t_near_zero", [-1, 1, -2, 2, 0.001]),
        # mean slightly negative: one-sided p a little above 0.5.
        t_case("slightly_negative", vec(rng.normal(-0.05, 1.0, size=25))),
        # strongly negative: one-sided p near 1, two-sided small.
        t_case("negative_p_greater_near_one", vec(rng.normal(-0.6, 1.0, size=30))),
        # very large |t|: tiny one-sided (positive) or two-sided (negative) p-values.
        t_case("very_positive", vec(rng.normal(3.0, 0.5, size=20))),
        t_case("very_negative", vec(rng.normal(-3.0, 0.5, size=20))),
        # |t| ~ 40: the one-sided p of the negative case rounds to 1 in f64; the two-sided is ~1e-30.
        t_case("extreme_positive", vec(rng.normal(2.0, 0.25, size=30))),
        t_case("extreme_negative", vec(rng.normal(-2.0, 0.25, size=30))),
        t_case("random_n5", vec(rng.normal(0.2, 1.0, size=5))),
        t_case("random_n50", vec(rng.normal(0.2, 1.0, size=50))),
        t_case("random_n1000", vec(rng.normal(0.02, 1.0, size=1000))),
        t_case("tied_values", [0.5, 0.5, 1.0, 1.0, 1.0, -0.25]),
    ]


# ----------------------------------------------------------------------------------------------


def one_per_line(name, items):
    body = ",\n".join("  " + json.dumps(item, allow_nan=False) for item in items)
    return f' "{name}": [\n{body}\n ]'


def main():
    # scipy warns on every NaN it returns (constant input, n < 2); those cases are intended.
    warnings.simplefilter("ignore")
    versions = {"python": platform.python_version()}
    for pkg in ("numpy", "scipy", "statsmodels"):
        versions[pkg] = importlib.metadata.version(pkg)
    head = {
        "note": "Generated by tests/reference/stats_reference.py; do not edit by hand. "
        "NaN -> null, +-inf -> \"inf\" / \"-inf\".",
        "versions": versions,
    }
    parts = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in head.items()]
    parts.append(one_per_line("holm", holm_cases()))
    parts.append(one_per_line("spearman", spearman_cases()))
    parts.append(one_per_line("t", t_cases()))
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    json.loads(text)  # well-formed
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
