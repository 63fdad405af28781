"""Bad input: hypothesis fuzzing of the wire parsers and the config loader. Only the project's
typed errors (``KalshibotError`` subclasses) may come out."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshibot.config import FIELDS, load_settings
from kalshibot.errors import KalshibotError
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.http import decode_json
from tests.reliability import summary

PRICES = st.one_of(st.sampled_from(["0.5000", "-0.10", "1.0001", "0.12345", "1e9", "NaN",
                                    "Infinity", "", "abc", "0.001", "99999999999999999999"]),
                   st.decimals(allow_nan=True).map(str), st.integers().map(str))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
                    st.floats(), st.text(max_size=12), PRICES,
                    st.sampled_from(["yes", "no", "bid", "ask", "buy", "sell", "resting",
                                     "executed", "canceled", "weird_enum", "2026-11-20T12:00:00Z",
                                     "not-a-date"]))
JSON = st.recursive(
    SCALARS,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=6), c,
                                                                 max_size=4)),
    max_leaves=12)

TARGETS: list[tuple[type[w.Wire], Any]] = [
    (w.WireMarket, p.parse_market), (w.WireOrder, p.parse_order), (w.WireFill, p.parse_fill),
    (w.WireMarketPosition, p.parse_position), (w.WireBalance, p.parse_balance),
    (w.WireSettlement, p.parse_settlement), (w.WireSeries, p.parse_series),
    (w.WireExchangeStatus, p.parse_exchange_status), (w.WireTrade, p.parse_trade),
]


def _fields(model: type[w.Wire]) -> list[str]:
    return list(model.model_fields)


@st.composite
def wire_dicts(draw: st.DrawFn) -> tuple[int, dict[str, Any]]:
    i = draw(st.integers(0, len(TARGETS) - 1))
    names = _fields(TARGETS[i][0])
    d = {n: draw(SCALARS) for n in names if draw(st.booleans()) or n in ("ticker",)}
    return i, d


def _only_typed(fn: Any, *args: Any, **kw: Any) -> None:
    with contextlib.suppress(KalshibotError):
        fn(*args, **kw)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(wire_dicts())
def test_parsers_raise_only_typed_errors(case: tuple[int, dict[str, Any]]) -> None:
    summary.add(fuzz_examples=1)
    i, d = case
    model, parse = TARGETS[i]

    def go() -> None:
        parse(w.load(model, d, "fuzz"))

    _only_typed(go)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(JSON)
def test_random_json_into_every_model(doc: Any) -> None:
    summary.add(fuzz_examples=1)
    for model, parse in TARGETS:
        _only_typed(lambda m=model, f=parse: f(w.load(m, doc, "fuzz")))
    _only_typed(lambda: p.parse_orderbook("T", w.load(w.WireOrderbookFp, doc, "fuzz")))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_decode_json_bad_text(text: str) -> None:
    summary.add(fuzz_examples=1)
    _only_typed(decode_json, text, "fuzz")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from([f"KALSHIBOT_{f.upper()}" for f in FIELDS]
                                       + ["KALSHIBOT_NOPE"]),
                       st.one_of(st.text(max_size=10), PRICES,
                                 st.sampled_from(["-1", "1e400", "true", "live", "prod", "[]",
                                                  "{}", "0"])), max_size=6))
def test_config_loader_raises_only_config_errors(env: dict[str, str]) -> None:
    summary.add(fuzz_examples=1)
    _only_typed(load_settings, env=env, dotenv_file=None)
