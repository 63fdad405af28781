"""Issue 19 item 12: one money format in tables (dollars to the cent; prices to the cent, with
4 decimals only when sub-cent), fractions as percentages that never round to "0%".

``test_limits_table_*`` fails on f6e3055 (the limits table printed ``0.005`` and dollars with 4
decimals); the render helpers are new.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from kalshibot.cli.main import run
from kalshibot.cli.render import dollars, money, price, signed_money
from kalshibot.clock import SimClock
from kalshibot.domain.money import Money, Price
from tests.monitor.conftest import Prepared


@pytest.mark.parametrize(("value", "text"), [
    (Money(Decimal("12924.3912")), "$12,924.39"), (Decimal("-0.005"), "$0.00"),
    ("-1234.565", "-$1,234.56"), ("0.0175", "$0.02"), (None, "-")])
def test_money_is_dollars_to_the_cent(value: object, text: str) -> None:
    assert money(value) == text


def test_dollars_and_signed_money() -> None:
    assert dollars("10000.0000") == "10,000.00"
    assert signed_money("12.5") == "+$12.50" and signed_money("-3") == "-$3.00"
    assert signed_money("0") == "$0.00"


@pytest.mark.parametrize(("value", "text"), [
    (Price(Decimal("0.49")), "0.49"), ("0.4900", "0.49"), ("0.4950", "0.4950"),
    (Price(Decimal("0.0001")), "0.0001"), (None, "-")])
def test_price_shows_sub_cent_digits_only_when_they_matter(value: object, text: str) -> None:
    assert price(value) == text


def test_limits_table_shows_percent_and_cents(
        prepared: Callable[..., Prepared], clock: SimClock,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KALSHIBOT_CIRCUIT_BREAKER_DRAWDOWN", "0.005")
    prepared()
    assert run(["risk", "show"]) == 0
    out = capsys.readouterr().out
    drawdown = next(ln for ln in out.splitlines() if "drawdown" in ln)
    assert "0.5%" in drawdown
    daily = next(ln for ln in out.splitlines() if "daily_loss" in ln)
    assert "500.00 " in daily and "500.0000" not in daily


@pytest.mark.parametrize(("value", "text"), [(Decimal(0), "0"), (Decimal("1500.00"), "1,500"),
                                             (Decimal("12.50"), "12.5"), (Decimal(100), "100")])
def test_markets_volume_cell(value: Decimal, text: str) -> None:
    """A market that never traded shows volume ``0`` (the cell was empty: "0" lost its
    trailing zero)."""
    from kalshibot.cli.markets_cmd import _volume

    assert _volume(value) == text
