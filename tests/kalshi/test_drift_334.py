"""Drift suite for Kalshi spec 3.34 (issue 20): one test per item, items 1-8.

Each test says what f6e3055 did instead; ``kalshi-api.md`` section 14 is the source of the
facts.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses
import yaml

from kalshibot.config import load_settings
from kalshibot.domain.fees import FeeType, order_fee
from kalshibot.domain.market import Market
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, OrderIntent, OrderStatus, Side, TimeInForce
from kalshibot.domain.ticks import TickGrid
from kalshibot.engine import Engine, EngineConfig
from kalshibot.errors import DataError, OrderKilledError, WrongShardError
from kalshibot.exchange import with_market_updates
from kalshibot.execution import OrderManager
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.endpoints.client import KalshiClient
from kalshibot.kalshi.exchange import KalshiExchange
from kalshibot.kalshi.ratelimit import RateLimiter
from kalshibot.risk import RiskLimits, RiskManager
from kalshibot.sim.account import SimAccount
from kalshibot.store import orders as orders_repo
from kalshibot.store.connection import atomic, connect
from kalshibot.store.markets import market_quotes
from kalshibot.store.runs import start_run
from kalshibot.strategy.base import FairValue, MarketView, StrategyParams
from kalshibot.ws.books import BookTracker
from kalshibot.ws.client import MARKET_CHANNELS
from kalshibot.ws.feed import WsFeed
from kalshibot.ws.marketdata import WsExchange, WsMarketData
from tests.engine.helpers import FakeExchange, book
from tests.kalshi.helpers import BASE, SPEC, RecordingClock, fixture_json, make_http

D = Decimal
NOW = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)
ORDERS = BASE + "/portfolio/events/orders"


class Fixed:
    """A strategy with one probability for every market."""

    name = "fixed"

    def __init__(self, p: float) -> None:
        self.p = p

    def fair_values(self, views: list[MarketView]) -> list[FairValue]:
        return [FairValue(self.p, "fixed") for _ in views]


def _wire_market(ticker: str, event: str, **changes: Any) -> dict[str, Any]:
    m = copy.deepcopy(fixture_json("get_market")["market"])
    m.update(ticker=ticker, event_ticker=event, status="active",
             close_time="2026-11-20T23:00:00Z", open_time="2026-11-20T18:00:00Z")
    m.update(changes)
    return m


def _acks(rsps: responses.RequestsMock) -> None:
    """Create answers echoing the request's ``client_order_id``."""
    def reply(req: Any) -> tuple[int, dict[str, str], str]:
        ack = dict(fixture_json("post_portfolio_events_orders"),
                   client_order_id=json.loads(req.body)["client_order_id"])
        return 201, {}, json.dumps(ack)
    rsps.add_callback(responses.POST, ORDERS, callback=reply)


def _engine(tmp: Path, ex: Any, p: float, **params: Any) -> Engine:
    conn = connect(tmp / "state.sqlite")
    with atomic(conn):
        start_run(conn, "drift", mode="paper", exchange="fake", now=NOW)
    return Engine(conn=conn, exchange=ex, strategy=Fixed(p), params=StrategyParams(**params),
                  risk=RiskManager(RiskLimits.from_settings(load_settings(env={},
                                                                          dotenv_file=None))),
                  config=EngineConfig("drift", kill_switch_path=tmp / "KILL"),
                  starting_cash=Money(1000), now=NOW)


def _exchange(clock: RecordingClock, signer: Any = None) -> KalshiExchange:
    return KalshiExchange(KalshiClient(make_http(clock, signer)), clock)


