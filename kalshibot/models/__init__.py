"""Models: ensemble, leak-free evaluation against the market, training, registry.

Public API (what ``kalshibot train`` and the trading engine call)::

    from kalshibot.models import load_current_model, train_model, save_model, TrainConfig

    model = load_current_model(settings.model_dir)       # refuses models built for other features
    p_yes = model.predict_proba(feature_rows)             # np.ndarray, one P(YES) per row

    result = train_model(HistoryFrames(...), TrainConfig(n_folds=3))   # folds through joblib
    result.report["overall"]["verdict"]                  # plain statement vs the market
    saved = save_model(settings.model_dir, result.model, report=result.report,
                       data_hash=result.data_hash, window=result.window, rows=result.rows)

    needs_retrain(settings.model_dir, clock.now(), settings.retrain_interval_hours)

``training.run_training`` is the whole ``kalshibot train`` pipeline (store -> features ->
evaluation -> registry) for the CLI and for ``trade --train``. Modules: ``ensemble`` (LR + RF +
HistGradientBoosting averaged then Platt/isotonic calibrated, or stacked), ``evaluation``
(walk-forward grouped splits; Brier, log loss, ECE, reliability, skill vs market and base
rate, P&L after fees), ``training``, ``registry`` (joblib + JSON metadata, ``current``
marker), ``synthetic`` (seeded frames for tests and benchmarks).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kalshibot.models.ensemble import EnsembleModel, ModelConfig
    from kalshibot.models.registry import (
        IncompatibleModelError,
        Model,
        NoModelError,
        list_models,
        load_current_model,
        load_model,
        needs_retrain,
        save_model,
    )
    from kalshibot.models.training import TrainConfig, TrainResult, train_model

#: name -> submodule; imported on first use so ``kalshibot --help`` / ``status`` never load
#: scikit-learn (issue 19: start-up CPU).
_WHERE = {
    "EnsembleModel": "ensemble", "ModelConfig": "ensemble",
    "IncompatibleModelError": "registry", "Model": "registry", "NoModelError": "registry",
    "list_models": "registry", "load_current_model": "registry", "load_model": "registry",
    "needs_retrain": "registry", "save_model": "registry",
    "TrainConfig": "training", "TrainResult": "training", "train_model": "training",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"kalshibot.models.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'kalshibot.models' has no attribute {name!r}")


__all__ = [
    "EnsembleModel", "IncompatibleModelError", "Model", "ModelConfig", "NoModelError",
    "TrainConfig", "TrainResult", "list_models", "load_current_model", "load_model",
    "needs_retrain", "save_model", "train_model",
]
