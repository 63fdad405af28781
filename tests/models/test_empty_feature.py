"""A feature with no value at all (spot features of a store without spot history) must not
crash the fit. Fails on f6e3055: HistGradientBoosting raised "ValueError: window shape cannot
be larger than input array shape" (``train`` on a synced series without ``--spot``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kalshibot.models.ensemble import EnsembleModel


def test_an_all_nan_feature_column_fits_and_predicts() -> None:
    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(size=n)
    frame = pd.DataFrame({"a": x, "empty": np.full(n, np.nan)})
    y = (x + rng.normal(scale=0.5, size=n) > 0).astype(float)
    model = EnsembleModel(["a", "empty"]).fit(frame, y)
    p = model.predict_proba(frame)
    assert p.shape == (n,) and np.all((p > 0) & (p < 1))
    assert p[x > 1].mean() > p[x < -1].mean()
