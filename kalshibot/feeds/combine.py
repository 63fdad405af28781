"""Combining sources: median of fresh quotes, stale / diverging flags, refusals (pure)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kalshibot.errors import ConfigError
from kalshibot.feeds.types import SpotQuote, SpotStatus


@dataclass(frozen=True)
class SpotFeedConfig:
    """Tuning of a spot feed.

    - ``stale_after_s``: a quote older than this many seconds is stale (not used).
    - ``divergence_flag``: relative deviation from the median (fraction, 0.002 = 0.2 %) above
      which a source is flagged as diverging (still used).
    - ``divergence_max``: relative deviation above which a source is excluded; if the sources
      within it are not a strict majority of the fresh ones, the feed refuses.
    - ``min_sources``: fewest fresh, agreeing sources needed for a price.
    - ``history_1s`` / ``history_1m``: ring-buffer capacities in bars (1 h and 1 day default).
    """

    stale_after_s: float = 10.0
    divergence_flag: float = 0.002
    divergence_max: float = 0.01
    min_sources: int = 1
    history_1s: int = 3600
    history_1m: int = 1440

    def __post_init__(self) -> None:
        if not self.stale_after_s > 0:
            raise ConfigError("spot feed: stale_after_s must be > 0")
        if not 0 <= self.divergence_flag <= self.divergence_max:
            raise ConfigError("spot feed: need 0 <= divergence_flag <= divergence_max")
        if self.min_sources < 1:
            raise ConfigError("spot feed: min_sources must be >= 1")
        if self.history_1s < 1 or self.history_1m < 1:
            raise ConfigError("spot feed: history capacities must be >= 1")


def _median(values: list[Decimal]) -> Decimal:
    return Decimal(statistics.median(values))


def _age_s(now: datetime, ts: datetime) -> float:
    return max(0.0, (now - ts).total_seconds())


def combine(
    symbol: str,
    quotes: Mapping[str, SpotQuote],
    now: datetime,
    config: SpotFeedConfig,
    failed: Mapping[str, str] | None = None,
) -> SpotStatus:
    """Combine each source's latest quote for ``symbol`` into a status at ``now``.

    Fresh = age <= ``stale_after_s``. Price = median of fresh quotes, after excluding those
    deviating more than ``divergence_max`` when the rest are a strict majority; otherwise the
    status is a refusal (``ok=False``) with a reason.
    """
    failed = dict(failed or {})
    stale = tuple(sorted(s for s, q in quotes.items() if _age_s(now, q.ts) > config.stale_after_s))
    fresh = {s: q for s, q in quotes.items() if s not in stale}
    prices = {s: q.price for s, q in sorted(fresh.items())}

    def refuse(reason: str, **kw: object) -> SpotStatus:
        return SpotStatus(
            symbol=symbol,
            as_of=now,
            ok=False,
            price=None,
            reason=reason,
            stale=stale,
            failed=failed,
            prices=prices,
            **kw,  # type: ignore[arg-type]
        )

    if not fresh:
        what = "no source" if not quotes else "no fresh source"
        return refuse(
            f"{what} (stale: {', '.join(stale) or '-'}; failed: {', '.join(sorted(failed)) or '-'})"
        )
    med = _median(list(prices.values()))
    deviations = {s: float(abs(p - med) / med) for s, p in prices.items()}
    diverging = tuple(s for s, d in deviations.items() if d > config.divergence_flag)
    excluded = tuple(s for s, d in deviations.items() if d > config.divergence_max)
    used = tuple(s for s in prices if s not in excluded)
    if excluded and not len(used) * 2 > len(prices):
        worst = max(deviations.values())
        return refuse(
            f"sources diverge: max deviation {worst:.4%} > {config.divergence_max:.4%}",
            diverging=diverging,
            excluded=excluded,
            deviations=deviations,
        )
    if len(used) < config.min_sources:
        return refuse(
            f"only {len(used)} fresh agreeing source(s), need {config.min_sources}",
            diverging=diverging,
            excluded=excluded,
            deviations=deviations,
        )
    price = _median([prices[s] for s in used]) if excluded else med
    age = max(_age_s(now, fresh[s].ts) for s in used)
    return SpotStatus(
        symbol=symbol,
        as_of=now,
        ok=True,
        price=price,
        reason=None,
        age_s=age,
        used=used,
        stale=stale,
        diverging=diverging,
        excluded=excluded,
        failed=failed,
        prices=prices,
        deviations=deviations,
    )
