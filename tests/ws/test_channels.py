"""Channel parsing from the shared ws_* fixtures and the AsyncAPI examples."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Side
from kalshibot.errors import DataError
from kalshibot.ws import channels as ch
from tests.ws.conftest import ws_fixture


def test_ticker_fixture() -> None:
    u = ch.parse_ticker(ws_fixture("ticker"))
    assert u.ticker == "KXSOL15M-26NOV201415-15"
    assert (u.yes_bid, u.yes_ask, u.price) == (Price("0.47"), Price("0.49"), Price("0.48"))
    assert u.yes_ask_size == Count(240) and u.volume == Count(18342)
    assert u.ts == datetime.fromtimestamp(1795201502.774, UTC)


def test_ticker_missing_volume_is_an_error() -> None:
    m = ws_fixture("ticker")
    del m["msg"]["volume_fp"]
    with pytest.raises(DataError):
        ch.parse_ticker(m)


def test_trade_spec_example() -> None:
    t = ch.parse_trade({"type": "trade", "sid": 11, "msg": {
        "trade_id": "d91bc706", "market_ticker": "HIGHNY-22DEC23-B53.5",
        "yes_price_dollars": "0.360", "no_price_dollars": "0.640", "count_fp": "136.00",
        "taker_side": "no", "taker_outcome_side": "no", "taker_book_side": "ask",
        "ts": 1669149841, "ts_ms": 1669149841000}})
    assert t.yes_price == Price("0.36") and t.count == Count(136) and t.taker_side is Side.NO


def test_cfbenchmarks_fixture_settlement_average() -> None:
    v = ch.parse_cfbenchmarks(ws_fixture("cfbenchmarks_value"))
    assert v.index_id == "SOLUSD_RTI" and v.value == Decimal("185.9034")
    assert v.avg_60s.value == Decimal("185.87410000")
    assert v.settlement_final
    board = ch.CfBenchmarks()
    board.apply(v)
    close = datetime.fromtimestamp(1795202100, UTC)
    assert board.settlement_average("SOLUSD_RTI", close) == Decimal("185.87655000")
    assert board.latest_for_symbol("SOL") is v
    assert board.settlement_average("SOLUSD_RTI", datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_cfbenchmarks_partial_window_is_not_final() -> None:
    m = ws_fixture("cfbenchmarks_value")
    m["msg"]["last_60s_windowed_average_15min"]["window_size"] = 14
    v = ch.parse_cfbenchmarks(m)
    board = ch.CfBenchmarks()
    board.apply(v)
    close = datetime.fromtimestamp(1795202100, UTC)
    assert not v.settlement_final
    assert board.settlement_average("SOLUSD_RTI", close) is None
    running = board.running_settlement_average("SOLUSD_RTI", close)
    assert running is not None and running.window_size == 14


def test_lifecycle_blocks_entries() -> None:
    states = ch.MarketStates()
    t = "INXD-23SEP14-B4487"
    states.apply(ch.parse_lifecycle({"type": "market_lifecycle_v2", "sid": 13, "msg": {
        "market_ticker": t, "event_type": "created", "open_ts": 1694635200,
        "close_ts": 1694721600, "price_level_structure": "linear_cent"}}))
    assert states.blocked(t) == ""
    assert states.blocked(t, datetime.fromtimestamp(1694721600, UTC)) == "market closed"
    states.apply(ch.parse_lifecycle({"type": "market_lifecycle_v2", "sid": 13, "msg": {
        "market_ticker": t, "event_type": "deactivated", "is_deactivated": True}}))
    assert "paused" in states.blocked(t)
    states.apply(ch.parse_lifecycle({"type": "market_lifecycle_v2", "sid": 13, "msg": {
        "market_ticker": t, "event_type": "activated", "is_deactivated": False}}))
    assert states.blocked(t) == ""
    states.apply(ch.parse_lifecycle({"type": "market_lifecycle_v2", "sid": 13, "msg": {
        "market_ticker": t, "event_type": "determined", "result": "yes",
        "settlement_value": "1.0000", "determination_ts": 1694721700}}))
    assert states.blocked(t) == "market determined"
