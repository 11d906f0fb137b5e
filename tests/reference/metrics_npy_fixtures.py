#!/usr/bin/env python3
"""Writes small .npy files with numpy itself, for the biaslens-npy reader tests.

Re-run: .refenv-np/bin/python tests/reference/metrics_npy_fixtures.py
(writes crates/npy/tests/data/*.npy; deterministic).
"""

from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "crates" / "npy" / "tests" / "data"
OUT.mkdir(parents=True, exist_ok=True)
base = np.arange(24).reshape(2, 3, 4)
np.save(OUT / "f32_2x3x4.npy", (base / 8 - 1).astype("<f4"))
np.save(OUT / "f64_2x3x4.npy", (base / 8 - 1).astype("<f8"))
np.save(OUT / "f64_big_endian.npy", (base / 8 - 1).astype(">f8"))
np.save(OUT / "i64_6.npy", np.array([0, 1, -1, 2**40, 5, 7], dtype="<i8"))
np.save(OUT / "i32_2x3.npy", np.array([[1, -2, 3], [4, 5, -6]], dtype="<i4"))
np.save(OUT / "u8_5.npy", np.array([0, 1, 255, 7, 1], dtype="u1"))
np.save(OUT / "bool_4.npy", np.array([True, False, False, True]))
np.save(OUT / "f32_scalar.npy", np.float32(2.5))
np.save(OUT / "f64_fortran.npy", np.asfortranarray(base.astype("<f8")))
np.save(OUT / "i16_3.npy", np.array([1, 2, 3], dtype="<i2"))
np.save(OUT / "f32_empty_0x3.npy", np.zeros((0, 3), dtype="<f4"))
for f in sorted(OUT.iterdir()):
    print(f.name, f.stat().st_size)