# --- 1. fees and unknown values ---------------------------------------------------------
def test_1_listing_with_unknown_fee_type_tick_structure_and_status_loads_and_trades(
        rsps: responses.RequestsMock, tmp_path: Path) -> None:
    """One market of an unknown fee type (its event's override), one of an unknown tick
    structure, one of an unknown status, one that does not validate: the others load (a combo
    maker-fee series, an event override, a fee waiver) and trade; the rest are listed
    untradeable with their reason in ``markets`` and in the decision log. On f6e3055 the combo
    fee type alone raised and no market of the listing loaded."""
    waiver = "2026-11-20T23:30:00Z"
    listing = [
        _wire_market("KXSOL15M-A-1", "KXSOL15M-A", fee_waiver_expiration_time=waiver),
        _wire_market("KXSOL15M-B-1", "KXSOL15M-B"),
        _wire_market("KXSOL15M-C-1", "KXSOL15M-C", price_level_structure="hexa_cent",
                     price_ranges=[]),
        _wire_market("KXSOL15M-D-1", "KXSOL15M-D", status="paused_by_committee"),
        {k: v for k, v in _wire_market("KXSOL15M-E-1", "KXSOL15M-E").items()
         if k != "close_time"},
        _wire_market("KXSOL15M-F-1", "KXSOL15M-F"),
    ]
    rsps.get(BASE + "/markets", json={"markets": listing, "cursor": ""})
    rsps.get(BASE + "/series/KXSOL15M", json={"series": {
        "ticker": "KXSOL15M", "fee_type": "quadratic_with_combo_maker_fees",
        "fee_multiplier": 1}})
    rsps.get(BASE + "/events", json={"events": [
        {"event_ticker": "KXSOL15M-A", "series_ticker": "KXSOL15M",
         "fee_type_override": None, "fee_multiplier_override": 0.5},
        {"event_ticker": "KXSOL15M-B", "series_ticker": "KXSOL15M",
         "fee_type_override": "quadratic_v9", "fee_multiplier_override": 2}], "cursor": ""})
    clock = RecordingClock(NOW)
    ex = _exchange(clock)
    markets = {m.ticker: m for m in ex.get_markets(series=["KXSOL15M"])}
    assert set(markets) == {f"KXSOL15M-{x}-1" for x in "ABCDF"}
    assert [t for t, _ in ex.skipped_markets] == ["KXSOL15M-E-1"]
    a, f = markets["KXSOL15M-A-1"], markets["KXSOL15M-F-1"]
    assert (a.fee_type, a.fee_multiplier) == (FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES, D("0.5"))
    assert a.fee_waiver_until == datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert order_fee(Count(10), Price("0.5"), is_taker=True, schedule=a.fee_schedule,
                     at=NOW) == Money(0)
    assert not a.untradeable and not f.untradeable
    assert "quadratic_v9" in markets["KXSOL15M-B-1"].untradeable
    assert "hexa_cent" in markets["KXSOL15M-C-1"].untradeable
    assert "paused_by_committee" in markets["KXSOL15M-D-1"].untradeable

    # every loaded market trades except the untradeable ones, whose reason is logged
    fake = FakeExchange(list(markets.values()), {t: book(t) for t in markets},
                        SimAccount(Money(1000)), now=NOW)
    eng = _engine(tmp_path, fake, 0.9)
    eng.start(NOW)
    eng.run_cycle(NOW)
    assert sorted(i.ticker for i in fake.place_calls) == ["KXSOL15M-A-1", "KXSOL15M-F-1"]
    reasons = dict(eng.conn.execute("SELECT ticker, reason FROM decisions"))
    for t in ("B", "C", "D"):
        assert reasons[f"KXSOL15M-{t}-1"].startswith("not traded: ")
    stored = {q.market.ticker: q.market for q in market_quotes(eng.conn, status="all")}
    assert "hexa_cent" in stored["KXSOL15M-C-1"].untradeable  # what `markets` lists


# --- 2. contract sizes ------------------------------------------------------------------
def test_2_count_granularity_comes_from_fp_counts_not_a_removed_flag(tmp_path: Path) -> None:
    """``fractional_trading_enabled`` was removed (July 2026): its absence is not "whole
    contracts only". f6e3055 read the missing flag as False and sized in whole contracts."""
    for extra in ({}, {"fractional_trading_enabled": False}):
        m = p.parse_market(w.load(w.WireMarket, _wire_market("KXSOL15M-A-1", "KXSOL15M-A",
                                                             **extra), "t"))
        assert m.fractional_trading and m.count_step == D("0.01")
    fake = FakeExchange([m], {m.ticker: book(m.ticker)}, SimAccount(Money(1000)), now=NOW)
    eng = _engine(tmp_path, fake, 0.6, allow_passive=False)
    eng.start(NOW)
    eng.run_cycle(NOW)
    (intent,) = fake.place_calls
    assert intent.count.value != intent.count.value.to_integral_value()  # 0.01 steps used
    assert intent.count.value == intent.count.value.quantize(D("0.01"))


