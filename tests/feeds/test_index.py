"""Series -> CF Benchmarks index ids (issue 20 item 9) and the index tape."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from kalshibot.errors import DataError
from kalshibot.feeds.index import (
    CF_5HZ_INDEX_IDS,
    CF_INDEX_IDS,
    FIFTEEN_MIN_SERIES,
    IndexTape,
    index_for_series,
    index_for_symbol,
)
from kalshibot.ws import channels as ch
from tests.conftest import shared_path

T0 = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("series", FIFTEEN_MIN_SERIES)
def test_every_15_minute_series_maps_to_an_index(series: str) -> None:
    ref = index_for_series(series)
    assert ref.index_id == CF_INDEX_IDS[ref.coin]
    assert ref.index_id == ("BRTI" if ref.coin == "BTC" else f"{ref.coin}USD_RTI")
    # also from an event or market ticker
    assert index_for_series(f"{series}-26SEP302015-15").index_id == ref.index_id


def test_series_in_the_shared_settlements_all_map() -> None:
    """Every 15-minute series Kalshi settled in the shared 2026 log has an index id."""
    path = shared_path("data", "kalshi", "watkast-kalshi-weather-bot",
                       "settlements_15m_crypto.csv")
    series = {line.split(",")[1] for line in path.read_text().splitlines()[1:]}
    fifteen = {s for s in series if s.endswith("15M")}
    assert len(fifteen) == 9
    assert fifteen <= set(FIFTEEN_MIN_SERIES)
    for s in fifteen:
        assert index_for_series(s).index_id.endswith(("RTI", "BRTI"))


def test_table_matches_the_asyncapi_spec() -> None:
    """The coin table is the one in Kalshi's AsyncAPI 3.34 ``cfbenchmarks_value`` channel."""
    path = shared_path("specs", "kalshi-asyncapi.yaml")
    doc = yaml.safe_load(path.read_text())
    text = doc["channels"]["cfbenchmarks_value"]["description"]
    rows = re.findall(r"^\| ([A-Za-z /]+?) \| `([A-Z0-9_]+)` \|$", text, flags=re.M)
    assert len(rows) >= 20
    for coins, idx in rows:
        for coin in coins.split(" / "):
            assert CF_INDEX_IDS[coin.strip().upper()] == idx
    five = doc["channels"]["cfbenchmarks_value_5hz"]["description"]
    for idx in CF_5HZ_INDEX_IDS:
        assert f"`{idx}`" in five


def test_metadata_wins_over_the_table() -> None:
    src = [{"name": "CF Benchmarks", "url": "https://www.cfbenchmarks.com/data/indices/BRTI"}]
    ref = index_for_series("KXBTC15M", settlement_sources=src)
    assert (ref.index_id, ref.how) == ("BRTI", "settlement_sources")
    # the rules name the coin (the shared market fixture's wording)
    rules = ("If the simple average of the CF Benchmarks SOL real-time index over the 60 "
             "seconds before 2:15 PM ET on Nov 20, 2026 is at least 185.4321, the market "
             "resolves to Yes.")
    ref = index_for_series("KXSOL15M", settlement_sources=[{"name": "CF Benchmarks",
                                                            "url": "https://cfbenchmarks.com"}],
                           rules=rules)
    assert (ref.index_id, ref.how) == ("SOLUSD_RTI", "rules")
    # an index id written in the rules
    ref = index_for_series("KXNEWCOIN15M", rules="settles on ZECUSD_RTI averaged over 60 s")
    assert (ref.index_id, ref.coin) == ("ZECUSD_RTI", "ZEC")
    # generic metadata only: the table decides
    ref = index_for_series("KXHYPE15M", settlement_sources=[{"name": "CF Benchmarks"}])
    assert (ref.index_id, ref.how) == ("HYPEUSD_RTI", "table")


