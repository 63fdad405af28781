"""Mean reversion on the YES mid: z-score against a rolling mean of recent mids.

Entry when ``|z| >= z_entry`` (fair value = the rolling mean, so the edge rule buys the cheap
side only if the reversion pays the fees); exit when ``|z| <= z_exit``; no new entries in the
last ``no_entry_last_s`` seconds before close. State (recent mids) lives in the instance and
only ever sees books up to the decision time.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Sequence

from kalshibot.strategy.base import FairValue, MarketView


class MeanReversionStrategy:
    name = "meanrev"

    def __init__(
        self,
        *,
        window: int = 30,
        z_entry: float = 2.0,
        z_exit: float = 0.5,
        min_std: float = 0.005,
        no_entry_last_s: float = 120.0,
    ) -> None:
        self.window = window
        self.z_entry = z_entry
        self.z_exit = z_exit
        self.min_std = min_std
        self.no_entry_last_s = no_entry_last_s
        self._mids: dict[str, deque[float]] = {}

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        out = []
        for v in views:
            mid = v.book.mid()
            if mid is None:
                out.append(FairValue(None, "no two-sided book"))
                continue
            hist = self._mids.setdefault(v.market.ticker, deque(maxlen=self.window))
            hist.append(mid.to_float())
            if len(hist) < self.window:
                out.append(FairValue(None, f"warming up ({len(hist)}/{self.window} mids)"))
                continue
            mean = statistics.fmean(hist)
            std = max(statistics.pstdev(hist), self.min_std)
            z = (mid.to_float() - mean) / std
            late = v.market.seconds_to_close(v.now) < self.no_entry_last_s
            if v.position.side is not None and abs(z) <= self.z_exit:
                out.append(
                    FairValue(
                        mean,
                        f"z={z:+.2f} back inside {self.z_exit}: exit",
                        allow_entry=False,
                        force_exit=True,
                    )
                )
            elif abs(z) >= self.z_entry:
                out.append(
                    FairValue(mean, f"z={z:+.2f} beyond {self.z_entry}", allow_entry=not late)
                )
            else:
                out.append(FairValue(None, f"z={z:+.2f} inside the band"))
        return out
