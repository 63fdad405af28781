"""The edge (model) strategy of backtests lives in ``kalshibot.strategy.model_edge``: the same
class ``trade --strategy edge`` runs, given precomputed features (``PrecomputedFeatures``) and,
without ``--model``, walk-forward retraining (``WalkForward``). It is built by the one registry,
``kalshibot.strategy.registry``. Names re-exported here for callers of the backtest package.
"""

from kalshibot.strategy.model_edge import (
    ModelEdgeStrategy,
    PrecomputedFeatures,
    WalkForward,
    in_sample_overlap,
)

__all__ = ["ModelEdgeStrategy", "PrecomputedFeatures", "WalkForward", "in_sample_overlap"]