# --- 3. tick grids ----------------------------------------------------------------------
def _lifecycle_structures() -> list[str]:
    path = Path(SPEC).with_name("kalshi-asyncapi.yaml")
    if not path.is_file():
        pytest.skip("AsyncAPI spec is absent")
    spec = yaml.safe_load(path.read_text())
    return list(spec["components"]["schemas"]["lifecyclePriceLevelStructure"]["enum"])


def test_3_every_structure_name_of_3_34_and_grid_updates_while_trading(tmp_path: Path) -> None:
    """All documented names build their grid; the rest need ``price_ranges``; a
    ``price_level_structure_updated`` event changes a market's grid while it trades. f6e3055
    knew three names and ignored the event."""
    documented = [s for s in _lifecycle_structures() if s not in ("", "banded_centi_cent")]
    assert len(documented) >= 12
    for name in documented:
        TickGrid.from_structure(name)
    for name in ("", "banded_centi_cent"):
        with pytest.raises(DataError):
            TickGrid.from_structure(name)
        assert TickGrid.from_structure(name, [{"start": "0", "end": "1", "step": "0.0001"}])
    g = TickGrid.from_structure("center_whole_edge_half_cent")
    assert g.is_valid(Price("0.055")) and not g.is_valid(Price("0.505"))
    combo = TickGrid.from_structure("center_deci_edge_centi_cent")
    assert combo.is_valid(Price("0.0055")) and combo.is_valid(Price("0.015"))
    assert not combo.is_valid(Price("0.0155"))

    # a lifecycle event switches the market to deci-cent ticks: the passive bid follows
    tk = "KXSOL15M-A-1"
    m = p.parse_market(w.load(w.WireMarket, _wire_market(tk, "KXSOL15M-A"), "t"))
    fake = FakeExchange([m], {tk: book(tk)}, SimAccount(Money(1000)), now=NOW)
    feed = WsFeed("wss://example.invalid/trade-api/ws/v2", None, RecordingClock(NOW))
    venue = WsExchange(fake, WsMarketData(feed, fake, RecordingClock(NOW)))
    feed.client._dispatch({"type": "market_lifecycle_v2", "sid": 1, "seq": 1, "msg": {
        "market_ticker": tk, "event_type": "price_level_structure_updated",
        "price_level_structure": "deci_cent",
        "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0010"}]}})
    assert with_market_updates(venue, {tk: m})[tk].tick_grid.name == "deci_cent"

    class Venue(FakeExchange):
        def market_updates(self, markets: dict[str, Market]) -> dict[str, Market]:
            return venue.market_updates(markets)

    fake2 = Venue([m], {tk: book(tk)}, SimAccount(Money(1000)), now=NOW)
    eng = _engine(tmp_path, fake2, 0.6, allow_taker=False)
    eng.start(NOW)
    eng.run_cycle(NOW)
    (intent,) = fake2.place_calls
    assert intent.price == Price("0.451")  # one deci-cent tick inside the 0.45 bid, not 0.46
    # an unusable new grid makes the market untradeable
    feed.client._dispatch({"type": "market_lifecycle_v2", "sid": 1, "seq": 2, "msg": {
        "market_ticker": tk, "event_type": "price_level_structure_updated",
        "price_level_structure": "banded_centi_cent"}})
    assert "banded_centi_cent" in with_market_updates(venue, {tk: m})[tk].untradeable


