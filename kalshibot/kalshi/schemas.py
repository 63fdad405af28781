"""Wire models: Kalshi's JSON as pydantic models (unknown fields ignored).

Prices (``*_dollars``) and counts (``*_fp``) stay **strings** here; ``parsing`` turns them into
exact ``Price``/``Count``/``Money``. A price or size field is required (no default): a missing one
is a ``DataError`` via ``load``. Fields with a default are those Kalshi documents as optional
(e.g. ``average_fill_price`` only when something filled) or metadata that is not money.

Drift (spec 3.34, ``kalshi-api.md`` section 14): enum-like values (fee types, tick structures,
statuses) stay strings here, so a value this version does not know reaches ``parsing``, which
makes that one market untradeable instead of failing the page. ``fractional_trading_enabled``
was removed in July 2026 and is not read. Positions may carry ``null`` for flat values and
lists (zero / empty); a book side may be absent (empty).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from kalshibot.errors import DataError

OutcomeSideWire = Literal["yes", "no"]
BookSideWire = Literal["bid", "ask"]
ActionWire = Literal["buy", "sell"]


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


W = TypeVar("W", bound=Wire)


def load(model: type[W], data: Any, what: str) -> W:
    """Validate ``data`` as ``model``; any problem is a ``DataError`` naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errs = exc.errors()
        shown = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errs[:3])
        more = f" (+{len(errs) - 3} more)" if len(errs) > 3 else ""
        raise DataError(f"{what}: malformed {model.__name__}: {shown}{more}") from None


# --- exchange ---------------------------------------------------------------------------
class WireExchangeStatus(Wire):
    exchange_active: bool
    trading_active: bool
    exchange_estimated_resume_time: AwareDatetime | None = None


class WireSchedule(Wire):
    standard_hours: list[dict[str, Any]]
    maintenance_windows: list[dict[str, Any]]


class WireExchangeSchedule(Wire):
    schedule: WireSchedule


class WireHistoricalCutoff(Wire):
    market_settled_ts: AwareDatetime
    trades_created_ts: AwareDatetime
    orders_updated_ts: AwareDatetime


class WireBucketLimit(Wire):
    refill_rate: int  # tokens per second
    bucket_capacity: int  # tokens


class WireAccountLimits(Wire):
    usage_tier: str
    read: WireBucketLimit
    write: WireBucketLimit


class WireEndpointCost(Wire):
    method: str = ""  # e.g. "DELETE"
    path: str = ""  # e.g. "/trade-api/v2/portfolio/events/orders/{order_id}"
    cost: int  # tokens per request (per item for batches)


class WireEndpointCosts(Wire):
    default_cost: int
    endpoint_costs: list[WireEndpointCost]


class WireUserDataTimestamp(Wire):
    """When the portfolio reads (balance, orders, fills, positions) were last validated."""

    as_of_time: AwareDatetime


# --- series, events, markets ------------------------------------------------------------
class WireSeries(Wire):
    ticker: str
    title: str = ""
    frequency: str = ""
    category: str = ""
    fee_type: str | None = None  # missing/unknown: the series' markets are not traded
    fee_multiplier: Decimal | None = None
    exchange_index: int | None = None


class WireSeriesResponse(Wire):
    series: WireSeries


class WirePriceRange(Wire):
    start: str
    end: str
    step: str


class WireMarket(Wire):
    ticker: str
    event_ticker: str
    title: str = ""
    status: str
    open_time: AwareDatetime | None = None
    close_time: AwareDatetime
    price_level_structure: str | None = None
    price_ranges: list[WirePriceRange] | None = None
    strike_type: str | None = None
    floor_strike: Decimal | None = None  # reference level, not money
    cap_strike: Decimal | None = None
    result: str
    expiration_value: str = ""
    settlement_value_dollars: str | None = None  # only once settled
    settlement_ts: AwareDatetime | None = None
    fee_waiver_expiration_time: AwareDatetime | None = None
    exchange_index: int | None = None
    yes_bid_dollars: str
    yes_ask_dollars: str
    no_bid_dollars: str
    no_ask_dollars: str
    yes_bid_size_fp: str
    yes_ask_size_fp: str
    last_price_dollars: str
    volume_fp: str
    open_interest_fp: str


