"""Issue 22: a row's P(YES) is the same bits alone and inside any batch.

The backtest predicts its precomputed feature frame in large blocks and looks rows up, while
`trade` predicts the few rows of each cycle; identical fair values need a model whose output
for a row does not depend on the other rows. Before, the LR member's BLAS product rounded
differently for different batch shapes, so block prediction was not exact.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from kalshibot.models.ensemble import EnsembleModel
from kalshibot.models.training import TrainConfig, TrainResult, train_model
from tests.models.conftest import FAST


def _assert_batch_invariant(model: EnsembleModel, frame: pd.DataFrame) -> None:
    assert model.batch_invariant
    whole = model.predict_proba(frame)
    rng = np.random.default_rng(3)
    picks = rng.choice(len(frame), size=40, replace=False)
    for i in picks:  # alone
        assert model.predict_proba(frame.iloc[[i]])[0] == whole[i]
    for n in (2, 3, 7, 64, 1001):  # inside batches of other sizes, at other offsets
        start = int(rng.integers(0, len(frame) - n))
        np.testing.assert_array_equal(model.predict_proba(frame.iloc[start:start + n]),
                                      whole[start:start + n])
    shuffled = rng.permutation(len(frame))
    np.testing.assert_array_equal(model.predict_proba(frame.iloc[shuffled]), whole[shuffled])


def test_a_rows_probability_is_the_same_alone_and_in_any_batch(
        trained: TrainResult, frame: pd.DataFrame) -> None:
    _assert_batch_invariant(trained.model, frame)


@pytest.mark.parametrize("combine, calibration", [("average", "isotonic"), ("stack", "platt")])
def test_other_combiners_are_batch_invariant(frame: pd.DataFrame, combine: str,
                                             calibration: str) -> None:
    cfg = TrainConfig(n_folds=1, n_jobs=1,
                      model=replace(FAST, combine=combine, calibration=calibration))
    _assert_batch_invariant(train_model(frame, cfg).model, frame)


def test_forest_sum_matches_scikit_learn_and_ignores_n_jobs(trained: TrainResult,
                                                            frame: pd.DataFrame) -> None:
    """The forest member equals scikit-learn's own prediction (one thread) whatever ``n_jobs``
    it was fitted with: the trees are summed in their fitted order."""
    from kalshibot.models.ensemble import _member_proba

    model = trained.model
    rf = dict(model.members)["rf"]
    x = model._matrix(frame.iloc[:500])
    ours = _member_proba(rf, x)
    np.testing.assert_array_equal(ours, rf.predict_proba(x)[:, 1])
    rf.steps[-1][1].n_jobs = 2
    try:
        np.testing.assert_array_equal(_member_proba(rf, x), ours)
    finally:
        rf.steps[-1][1].n_jobs = 1
