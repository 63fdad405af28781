"""The probability model: LR + random forest + histogram gradient boosting, combined, calibrated.

``EnsembleModel.fit(frame, y, calib_mask)`` fits the three base models on the earlier part of
the training events and the combiner on the later part (``calib_mask``: a time-ordered
hold-out of whole events, so calibration never sees the rows the base models learned from):

- ``combine="average"`` (default): the mean of the three probabilities, then calibrated by
  ``calibration="platt"`` (default; logistic regression on the logit) or ``"isotonic"``;
- ``combine="stack"``: a logistic regression on the three members' logits (stacking, which is
  also a Platt-style calibration).

Defaults are deliberately heavily regularised (large leaves, shallow boosting): snapshots of one
market share one outcome, so the number of independent labels is the number of markets, not of
rows, and flexible learners memorise events. Platt beat isotonic out of sample on the generated
sample data for the same reason (few events in the calibration hold-out).

``predict_proba(frame)`` takes any DataFrame holding the feature columns (extra columns are
ignored, order does not matter) and returns a 1-D ``float64`` array of P(YES), clipped to
[0.001, 0.999], one per row: pass every market of a cycle at once.

**Batch invariant** (``batch_invariant = True``): a row's probability is the same bits whether
it is predicted alone or inside any batch, so a backtest may predict its whole precomputed
feature frame once and look rows up while `trade` predicts a few rows per cycle, and both get
identical fair values. Linear parts (the LR member, Platt, stacking) are summed column by
column in a fixed order (``_rowdot``) instead of a BLAS product, whose rounding depends on the
batch's shape; the forest's trees are summed one after another in their fitted order (what
scikit-learn does with ``n_jobs=1``, whatever ``n_jobs`` the model was fitted with); the
boosting trees are per-row already; the remaining steps are element-wise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from kalshibot.errors import BugError, DataError

P_MIN, P_MAX = 1e-3, 1 - 1e-3


class ObservedColumns(TransformerMixin, BaseEstimator):
    """Drops the columns that were entirely NaN at fit time (an identity otherwise).

    Histogram gradient boosting fails ("window shape cannot be larger than input array shape")
    on a feature with no value at all, e.g. every spot feature of a store recorded without
    spot prices; the imputers of the other members keep such columns as constants."""

    def fit(self, x: npt.ArrayLike, y: Any = None) -> ObservedColumns:
        self.keep_ = ~np.isnan(np.asarray(x, dtype=np.float64)).all(axis=0)
        return self

    def transform(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.asarray(x, dtype=np.float64)[:, self.keep_]
        return out


def _rowdot(x: npt.NDArray[np.float64], w: npt.NDArray[np.float64],
            b: float) -> npt.NDArray[np.float64]:
    """``x @ w + b`` summed column by column in column order: each row's result depends on
    that row alone (a BLAS product's rounding depends on the batch's shape)."""
    acc: npt.NDArray[np.float64] = x[:, 0] * w[0]
    for j in range(1, len(w)):
        acc = acc + x[:, j] * w[j]
    out: npt.NDArray[np.float64] = acc + b
    return out


def _lr_proba(lr: LogisticRegression, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """P(class 1) of a fitted binary ``LogisticRegression``, batch invariant."""
    out: npt.NDArray[np.float64] = expit(_rowdot(np.asarray(x, dtype=np.float64),
                                                 lr.coef_[0], float(lr.intercept_[0])))
    return out


def _member_proba(pipe: Pipeline, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """P(YES) of one fitted member pipeline, batch invariant (see the module docstring)."""
    for _, step in pipe.steps[:-1]:
        x = step.transform(x)  # imputer, scaler, column filter: element/column-wise
    est = pipe.steps[-1][1]
    if isinstance(est, LogisticRegression):
        return _lr_proba(est, x)
    if isinstance(est, RandomForestClassifier):
        x32 = np.ascontiguousarray(x, dtype=np.float32)  # the trees' input type
        acc = np.zeros(len(x32), dtype=np.float64)
        for tree in est.estimators_:
            acc += tree.predict_proba(x32, check_input=False)[:, 1]
        acc /= len(est.estimators_)
        return acc
    out: npt.NDArray[np.float64] = np.asarray(est.predict_proba(x)[:, 1], dtype=np.float64)
    return out


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters (recorded in the registry metadata)."""

    rf_trees: int = 40
    rf_max_depth: int = 8
    rf_min_leaf: int = 500
    rf_max_samples: float = 0.2
    hgb_iter: int = 60
    hgb_lr: float = 0.05
    hgb_max_leaf_nodes: int = 8
    hgb_min_leaf: int = 1000
    hgb_l2: float = 1.0
    lr_c: float = 1.0
    combine: str = "average"  # or "stack" (logistic regression on the members' logits)
    calibration: str = "platt"  # after "average": "platt" or "isotonic"
    calib_fraction: float = 0.2
    seed: int = 7
    n_jobs: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class EnsembleModel:
    """LR/RF/HGB, averaged then calibrated (or stacked). See the module docstring."""

    #: ``predict_proba(frame)[i]`` depends on row ``i`` alone (see the module docstring)
    batch_invariant = True

    def __init__(self, feature_names: Sequence[str], config: ModelConfig | None = None) -> None:
        self.feature_names = tuple(feature_names)
        self.config = config or ModelConfig()
        self.members: list[tuple[str, Any]] = []
        self.calibrator: Any = None
        self.fitted = False

    def _build(self) -> list[tuple[str, Any]]:
        c = self.config
        lr: Pipeline = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
            LogisticRegression(C=c.lr_c, max_iter=200, tol=1e-3))
        rf: Pipeline = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            RandomForestClassifier(n_estimators=c.rf_trees, max_depth=c.rf_max_depth,
                                   min_samples_leaf=c.rf_min_leaf, max_samples=c.rf_max_samples,
                                   max_features="sqrt", n_jobs=c.n_jobs, random_state=c.seed))
        hgb: Pipeline = make_pipeline(ObservedColumns(), HistGradientBoostingClassifier(
            max_iter=c.hgb_iter, learning_rate=c.hgb_lr, max_leaf_nodes=c.hgb_max_leaf_nodes,
            min_samples_leaf=c.hgb_min_leaf, l2_regularization=c.hgb_l2, early_stopping=False,
            random_state=c.seed))
        return [("lr", lr), ("rf", rf), ("hgb", hgb)]

    def _matrix(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise DataError(f"feature frame lacks {len(missing)} model feature(s): "
                            f"{', '.join(missing[:5])}")
        return frame.loc[:, list(self.feature_names)].to_numpy(dtype=np.float64)

    def _logits(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        ps = np.clip(np.column_stack([_member_proba(m, x) for _, m in self.members]),
                     P_MIN, P_MAX)
        out: npt.NDArray[np.float64] = np.log(ps / (1 - ps))
        return out

    def _raw(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        acc = np.zeros(len(x), dtype=np.float64)
        for _, m in self.members:
            acc = acc + _member_proba(m, x)
        out: npt.NDArray[np.float64] = acc / len(self.members)
        return out

    def fit(self, frame: pd.DataFrame, y: npt.ArrayLike,
            calib_mask: npt.NDArray[np.bool_] | None = None) -> EnsembleModel:
        """Fit on ``frame``; rows where ``calib_mask`` is True are held out for calibration.

        Without a mask (or if either side would hold a single class) all rows fit the base
        models and the calibrator is fitted on their own (in-sample) predictions.
        """
        x = self._matrix(frame)
        ya = np.asarray(y, dtype=np.float64)
        if len(np.unique(ya)) < 2:
            raise DataError("training data holds a single outcome; need both yes and no markets")
        if calib_mask is None or calib_mask.all() or not calib_mask.any():
            fit_sel = np.ones(len(ya), bool)
            cal_sel = fit_sel
        else:
            fit_sel, cal_sel = ~calib_mask, calib_mask
            if len(np.unique(ya[fit_sel])) < 2 or len(np.unique(ya[cal_sel])) < 2:
                fit_sel = np.ones(len(ya), bool)
                cal_sel = fit_sel
        self.members = self._build()
        for _, m in self.members:
            m.fit(x[fit_sel], ya[fit_sel])
        if self.config.combine == "stack":
            z = self._logits(x[cal_sel])
            stack = LogisticRegression(C=1.0).fit(z, ya[cal_sel])
            self.calibrator = ("stack", stack)
            self.fitted = True
            return self
        raw = self._raw(x[cal_sel])
        if self.config.calibration == "platt":
            lo = np.log(np.clip(raw, P_MIN, P_MAX) / (1 - np.clip(raw, P_MIN, P_MAX)))
            cal = LogisticRegression(C=1e4).fit(lo.reshape(-1, 1), ya[cal_sel])
            self.calibrator = ("platt", cal)
        else:
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(raw, ya[cal_sel])
            self.calibrator = ("isotonic", iso)
        self.fitted = True
        return self

    def predict_proba(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """P(YES) per row of ``frame`` (1-D float64, in [0.001, 0.999])."""
        if not self.fitted:
            raise BugError("predict_proba called on an unfitted model")
        if len(frame) == 0:
            return np.empty(0, dtype=np.float64)
        x = self._matrix(frame)
        kind, cal = self.calibrator
        if kind == "stack":
            out_s: npt.NDArray[np.float64] = np.clip(_lr_proba(cal, self._logits(x)),
                                                     P_MIN, P_MAX)
            return out_s
        raw = self._raw(x)
        if kind == "platt":
            lo = np.log(np.clip(raw, P_MIN, P_MAX) / (1 - np.clip(raw, P_MIN, P_MAX)))
            p = _lr_proba(cal, lo.reshape(-1, 1))
        else:
            p = cal.predict(raw)
        out: npt.NDArray[np.float64] = np.clip(np.asarray(p, dtype=np.float64), P_MIN, P_MAX)
        return out

    def member_proba(self, frame: pd.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
        """Uncalibrated P(YES) of each base model (diagnostics)."""
        x = self._matrix(frame)
        return {name: _member_proba(m, x) for name, m in self.members}