class WireMarketResponse(Wire):
    market: WireMarket


class WireMarketsPage(Wire):
    """Items are validated one by one (``WireMarket``) so one bad market never fails a page."""

    markets: list[Any] | None
    cursor: str | None = None


class WireEvent(Wire):
    event_ticker: str
    series_ticker: str
    title: str = ""
    mutually_exclusive: bool = False
    fee_type_override: str | None = None
    fee_multiplier_override: Decimal | None = None
    exchange_index: int | None = None
    markets: list[WireMarket] | None = None


class WireEventResponse(Wire):
    event: WireEvent
    markets: list[WireMarket] = []


class WireEventsPage(Wire):
    events: list[WireEvent]
    cursor: str | None = None


# --- books, trades, candles -------------------------------------------------------------
class WireOrderbookFp(Wire):
    """Bids only, ascending (best last). An absent key or ``null`` is an empty side (3.34 may
    leave an empty side out)."""

    yes_dollars: list[tuple[str, str]] | None = None
    no_dollars: list[tuple[str, str]] | None = None


class WireOrderbookResponse(Wire):
    orderbook_fp: WireOrderbookFp


class WireMarketOrderbook(Wire):
    ticker: str
    orderbook_fp: WireOrderbookFp


class WireOrderbooksResponse(Wire):
    orderbooks: list[WireMarketOrderbook]


class WireTrade(Wire):
    trade_id: str
    ticker: str
    count_fp: str
    yes_price_dollars: str
    no_price_dollars: str
    taker_outcome_side: OutcomeSideWire | None = None
    taker_side: OutcomeSideWire | None = None  # deprecated
    created_time: AwareDatetime


class WireTradesPage(Wire):
    trades: list[WireTrade]
    cursor: str | None = None


class WireBidAsk(Wire):
    open_dollars: str
    low_dollars: str
    high_dollars: str
    close_dollars: str


class WirePriceDistribution(Wire):
    """Trade prices in a period: each may be null when nothing traded."""

    open_dollars: str | None = None
    low_dollars: str | None = None
    high_dollars: str | None = None
    close_dollars: str | None = None
    mean_dollars: str | None = None
    previous_dollars: str | None = None


class WireCandlestick(Wire):
    end_period_ts: int  # Unix seconds, inclusive period end
    yes_bid: WireBidAsk
    yes_ask: WireBidAsk
    price: WirePriceDistribution
    volume_fp: str
    open_interest_fp: str


class WireCandlesticksResponse(Wire):
    ticker: str
    candlesticks: list[WireCandlestick]


class WireMarketCandlesticks(Wire):
    market_ticker: str
    candlesticks: list[WireCandlestick]


class WireBatchCandlesticksResponse(Wire):
    markets: list[WireMarketCandlesticks]


class WireBidAskHistorical(Wire):
    open: str
    low: str
    high: str
    close: str


class WirePriceDistributionHistorical(Wire):
    open: str | None
    low: str | None
    high: str | None
    close: str | None
    mean: str | None = None
    previous: str | None = None


class WireCandlestickHistorical(Wire):
    end_period_ts: int
    yes_bid: WireBidAskHistorical
    yes_ask: WireBidAskHistorical
    price: WirePriceDistributionHistorical
    volume: str
    open_interest: str


class WireCandlesticksHistoricalResponse(Wire):
    ticker: str
    candlesticks: list[WireCandlestickHistorical]


# --- portfolio --------------------------------------------------------------------------
class WireBalance(Wire):
    balance: int  # cents
    balance_dollars: str
    portfolio_value: int  # cents
    updated_ts: int  # Unix seconds