# --- 4. exchange shards -----------------------------------------------------------------
def test_4_exchange_index_recorded_decrease_routed_and_wrong_shard_named(
        rsps: responses.RequestsMock, client: KalshiClient, clock: RecordingClock,
        tmp_path: Path) -> None:
    """f6e3055 dropped ``exchange_index``, sent decreases without ``market_ticker`` (shard 0)
    and reported a 404 ``user_not_found`` as a plain rejection."""
    m = p.parse_market(w.load(w.WireMarket, _wire_market("KXSOL15M-A-1", "KXSOL15M-A",
                                                         exchange_index=2), "t"))
    assert m.exchange_index == 2
    raw = dict(fixture_json("get_portfolio_orders")["orders"][0], exchange_index=2)
    order = p.parse_order(w.load(w.WireOrder, raw, "t"))
    assert order.exchange_index == 2
    pos = w.load(w.WirePositionsPage, fixture_json("get_portfolio_positions"), "t")
    assert [p.parse_position(x).exchange_index for x in pos.market_positions or ()] == [0, 0]
    conn = connect(tmp_path / "s.sqlite")
    with atomic(conn):
        orders_repo.apply_exchange_order(conn, order, now=NOW)
    assert conn.execute("SELECT exchange_index FROM orders").fetchone()[0] == 2

    ex = KalshiExchange(client, clock, enrich_fees=False)
    _acks(rsps)
    ack = ex.place_order(OrderIntent("KXSOL15M-A-1", Side.YES, Action.BUY, Price("0.40"),
                                     Count(5), "cid-1"))
    rsps.post(ORDERS + f"/{ack.order_id}/decrease", json={
        "order_id": ack.order_id, "remaining_count": "3.00", "ts_ms": 1})
    ex.decrease_order(ack.order_id, reduce_by=Count(2))
    assert json.loads(rsps.calls[-1].request.body)["market_ticker"] == "KXSOL15M-A-1"
    rsps.delete(ORDERS + f"/{ack.order_id}", status=404, json={"error": {
        "code": "user_not_found", "message": "user not found"}})
    with pytest.raises(WrongShardError, match="KXSOL15M-A-1") as err:
        ex.cancel_order(ack.order_id)
    assert "shard" in str(err.value)


# --- 5. orders --------------------------------------------------------------------------
def test_5a_kill_switch_cancels_in_one_batched_request(
        rsps: responses.RequestsMock, client: KalshiClient, clock: RecordingClock,
        tmp_path: Path) -> None:
    """f6e3055 sent one DELETE per resting order."""
    ex = KalshiExchange(client, clock, enrich_fees=False)
    conn = connect(tmp_path / "s.sqlite")
    base = fixture_json("get_portfolio_orders")["orders"][0]
    with atomic(conn):
        for i in range(3):
            o = p.parse_order(w.load(w.WireOrder, dict(base, order_id=f"o{i}",
                                                       client_order_id=f"c{i}",
                                                       status="resting"), "t"))
            orders_repo.apply_exchange_order(conn, o, now=NOW)
    rsps.delete(ORDERS + "/batched", json={"orders": [
        {"order_id": f"o{i}", "reduced_by": "1.00"} for i in range(3)]})
    om = OrderManager(conn, ex)
    assert om.cancel_all(NOW, "kill switch") == 3
    assert [c.request.method + " " + c.request.path_url for c in rsps.calls] == [
        "DELETE /trade-api/v2/portfolio/events/orders/batched"]
    assert len(json.loads(rsps.calls[0].request.body)["orders"]) == 3
    assert om.open_orders() == []


def test_5b_endpoint_costs_cancels_cost_2_tokens(rsps: responses.RequestsMock,
                                                 signer: Any) -> None:
    """Ten cancels fit the write budget of two creates (10 tokens each); the costs come from
    ``/account/endpoint_costs`` when read. f6e3055 charged every request 10 tokens."""
    clock = RecordingClock(NOW)
    http = make_http(clock, signer, limiter=RateLimiter.for_clock(clock, 20, 1))  # 10 tokens/s
    assert http.costs.units("DELETE", "/portfolio/events/orders/x1") == pytest.approx(0.2)
    assert http.costs.units("DELETE", "/portfolio/events/orders/batched", 5) == 1
    assert http.costs.units("POST", "/portfolio/events/orders/batched", 3) == 3
    rsps.get(BASE + "/account/limits", json={"usage_tier": "basic", "read": {
        "refill_rate": 200, "bucket_capacity": 200}, "write": {"refill_rate": 100,
                                                              "bucket_capacity": 100}})
    rsps.get(BASE + "/account/endpoint_costs", json={"default_cost": 10, "endpoint_costs": [
        {"method": "DELETE", "path": "/trade-api/v2/portfolio/events/orders/{order_id}",
         "cost": 5}]})
    c = KalshiClient(http)
    c.refresh_rate_limits()
    assert http.costs.units("DELETE", "/portfolio/events/orders/x1") == pytest.approx(0.5)
    assert http.limiter.write.rate == 10  # 100 tokens/s at 10 per request


