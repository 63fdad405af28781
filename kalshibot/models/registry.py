"""Model registry on the filesystem: ``<model_dir>/<model_id>/{model.joblib, meta.json}``.

Every training run gets its own directory (history is kept); ``<model_dir>/current`` is a small
text file naming the model id the trading engine loads (written atomically). ``meta.json``
holds: format version, model id, created time (UTC), feature version, feature names and
feature-config, model config, training window, row count, data hash (sha256), metrics (the
walk-forward report), library versions, and ``beats_market``.

Loading (``load_model`` / ``load_current_model``) reads ``meta.json`` first and refuses, with
``IncompatibleModelError``, an artefact built for another feature version or feature list, or
by another registry format; a missing model gives ``NoModelError``. Both are ``StopError``s
(exit code 3): the fix is ``kalshibot train``.

A model is marked current when it was trained and evaluated without error ("good"); whether it
beats the market is recorded (``beats_market``) and shown by ``kalshibot train``, and callers
may pass ``require_beats_market=True`` to ``save_model`` to keep the previous current model
otherwise.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import numpy.typing as npt
import pandas as pd

from kalshibot.errors import StopError
from kalshibot.features.builder import FEATURE_NAMES, FEATURE_VERSION, FeatureConfig

if TYPE_CHECKING:  # scikit-learn loads only where a model is built or loaded (issue 19)
    from kalshibot.models.ensemble import EnsembleModel

REGISTRY_FORMAT = 1
ARTEFACT = "model.joblib"
META = "meta.json"
CURRENT = "current"
_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class NoModelError(StopError):
    """No trained model where one was expected."""

    exit_code = 3


class IncompatibleModelError(StopError):
    """A stored model does not fit this version of the features or registry."""

    exit_code = 3


@dataclass
class Model:
    """A loaded model and its metadata. ``predict_proba(frame) -> P(YES)`` per row."""

    model_id: str
    path: Path
    meta: dict[str, Any]
    estimator: EnsembleModel

    def predict_proba(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        """P(YES) for every row of a ``FeatureBuilder`` frame (1-D float64)."""
        return self.estimator.predict_proba(features)

    @property
    def batch_invariant(self) -> bool:
        """A row's P(YES) does not depend on the batch it is predicted in (``ensemble``)."""
        return bool(getattr(self.estimator, "batch_invariant", False))

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.meta["created"])