class WireOrder(Wire):
    order_id: str
    client_order_id: str | None = None
    ticker: str
    outcome_side: OutcomeSideWire | None = None
    book_side: BookSideWire | None = None
    side: OutcomeSideWire | None = None  # deprecated
    action: ActionWire | None = None  # deprecated
    status: str
    yes_price_dollars: str
    no_price_dollars: str
    fill_count_fp: str
    remaining_count_fp: str
    initial_count_fp: str
    taker_fees_dollars: str
    maker_fees_dollars: str
    created_time: AwareDatetime | None = None
    last_update_time: AwareDatetime | None = None
    exchange_index: int | None = None


class WireOrderResponse(Wire):
    order: WireOrder


class WireOrdersPage(Wire):
    orders: list[WireOrder]
    cursor: str | None = None


class WireFill(Wire):
    fill_id: str
    order_id: str
    ticker: str | None = None
    market_ticker: str | None = None  # legacy name of ``ticker``
    outcome_side: OutcomeSideWire | None = None
    book_side: BookSideWire | None = None
    side: OutcomeSideWire | None = None  # deprecated
    action: ActionWire | None = None  # deprecated
    count_fp: str
    yes_price_dollars: str
    no_price_dollars: str
    is_taker: bool
    fee_cost: str  # dollars
    created_time: AwareDatetime | None = None
    ts: int | None = None  # legacy Unix seconds
    client_order_id: str | None = None
    exchange_index: int | None = None


class WireFillsPage(Wire):
    fills: list[WireFill]
    cursor: str | None = None


class WireMarketPosition(Wire):
    """Each field must be present; ``null`` (sent for flat positions) means zero."""

    ticker: str
    position_fp: str | None  # + YES, - NO
    market_exposure_dollars: str | None
    realized_pnl_dollars: str | None
    fees_paid_dollars: str | None
    total_traded_dollars: str | None = None
    exchange_index: int | None = None


class WirePositionsPage(Wire):
    """``null`` lists are empty."""

    market_positions: list[WireMarketPosition] | None
    event_positions: list[dict[str, Any]] | None = None
    cursor: str | None = None


class WireSettlement(Wire):
    ticker: str
    event_ticker: str
    market_result: str
    yes_count_fp: str
    no_count_fp: str
    yes_total_cost_dollars: str
    no_total_cost_dollars: str
    revenue: int  # cents
    settled_time: AwareDatetime
    fee_cost: str
    value: int | None = None  # cents per YES contract


class WireSettlementsPage(Wire):
    settlements: list[WireSettlement]
    cursor: str | None = None


# --- order writes -----------------------------------------------------------------------
class WireErrorBody(Wire):
    code: str | None = None
    message: str | None = None
    details: str | None = None


class WireCreateOrderResponse(Wire):
    order_id: str
    client_order_id: str | None = None
    fill_count: str
    remaining_count: str
    average_fill_price: str | None = None  # only when fill_count > 0 (YES price)
    average_fee_paid: str | None = None  # per contract, only when fill_count > 0
    ts_ms: int


class WireCancelOrderResponse(Wire):
    order_id: str
    client_order_id: str | None = None
    reduced_by: str
    ts_ms: int


class WireAmendOrderResponse(Wire):
    order_id: str
    client_order_id: str | None = None
    remaining_count: str | None = None
    fill_count: str | None = None
    average_fill_price: str | None = None
    average_fee_paid: str | None = None
    ts_ms: int


class WireDecreaseOrderResponse(Wire):
    order_id: str
    client_order_id: str | None = None
    remaining_count: str
    ts_ms: int


class WireBatchCreateItem(Wire):
    order_id: str | None = None
    client_order_id: str | None = None
    fill_count: str | None = None
    remaining_count: str | None = None
    average_fill_price: str | None = None
    average_fee_paid: str | None = None
    ts_ms: int | None = None
    error: WireErrorBody | None = None


class WireBatchCreateResponse(Wire):
    orders: list[WireBatchCreateItem]


class WireBatchCancelItem(Wire):
    order_id: str
    client_order_id: str | None = None
    reduced_by: str
    ts_ms: int | None = None
    error: WireErrorBody | None = None


class WireBatchCancelResponse(Wire):
    orders: list[WireBatchCancelItem]