def test_other_settlement_sources_and_unknown_coins_are_refused() -> None:
    with pytest.raises(DataError, match="not a CF Benchmarks"):
        index_for_series("KXBTC15M", settlement_sources=[{"name": "Coinbase",
                                                          "url": "https://coinbase.com"}])
    with pytest.raises(DataError, match="no CF Benchmarks index"):
        index_for_series("KXFOO15M")
    with pytest.raises(DataError):
        index_for_series("KXWTI")  # not a 15-minute crypto series
    assert index_for_symbol("eth") == "ETHUSD_RTI"
    assert index_for_symbol("BRTI") == "BRTI"
    assert ch.INDEX_FOR_SYMBOL["NEAR"] == "NEARUSD_RTI"


def test_tape_sees_nothing_after_now_and_drops_duplicates() -> None:
    tape = IndexTape(capacity=10)
    for i in range(30):
        assert tape.add("BRTI", T0 + timedelta(seconds=i), 100.0 + i,
                        received=T0 + timedelta(seconds=i, milliseconds=300))
    assert not tape.add("BRTI", T0 + timedelta(seconds=29), 1.0)  # duplicate stamp
    assert not tape.add("BRTI", T0 + timedelta(seconds=5), 1.0)  # out of order
    now = T0 + timedelta(seconds=25, milliseconds=100)
    last = tape.latest("BRTI", now)
    assert last is not None and last.value == 124.0  # 25 arrives at 25.3 s
    ts, vals = tape.path("BRTI", T0 + timedelta(seconds=22), now)
    assert vals == [121.0, 122.0, 123.0, 124.0]  # the tick before `since` included
    assert tape.latest("ETHUSD_RTI", now) is None
    ts_all, _ = tape.path("BRTI", T0, T0 + timedelta(hours=1))
    assert 10 <= len(ts_all) <= 16  # bounded


def test_socket_values_reach_the_tape() -> None:
    """The fixture's final-minute average belongs to the quarter close at its window's end;
    a 5 Hz tick goes on its own line."""
    from tests.ws.conftest import ws_fixture

    v = ch.parse_cfbenchmarks(ws_fixture("cfbenchmarks_value"))
    tape = IndexTape()
    ch.record_on_tape(tape, v)
    assert v.settlement_avg is not None
    close = ch.settlement_close(v.settlement_avg)
    assert close.minute % 15 == 0 and close.second == 0
    run = tape.running("SOLUSD_RTI", close, v.received)
    assert run is not None and run.count == 60 and run.value == pytest.approx(185.87655)
    tick = tape.latest("SOLUSD_RTI", v.received)
    assert tick is not None and tick.value == pytest.approx(185.9034)
    five = ch.parse_cfbenchmarks_5hz({"type": "cfbenchmarks_value_5hz", "sid": 1, "seq": 1,
                                      "msg": {"index_id": "BRTI", "value_usd": "68000.12000000",
                                              "source_ts_ms": 1710000000323,
                                              "received_at": 1710000000341,
                                              "data": "{}"}})
    ch.record_on_tape(tape, five)
    assert tape.latest("BRTI", five.received) is None
    assert tape.latest("BRTI@5hz", five.received) is not None


def test_spec_example_average_keyed_by_its_quarter_close() -> None:
    """The spec's example stamps ``window_end_ts_exclusive`` at the tick, not at the close:
    the average is still filed under the quarter close (f6e3055 keyed it by the window end)."""
    msg = {"type": "cfbenchmarks_value", "sid": 1, "seq": 42, "msg": {
        "index_id": "BRTI", "received_at": 1709999990123,
        "data": "{\"type\":\"value\",\"id\":\"BRTI\",\"time\":1709999990000,"
                "\"value\":\"68000.12\"}",
        "avg_60s_data": {"value": "68000.12", "window_size": 3,
                         "window_start_ts_ms": 1709999930123,
                         "window_end_ts_exclusive": 1709999990123},
        "last_60s_windowed_average_15min": {"value": "68000.23", "window_size": 50,
                                            "window_start_ts_ms": 1709999940000,
                                            "window_end_ts_exclusive": 1709999990123}}}
    v = ch.parse_cfbenchmarks(msg)
    board = ch.CfBenchmarks()
    board.apply(v)
    close = datetime.fromtimestamp(1710000000, UTC)
    got = board.running_settlement_average("BRTI", close)
    assert got is not None and got.window_size == 50