def library_versions() -> dict[str, str]:
    import joblib as jl
    import scipy
    import sklearn

    return {"python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "scipy": scipy.__version__, "joblib": jl.__version__}


def jsonable(x: Any) -> Any:
    """Plain JSON values: NaN/inf become null, numpy scalars and timestamps are converted."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, float | np.floating):
        f = float(x)
        return f if math.isfinite(f) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, pd.Timestamp | datetime):
        return x.isoformat()
    return x


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_model(
    model_dir: Path,
    estimator: EnsembleModel,
    *,
    report: dict[str, Any],
    data_hash: str,
    window: tuple[pd.Timestamp, pd.Timestamp],
    rows: int,
    feature_config: FeatureConfig | None = None,
    selection: dict[str, Any] | None = None,
    created: datetime | None = None,
    require_beats_market: bool = False,
) -> Model:
    """Write a new model directory, and mark it current if it is good (module docstring)."""
    created = created or datetime.now(UTC)
    model_dir.mkdir(parents=True, exist_ok=True)
    base = f"{created:%Y%m%dT%H%M%SZ}-{data_hash[:8]}"
    model_id, n = base, 1
    while (model_dir / model_id).exists():
        n += 1
        model_id = f"{base}-{n}"
    path = model_dir / model_id
    path.mkdir()
    overall = report.get("overall") or {}
    beats = bool(overall.get("beats_market", False))
    meta: dict[str, Any] = {
        "format": REGISTRY_FORMAT,
        "model_id": model_id,
        "created": created.isoformat(),
        "feature_version": FEATURE_VERSION,
        "feature_names": list(estimator.feature_names),
        "feature_config": (feature_config or FeatureConfig()).as_dict(),
        "model_config": estimator.config.as_dict(),
        "training_window": {"start": window[0], "end": window[1]},
        "rows": rows,
        "data_hash": data_hash,
        "selection": selection or {},
        "metrics": report,
        "beats_market": beats,
        "libraries": library_versions(),
    }
    joblib.dump(estimator, path / ARTEFACT, compress=3)
    _write_atomic(path / META, json.dumps(jsonable(meta), indent=2, sort_keys=True))
    good = estimator.fitted and (beats or not require_beats_market)
    meta["current"] = good
    if good:
        _write_atomic(model_dir / CURRENT, model_id + "\n")
    return Model(model_id=model_id, path=path, meta=meta, estimator=estimator)


def current_model_id(model_dir: Path) -> str | None:
    f = model_dir / CURRENT
    if not f.is_file():
        return None
    text = f.read_text(encoding="utf-8").strip()
    return text or None


def list_models(model_dir: Path) -> list[dict[str, Any]]:
    """Metadata of every stored model, oldest first (unreadable entries are skipped)."""
    out: list[dict[str, Any]] = []
    if not model_dir.is_dir():
        return out
    for d in sorted(p for p in model_dir.iterdir() if p.is_dir()):
        try:
            out.append(json.loads((d / META).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out


def check_compatible(meta: dict[str, Any], where: str) -> None:
    """Raise ``IncompatibleModelError`` unless the metadata fits this code's features."""
    if meta.get("format") != REGISTRY_FORMAT:
        raise IncompatibleModelError(
            f"model {where} uses registry format {meta.get('format')!r}, this kalshibot reads "
            f"format {REGISTRY_FORMAT}", hint="retrain with `kalshibot train`")
    names = list(meta.get("feature_names") or [])
    if meta.get("feature_version") != FEATURE_VERSION or names != list(FEATURE_NAMES):
        extra = sorted(set(names) - set(FEATURE_NAMES))
        missing = sorted(set(FEATURE_NAMES) - set(names))
        detail = ""
        if extra or missing:
            detail = (f"; it expects {len(extra)} feature(s) we no longer build"
                      f"{' (' + ', '.join(extra[:3]) + ')' if extra else ''} and lacks "
                      f"{len(missing)}{' (' + ', '.join(missing[:3]) + ')' if missing else ''}")
        raise IncompatibleModelError(
            f"model {where} was built for features v{meta.get('feature_version')} "
            f"({len(names)} features), this kalshibot computes features v{FEATURE_VERSION} "
            f"({len(FEATURE_NAMES)} features){detail}", hint="retrain with `kalshibot train`")


def load_model(path: Path) -> Model:
    """Load one model directory; refuses incompatible artefacts (module docstring)."""
    meta_file = path / META
    if not meta_file.is_file() or not (path / ARTEFACT).is_file():
        raise NoModelError(f"no model at {path} (expected {META} and {ARTEFACT})",
                           hint="run `kalshibot train`")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise IncompatibleModelError(f"model metadata {meta_file} is not valid JSON") from exc
    check_compatible(meta, str(path))
    try:
        est = joblib.load(path / ARTEFACT)
    except Exception as exc:  # unpickling errors are many and library-specific
        raise IncompatibleModelError(
            f"model artefact {path / ARTEFACT} cannot be loaded ({type(exc).__name__})",
            hint="retrain with `kalshibot train`") from exc
    from kalshibot.models.ensemble import EnsembleModel

    if not isinstance(est, EnsembleModel) or tuple(est.feature_names) != tuple(FEATURE_NAMES):
        raise IncompatibleModelError(
            f"model artefact {path / ARTEFACT} does not match its metadata's features",
            hint="retrain with `kalshibot train`")
    return Model(model_id=str(meta.get("model_id", path.name)), path=path, meta=meta,
                 estimator=est)


def load_current_model(model_dir: Path) -> Model:
    """The model marked current in ``model_dir``; ``NoModelError`` if there is none."""
    mid = current_model_id(model_dir)
    if mid is None:
        raise NoModelError(f"no current model in {model_dir}", hint="run `kalshibot train`")
    if not _ID_RE.match(mid):
        raise IncompatibleModelError(f"{model_dir / CURRENT} names an invalid model id {mid!r}")
    return load_model(model_dir / mid)


def model_age_hours(model_dir: Path, now: datetime) -> float | None:
    """Hours since the current model was created (None if there is none); for retraining."""
    mid = current_model_id(model_dir)
    if mid is None:
        return None
    try:
        meta = json.loads((model_dir / mid / META).read_text(encoding="utf-8"))
        created = datetime.fromisoformat(meta["created"])
    except (OSError, ValueError, KeyError):
        return None
    return (now - created).total_seconds() / 3600.0


def newest_training_hours(model_dir: Path, now: datetime) -> float | None:
    """Hours since the newest stored model was trained, current or not (None: none)."""
    created: list[datetime] = []
    for meta in list_models(model_dir):
        try:
            created.append(datetime.fromisoformat(meta["created"]))
        except (KeyError, TypeError, ValueError):
            continue
    return (now - max(created)).total_seconds() / 3600.0 if created else None


def needs_retrain(model_dir: Path, now: datetime, interval_hours: float) -> bool:
    """True when the newest training (current or not) is older than ``interval_hours``, or
    none exists. A model saved but *not* made current (it lost to the market) counts as a
    training: retraining again at once would give the same verdict on the same data."""
    age = newest_training_hours(model_dir, now)
    return age is None or age >= interval_hours
