"""Small, fast training fixtures (tiny ensembles on seeded synthetic history)."""

from __future__ import annotations

import pandas as pd
import pytest

from kalshibot.features import FeatureBuilder
from kalshibot.models.ensemble import ModelConfig
from kalshibot.models.synthetic import synthetic_history
from kalshibot.models.training import TrainConfig, TrainResult, train_model

FAST = ModelConfig(rf_trees=8, rf_max_depth=5, hgb_iter=15, rf_min_leaf=20, hgb_min_leaf=40)


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return FeatureBuilder().batch(synthetic_history(8_000, seed=5))


@pytest.fixture(scope="session")
def trained(frame: pd.DataFrame) -> TrainResult:
    return train_model(frame, TrainConfig(n_folds=2, n_jobs=1, model=FAST))
