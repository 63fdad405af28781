"""``kalshibot`` for the reliability harness: the real CLI (``kalshibot.cli.main.main``) with
one test double: when ``RELI_CHAOS_SEED`` is set, ``--strategy meanrev`` is replaced by a
seeded "chaos" strategy that, per market and cycle, wants to buy YES (p=0.9), buy NO / exit
(p=0.1), rest a passive bid (p=0.5) or do nothing, so every run sends orders of every kind.
Everything else (CLI, settings, session, engine, execution, HTTP client, store) is the product.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

import kalshibot.session as session
from kalshibot.strategy.base import FairValue, MarketView


class ChaosStrategy:
    name = "chaos"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        out = []
        for _ in views:
            p = self.rng.choice([0.9, 0.1, 0.5, None])
            out.append(FairValue(p, "chaos" if p is not None else "chaos: no opinion"))
        return out


def main() -> None:
    seed = os.environ.get("RELI_CHAOS_SEED")
    if seed is not None:
        orig = session.build_strategy

        def build(name: str, **kw: object) -> object:
            if name == "meanrev":
                return ChaosStrategy(int(seed))
            return orig(name, **kw)  # type: ignore[arg-type]

        session.build_strategy = build  # type: ignore[assignment]
    from kalshibot.cli.main import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
