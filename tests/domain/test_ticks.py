"""Tick grids: validation and safe-direction rounding."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshibot.domain.money import Price
from kalshibot.domain.ticks import Rounding, TickGrid
from kalshibot.errors import DataError, InvalidPriceError

GRIDS = {
    "linear_cent": TickGrid.from_structure("linear_cent"),
    "deci_cent": TickGrid.from_structure("deci_cent"),
    "tapered_deci_cent": TickGrid.from_structure("tapered_deci_cent"),
    "explicit": TickGrid.from_structure(
        None,
        [
            {"start": "0.0000", "end": "0.2000", "step": "0.0050"},
            {"start": "0.2000", "end": "1.0000", "step": "0.0200"},
        ],
    ),
}


def test_structures():
    lin, deci, tap = GRIDS["linear_cent"], GRIDS["deci_cent"], GRIDS["tapered_deci_cent"]
    assert lin.min_price == Price("0.01") and lin.max_price == Price("0.99")
    assert deci.min_price == Price("0.001") and deci.max_price == Price("0.999")
    assert tap.is_valid(Price("0.095")) and not tap.is_valid(Price("0.455"))
    assert tap.is_valid(Price("0.45")) and tap.is_valid(Price("0.905"))
    assert not lin.is_valid(Price("0.455")) and not lin.is_valid(Price("0"))
    assert not lin.is_valid(Price("1"))
    assert len(list(lin.steps())) == 99
    assert len(list(tap.steps())) == 100 + 79 + 100  # 0.001..0.100, 0.11..0.89, 0.900..0.999


def test_price_ranges_override_structure():
    g = TickGrid.from_structure("linear_cent", [{"start": "0", "end": "1", "step": "0.001"}])
    assert g.is_valid(Price("0.455"))


def test_unknown_structure_is_an_error():
    with pytest.raises(DataError):
        TickGrid.from_structure("quarter_cent")
    with pytest.raises(DataError):
        TickGrid.from_structure(None)


@pytest.mark.parametrize(
    ("grid", "price", "is_buy", "expected"),
    [
        ("linear_cent", "0.455", True, "0.45"),
        ("linear_cent", "0.455", False, "0.46"),
        ("linear_cent", "0.45", True, "0.45"),
        ("tapered_deci_cent", "0.0955", True, "0.095"),
        ("tapered_deci_cent", "0.0955", False, "0.096"),
        ("tapered_deci_cent", "0.5055", False, "0.51"),
        ("tapered_deci_cent", "0.1005", True, "0.10"),
        ("tapered_deci_cent", "0.8999", False, "0.90"),
        ("linear_cent", "0.995", True, "0.99"),
        ("linear_cent", "0.005", False, "0.01"),
    ],
)
def test_round_for_order_is_safe(grid, price, is_buy, expected):
    assert GRIDS[grid].round_for_order(Price(price), is_buy=is_buy) == Price(expected)


def test_no_safe_price_raises():
    with pytest.raises(InvalidPriceError):
        GRIDS["linear_cent"].round_for_order(Price("0.005"), is_buy=True)
    with pytest.raises(InvalidPriceError):
        GRIDS["linear_cent"].round_for_order(Price("0.995"), is_buy=False)


@given(
    st.sampled_from(sorted(GRIDS)),
    st.integers(min_value=0, max_value=1_000_000),
    st.booleans(),
)
def test_rounding_never_off_grid_or_out_of_range(name, n, is_buy):
    grid = GRIDS[name]
    p = Price(Decimal(n) / 1_000_000)
    for direction in Rounding:
        r = grid.round(p, direction)
        if r is not None:
            assert grid.is_valid(r)
            assert (r <= p) if direction is Rounding.DOWN else (r >= p)
    try:
        r = grid.round_for_order(p, is_buy=is_buy)
    except InvalidPriceError:
        # only when no grid price exists on the safe side
        assert (p < grid.min_price) if is_buy else (p > grid.max_price)
        return
    assert grid.is_valid(r)
    assert r <= p if is_buy else r >= p
    # nearest: no valid price strictly between r and p
    assert all(not (min(r, p) < q < max(r, p)) for q in grid.steps()) if n % 997 == 0 else True
