"""The probability model: LR + random forest + histogram gradient boosting, averaged, calibrated.

``EnsembleModel.fit(X, y, groups_order)`` fits the three base models on the earlier part of the
training events and an isotonic (or Platt) calibrator, mapping the averaged probability to the
observed frequency, on the later part (a time-ordered hold-out, so calibration never sees the
rows the base models learned from). ``predict_proba(frame)`` takes any DataFrame holding the
feature columns (extra columns are ignored) and returns a 1-D ``float64`` array of P(YES),
clipped to [0.001, 0.999], one per row: pass every market of a cycle at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from kalshibot.errors import BugError, DataError

P_MIN, P_MAX = 1e-3, 1 - 1e-3


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters (recorded in the registry metadata)."""

    rf_trees: int = 40
    rf_max_depth: int = 8
    rf_min_leaf: int = 100
    rf_max_samples: float = 0.2
    hgb_iter: int = 100
    hgb_lr: float = 0.1
    hgb_max_leaf_nodes: int = 15
    hgb_min_leaf: int = 200
    hgb_l2: float = 1.0
    lr_c: float = 1.0
    calibration: str = "isotonic"  # or "platt"
    calib_fraction: float = 0.2
    seed: int = 7
    n_jobs: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class EnsembleModel:
    """Averaged LR/RF/HGB, then calibrated. See the module docstring."""

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
        hgb = HistGradientBoostingClassifier(
            max_iter=c.hgb_iter, learning_rate=c.hgb_lr, max_leaf_nodes=c.hgb_max_leaf_nodes,
            min_samples_leaf=c.hgb_min_leaf, l2_regularization=c.hgb_l2, early_stopping=False,
            random_state=c.seed)
        return [("lr", lr), ("rf", rf), ("hgb", hgb)]

    def _matrix(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise DataError(f"feature frame lacks {len(missing)} model feature(s): "
                            f"{', '.join(missing[:5])}")
        return frame.loc[:, list(self.feature_names)].to_numpy(dtype=np.float64)

    def _raw(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        ps = [m.predict_proba(x)[:, 1] for _, m in self.members]
        return np.mean(np.vstack(ps), axis=0)

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
        raw = self._raw(self._matrix(frame))
        kind, cal = self.calibrator
        if kind == "platt":
            lo = np.log(np.clip(raw, P_MIN, P_MAX) / (1 - np.clip(raw, P_MIN, P_MAX)))
            p = cal.predict_proba(lo.reshape(-1, 1))[:, 1]
        else:
            p = cal.predict(raw)
        out: npt.NDArray[np.float64] = np.clip(np.asarray(p, dtype=np.float64), P_MIN, P_MAX)
        return out

    def member_proba(self, frame: pd.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
        """Uncalibrated P(YES) of each base model (diagnostics)."""
        x = self._matrix(frame)
        return {name: m.predict_proba(x)[:, 1] for name, m in self.members}