def test_5c_cancel_order_on_pause_for_15_minute_series(rsps: responses.RequestsMock,
                                                       client: KalshiClient,
                                                       clock: RecordingClock) -> None:
    ex = KalshiExchange(client, clock, enrich_fees=False, cancel_on_pause_series=["*15M"])
    _acks(rsps)
    for tk, tif in (("KXBTC15M-X-1", TimeInForce.GTC), ("KXHIGHNY-X-1", TimeInForce.GTC),
                    ("KXBTC15M-X-1", TimeInForce.IOC)):
        ex.place_order(OrderIntent(tk, Side.YES, Action.BUY, Price("0.40"), Count(1),
                                   f"c-{tk}-{tif.value}", tif))
    flags = [json.loads(c.request.body).get("cancel_order_on_pause") for c in rsps.calls]
    assert flags == [True, None, None]
    assert load_settings(env={}, dotenv_file=None).cancel_on_pause_series == "*15M"


def test_5d_killed_fill_or_kill_is_not_a_duplicate_id(rsps: responses.RequestsMock,
                                                      client: KalshiClient,
                                                      clock: RecordingClock,
                                                      tmp_path: Path) -> None:
    """f6e3055 raised ``DuplicateClientOrderIdError`` and went to read the order."""
    ex = KalshiExchange(client, clock, enrich_fees=False)
    rsps.post(ORDERS, status=409, json={"error": {
        "code": "fill_or_kill_insufficient_resting_volume", "message": "killed"}})
    intent = OrderIntent("KXSOL15M-A-1", Side.YES, Action.BUY, Price("0.40"), Count(5),
                         "cid-fok", TimeInForce.FOK)
    with pytest.raises(OrderKilledError):
        ex.place_order(intent)
    conn = connect(tmp_path / "s.sqlite")
    res = OrderManager(conn, ex).submit(intent, NOW)
    assert res.status is OrderStatus.REJECTED and "fill-or-kill" in res.message
    assert all(c.request.method == "POST" for c in rsps.calls)  # nothing read back
    # the simulated venues answer the same way
    with pytest.raises(OrderKilledError):
        SimAccount(Money(100)).place(intent, book("KXSOL15M-A-1", no=(("0.60", 2),)), NOW)


# --- 6. reconciliation grace ------------------------------------------------------------
def test_6_user_data_timestamp_decides_never_created(tmp_path: Path,
                                                     rsps: responses.RequestsMock,
                                                     client: KalshiClient,
                                                     clock: RecordingClock) -> None:
    """A lost create is "never created" once the exchange's account data is known complete
    past the request; until then it stays unknown. f6e3055 waited a fixed 30 s."""
    tk = "KXSOL15M-A-1"
    fake = FakeExchange([], {tk: book(tk)}, now=NOW)
    fake.drop_request = True
    conn = connect(tmp_path / "s.sqlite")
    om = OrderManager(conn, fake)
    intent = OrderIntent(tk, Side.YES, Action.BUY, Price("0.50"), Count(1), "cid-lost",
                         TimeInForce.IOC)
    assert om.submit(intent, NOW).status is OrderStatus.OUTCOME_UNKNOWN
    later = NOW + timedelta(seconds=3)
    fake.as_of = NOW - timedelta(seconds=1)  # account data older than the request
    assert om.resolve("cid-lost", later) is OrderStatus.OUTCOME_UNKNOWN
    fake.as_of = NOW + timedelta(seconds=2)  # complete past the request, 3 s later
    assert om.resolve("cid-lost", later) is OrderStatus.REJECTED
    rsps.get(BASE + "/exchange/user_data_timestamp",
             json={"as_of_time": "2026-11-20T19:00:02Z"})
    assert KalshiExchange(client, clock).user_data_as_of() == NOW + timedelta(seconds=2)


