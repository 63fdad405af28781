"""Paper/live wiring of the crypto reference: the traded coins' indices are streamed onto the
tape the pricer reads; settings reach the reference and are range-checked (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kalshibot.clock import SimClock
from kalshibot.config import Settings, check_settings
from kalshibot.feeds.reference import ReferenceFeed
from kalshibot.session import SessionOptions, _live_reference
from kalshibot.ws import channels as ch

T = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


class FakeWsFeed:
    """What ``_live_reference`` uses of ``WsFeed``: listeners and index subscriptions."""

    def __init__(self) -> None:
        self.on_cf: list[Any] = []
        self.watched: list[tuple[list[str], bool]] = []

    def watch_indices(self, ids: Any, *, hz5: bool = False) -> None:
        self.watched.append((list(ids), hz5))


class FakeMarketData:
    def __init__(self) -> None:
        self.feed = FakeWsFeed()


def cf_msg(index_id: str, ms: int, value: str) -> dict[str, Any]:
    return {"type": "cfbenchmarks_value", "sid": 1, "seq": 1, "msg": {
        "index_id": index_id, "received_at": ms + 40,
        "data": f'{{"type":"value","id":"{index_id}","time":{ms},"value":"{value}"}}',
        "avg_60s_data": {"value": value, "window_size": 59, "window_start_ts_ms": ms - 60000,
                         "window_end_ts_exclusive": ms}}}


def test_live_reference_streams_the_traded_indices() -> None:
    clock = SimClock(T)
    md = FakeMarketData()
    s = Settings(crypto_index_5hz=True, crypto_index_stale_s=3.0)
    ref = _live_reference(s, SessionOptions(series=("KXBTC15M", "KXHYPE15M", "KXHIGHNY")),
                          clock, None, md)
    assert isinstance(ref, ReferenceFeed) and ref.poll
    assert ref.config.index_stale_s == 3.0
    assert md.feed.watched == [(["BRTI", "HYPEUSD_RTI"], False), (["BRTI"], True)]
    [listener] = md.feed.on_cf
    listener(ch.parse_cfbenchmarks(cf_msg("BRTI", int(T.timestamp() * 1000), "101234.5")))
    clock.advance(timedelta(seconds=1))
    r = ref.reference("BTC")
    assert (r.source, r.price) == ("index", 101234.5)


def test_index_off_streams_nothing() -> None:
    md = FakeMarketData()
    ref = _live_reference(Settings(crypto_use_index=False), SessionOptions(series=("KXBTC15M",)),
                          SimClock(T), None, md)
    assert md.feed.watched == [] and not ref.config.use_index


@pytest.mark.parametrize(("field", "value"), [
    ("crypto_index_stale_s", 0.0), ("crypto_spot_stale_s", 301.0),
    ("crypto_basis_halflife_s", -1.0), ("crypto_vol_halflife_s", 0.0),
    ("crypto_basis_sd_floor_bps", -0.5), ("crypto_basis_unknown_sd_bps", 0.5),
    ("crypto_vol_model", "garch"),
])
def test_crypto_settings_are_range_checked(field: str, value: object) -> None:
    problems = check_settings(Settings(**{field: value}))
    assert [p.key for p in problems] == [f"KALSHIBOT_{field.upper()}"]
    assert check_settings(Settings()) == []