# --- 7. tolerance -----------------------------------------------------------------------
def test_7_nulls_absent_sides_ws_clock_and_channels() -> None:
    """f6e3055 refused null position values and lists and a book without a side key, applied
    deltas already in a snapshot twice, and listed ``market_positions`` as a channel."""
    page = w.load(w.WirePositionsPage, {"market_positions": None, "event_positions": None,
                                        "cursor": ""}, "t")
    assert page.market_positions is None
    flat = w.load(w.WireMarketPosition, {
        "ticker": "T", "position_fp": None, "market_exposure_dollars": None,
        "realized_pnl_dollars": None, "fees_paid_dollars": None}, "t")
    pos = p.parse_position(flat)
    assert (pos.qty, pos.cost, pos.fees) == (Count(0), Money(0), Money(0))
    with pytest.raises(DataError):  # absent (not null) is still an error
        w.load(w.WireMarketPosition, {"ticker": "T"}, "t")
    fp = w.load(w.WireOrderbookResponse, {"orderbook_fp": {"no_dollars": [["0.5", "3"]]}},
                "t").orderbook_fp
    assert p.parse_orderbook("T", fp).yes_bids == ()

    books = BookTracker(lambda: NOW)
    books.on_snapshot({"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {
        "market_ticker": "T", "clock": 100, "yes_dollars_fp": [["0.40", "10.00"]],
        "no_dollars_fp": []}})

    def delta(seq: int, clock: int, d: str) -> None:
        books.on_delta({"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": {
            "market_ticker": "T", "clock": clock, "price_dollars": "0.40", "delta_fp": d,
            "side": "yes"}})

    delta(2, 100, "5.00")  # already in the snapshot
    assert books.duplicates == 1 and books.levels("T") == ({4000: 1000}, {})
    delta(3, 105, "5.00")
    assert books.levels("T") == ({4000: 1500}, {})
    delta(4, 103, "1.00")  # the clock went back: resync, never a silent wrong book
    assert books.levels("T") is None

    assert "market_positions" not in MARKET_CHANNELS and "ticker_v2" not in MARKET_CHANNELS
    feed = WsFeed("wss://example.invalid/trade-api/ws/v2", None, RecordingClock(NOW))
    feed.client._dispatch({"type": "market_position", "sid": 3, "msg": {"position_fp": None}})
    assert feed.bad_messages == 0
    feed.watch(["T"])
    channels = {s.channel for s in feed.client.subscriptions()}
    assert "ticker" in channels and "ticker_v2" not in channels


# --- 8. requests per cycle --------------------------------------------------------------
@pytest.mark.parametrize("with_fill", [False, True])
def test_8_at_most_two_requests_per_steady_live_cycle(tmp_path: Path, with_fill: bool) -> None:
    """Books (batched) and one fills read; the historical fills only once. f6e3055: 3 with
    fills, 5 without (``bench/bench_requests.py``)."""
    from bench.bench_requests import count_requests

    c = count_requests(tmp_path, markets=5, cycles=14, with_fill=with_fill)
    assert c.steady and max(c.steady) <= 2, c.steady
    assert c.by_path["GET /historical/fills"] == 0  # read once at start-up, before counting
    assert c.by_path["GET /portfolio/fills"] == 14


def test_8_fills_history_read_only_for_uncovered_spans(rsps: responses.RequestsMock,
                                                       client: KalshiClient,
                                                       clock: RecordingClock) -> None:
    ex = KalshiExchange(client, clock, enrich_fees=False)
    rsps.get(BASE + "/portfolio/fills", json={"fills": [], "cursor": ""})
    rsps.get(BASE + "/historical/fills", json={"fills": [], "cursor": ""})
    rsps.get(BASE + "/historical/cutoff", json={
        "market_settled_ts": "2026-10-01T00:00:00Z", "trades_created_ts": "2026-10-01T00:00:00Z",
        "orders_updated_ts": "2026-10-01T00:00:00Z"})
    for _ in range(5):
        ex.get_fills(None)
        clock.sleep(5)
    hist = [c for c in rsps.calls if "/historical/fills" in str(c.request.url)]
    assert len(hist) == 1
    ex.get_fills(datetime(2026, 9, 1, tzinfo=UTC))  # further back than covered? no: lo=None
    assert len([c for c in rsps.calls if "/historical/fills" in str(c.request.url)]) == 1
