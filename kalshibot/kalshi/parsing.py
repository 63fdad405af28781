"""Wire models -> domain types. Prices only from ``*_dollars`` strings, counts from ``*_fp``.

Every price and size is required: a missing or malformed one is a ``DataError`` (or its
subclasses ``InvalidPriceError`` / ``InvalidCountError``), never a default.

Direction: V2 orders and fills report ``outcome_side``/``book_side``; when the deprecated explicit
``side``+``action`` are absent, an order or fill is expressed canonically as a **buy of its
outcome side** at that side's price (``bid`` -> buy YES @ yes price, ``ask`` -> buy NO @ no price).
That is exact in cash and P&L: selling YES at ``p`` is buying NO at ``1 - p``.

Drift (spec 3.34; DESIGN principle 12): a fee type, tick structure or market status/result this
version does not know makes **that market** untradeable (``Market.untradeable`` says why, shown
in ``markets`` and in the decision log), never the whole listing. Fees: the event's
``fee_type_override`` / ``fee_multiplier_override`` beat the series'; ``fee_waiver_expiration_time``
waives fees until then. Counts: every market takes ``*_fp`` counts at 0.01 granularity (the
removed ``fractional_trading_enabled`` is not read). Shards: ``exchange_index`` is kept on
markets, orders, fills and positions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from kalshibot.clock import from_epoch_s
from kalshibot.domain.book import OrderBook
from kalshibot.domain.fees import FeeSchedule, FeeType
from kalshibot.domain.market import (
    Balance,
    Event,
    ExchangeStatus,
    Market,
    MarketStatus,
    Result,
    Series,
    Settlement,
    series_of,
)
from kalshibot.domain.money import ONE, Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Order, OrderAck, OrderStatus, Side, Trade
from kalshibot.domain.portfolio import Position
from kalshibot.domain.ticks import TickGrid
from kalshibot.errors import DataError
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.orders_v2 import BookSide, outcome_side_of


def price(text: str | None, what: str) -> Price:
    """A required ``*_dollars`` price."""
    if text is None:
        raise DataError(f"{what} is missing")
    return Price.from_dollars(text, what)


def count(text: str | None, what: str) -> Count:
    """A required ``*_fp`` count."""
    if text is None:
        raise DataError(f"{what} is missing")
    return Count.from_fp(text, what)


def money(text: str | None, what: str) -> Money:
    """A required dollar amount (``*_dollars``, ``fee_cost``)."""
    if text is None:
        raise DataError(f"{what} is missing")
    return Money.from_dollars(text, what)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# --- exchange, series, events, markets --------------------------------------------------
def parse_exchange_status(s: w.WireExchangeStatus) -> ExchangeStatus:
    return ExchangeStatus(exchange_active=s.exchange_active, trading_active=s.trading_active)


def _fee_type(text: str | None, what: str) -> tuple[FeeType | None, str]:
    """(fee type, "") or (None, why it is unusable)."""
    try:
        return FeeType.parse(text), ""
    except DataError as exc:
        return None, f"{what}: {exc.message}"


def parse_series(s: w.WireSeries) -> Series:
    """A series; an unknown or missing fee type / multiplier is recorded in ``fee_problem``
    (its markets are not traded), never raised."""
    ft, problem = _fee_type(s.fee_type, f"series {s.ticker}")
    if s.fee_multiplier is None or s.fee_multiplier < 0:
        problem = problem or f"series {s.ticker}: fee_multiplier {s.fee_multiplier} is unusable"
    return Series(ticker=s.ticker, title=s.title, fee_type=ft or FeeType.QUADRATIC,
                  fee_multiplier=s.fee_multiplier if s.fee_multiplier is not None
                  and s.fee_multiplier >= 0 else Decimal(1),
                  frequency=s.frequency, fee_problem=problem, category=s.category)


def parse_event(e: w.WireEvent) -> Event:
    """An event with its fee overrides (None: the series' fees apply)."""
    ft: FeeType | None = None
    problem = ""
    if e.fee_type_override is not None:
        ft, problem = _fee_type(e.fee_type_override, f"event {e.event_ticker} override")
    mult = e.fee_multiplier_override
    if mult is not None and mult < 0:
        problem, mult = problem or f"event {e.event_ticker}: fee_multiplier_override {mult}", None
    return Event(event_ticker=e.event_ticker, series_ticker=e.series_ticker, title=e.title,
                 mutually_exclusive=e.mutually_exclusive, fee_type_override=ft,
                 fee_multiplier_override=mult, fee_problem=problem)


E = TypeVar("E", bound=StrEnum)


def _enum(cls: type[E], value: str, what: str) -> E:
    try:
        return cls(value)
    except ValueError:
        raise DataError(f"{what}: unknown value {value!r}") from None


def _lenient(cls: type[E], value: str, fallback: E, what: str, problems: list[str]) -> E:
    try:
        return cls(value)
    except ValueError:
        problems.append(f"{what}: unknown value {value!r}")
        return fallback


def parse_grid(structure: str | None, ranges: Sequence[w.WirePriceRange] | None,
               what: str, problems: list[str]) -> TickGrid:
    """The tick grid (``price_ranges`` win over the structure name); an unusable one is a
    problem and a placeholder grid (the market must not be traded)."""
    rows: list[dict[str, object]] | None = (
        [{"start": r.start, "end": r.end, "step": r.step} for r in ranges] if ranges else None)
    try:
        return TickGrid.from_structure(structure, rows)
    except DataError as exc:
        problems.append(f"{what}: {exc.message}")
        return TickGrid.linear_cent()


def parse_market(m: w.WireMarket, series: Series | None = None,
                 event: Event | None = None) -> Market:
    """A market; ``series`` (when known) supplies the fee type and multiplier, ``event`` its
    overrides. Values this version does not know make it untradeable (module docstring)."""
    what = f"market {m.ticker}"
    problems: list[str] = []
    settle = (price(m.settlement_value_dollars, f"{what} settlement_value_dollars")
              if m.settlement_value_dollars is not None else None)
    grid = parse_grid(m.price_level_structure, m.price_ranges, what, problems)
    status = _lenient(MarketStatus, m.status, MarketStatus.UNKNOWN, f"{what} status", problems)
    result = _lenient(Result, m.result, Result.NONE, f"{what} result", problems)
    base = FeeSchedule(series.fee_type, series.fee_multiplier) if series else FeeSchedule()
    fees = FeeSchedule.resolve(
        base.fee_type, base.multiplier,
        override_type=event.fee_type_override if event else None,
        override_multiplier=event.fee_multiplier_override if event else None,
        waiver_until=m.fee_waiver_expiration_time)
    problems += [p for p in (series.fee_problem if series else "",
                             event.fee_problem if event else "") if p]
    return Market(
        ticker=m.ticker,
        event_ticker=m.event_ticker,
        series_ticker=series.ticker if series else series_of(m.event_ticker),
        title=m.title,
        status=status,
        open_time=m.open_time,
        close_time=m.close_time,
        tick_grid=grid,
        strike_type=m.strike_type,
        floor_strike=m.floor_strike,
        cap_strike=m.cap_strike,
        result=result,
        settlement_value=settle,
        fractional_trading=True,  # *_fp counts: 0.01 granularity (spec 3.34 FixedPointCount)
        volume=count(m.volume_fp, f"{what} volume_fp").value,
        open_interest=count(m.open_interest_fp, f"{what} open_interest_fp").value,
        fee_type=fees.fee_type,
        fee_multiplier=fees.multiplier,
        fee_waiver_until=fees.waiver_until,
        exchange_index=m.exchange_index,
        untradeable="; ".join(problems),
    )


# --- books, trades, candles -------------------------------------------------------------
def parse_levels(levels: Iterable[Sequence[str]] | None, what: str) -> list[tuple[Price, Count]]:
    """``[[price_dollars, count_fp], ...]``; ``None`` (an empty side) gives no levels."""
    out: list[tuple[Price, Count]] = []
    for i, lv in enumerate(levels or ()):
        if len(lv) != 2:
            raise DataError(f"{what}[{i}]: expected [price, size], got {list(lv)!r}")
        out.append((price(lv[0], f"{what}[{i}] price"), count(lv[1], f"{what}[{i}] size")))
    return out


def parse_orderbook(ticker: str, fp: w.WireOrderbookFp, ts: datetime | None = None) -> OrderBook:
    """Bids-only book (``yes_dollars``/``no_dollars``, ascending on the wire)."""
    return OrderBook.from_levels(
        ticker, parse_levels(fp.yes_dollars, f"{ticker} yes_dollars"),
        parse_levels(fp.no_dollars, f"{ticker} no_dollars"), ts)


def parse_trade(t: w.WireTrade) -> Trade:
    what = f"trade {t.trade_id}"
    side = t.taker_outcome_side or t.taker_side
    if side is None:
        raise DataError(f"{what}: taker_outcome_side is missing")
    return Trade(trade_id=t.trade_id, ticker=t.ticker,
                 yes_price=price(t.yes_price_dollars, f"{what} yes_price_dollars"),
                 count=count(t.count_fp, f"{what} count_fp"), taker_side=Side(side),
                 ts=t.created_time)


@dataclass(frozen=True, slots=True)
class Ohlc:
    open: Price
    high: Price
    low: Price
    close: Price


@dataclass(frozen=True, slots=True)
class Candle:
    """One period of a market. YES prices in dollars; ``trade`` is None when nothing traded."""

    ticker: str
    end: datetime  # inclusive period end, UTC
    yes_bid: Ohlc
    yes_ask: Ohlc
    trade: Ohlc | None
    trade_mean: Price | None
    previous_price: Price | None
    volume: Count
    open_interest: Count


def _ohlc(o: str | None, h: str | None, lo: str | None, c: str | None, what: str) -> Ohlc:
    return Ohlc(price(o, f"{what} open"), price(h, f"{what} high"), price(lo, f"{what} low"),
                price(c, f"{what} close"))


def _trade_ohlc(o: str | None, h: str | None, lo: str | None, c: str | None,
                what: str) -> Ohlc | None:
    if o is None and h is None and lo is None and c is None:
        return None
    return _ohlc(o, h, lo, c, what)


def _opt_price(text: str | None, what: str) -> Price | None:
    return None if text is None else price(text, what)


def parse_candle(ticker: str, c: w.WireCandlestick) -> Candle:
    what = f"{ticker} candle {c.end_period_ts}"
    p = c.price
    return Candle(
        ticker=ticker, end=from_epoch_s(c.end_period_ts),
        yes_bid=_ohlc(c.yes_bid.open_dollars, c.yes_bid.high_dollars, c.yes_bid.low_dollars,
                      c.yes_bid.close_dollars, f"{what} yes_bid"),
        yes_ask=_ohlc(c.yes_ask.open_dollars, c.yes_ask.high_dollars, c.yes_ask.low_dollars,
                      c.yes_ask.close_dollars, f"{what} yes_ask"),
        trade=_trade_ohlc(p.open_dollars, p.high_dollars, p.low_dollars, p.close_dollars,
                          f"{what} price"),
        trade_mean=_opt_price(p.mean_dollars, f"{what} mean"),
        previous_price=_opt_price(p.previous_dollars, f"{what} previous"),
        volume=count(c.volume_fp, f"{what} volume_fp"),
        open_interest=count(c.open_interest_fp, f"{what} open_interest_fp"),
    )


def parse_candle_historical(ticker: str, c: w.WireCandlestickHistorical) -> Candle:
    what = f"{ticker} historical candle {c.end_period_ts}"
    p = c.price
    return Candle(
        ticker=ticker, end=from_epoch_s(c.end_period_ts),
        yes_bid=_ohlc(c.yes_bid.open, c.yes_bid.high, c.yes_bid.low, c.yes_bid.close,
                      f"{what} yes_bid"),
        yes_ask=_ohlc(c.yes_ask.open, c.yes_ask.high, c.yes_ask.low, c.yes_ask.close,
                      f"{what} yes_ask"),
        trade=_trade_ohlc(p.open, p.high, p.low, p.close, f"{what} price"),
        trade_mean=_opt_price(p.mean, f"{what} mean"),
        previous_price=_opt_price(p.previous, f"{what} previous"),
        volume=count(c.volume, f"{what} volume"),
        open_interest=count(c.open_interest, f"{what} open_interest"),
    )


# --- portfolio --------------------------------------------------------------------------
def direction(
    outcome_side: str | None, book_side: str | None, side: str | None, action: str | None,
    what: str,
) -> tuple[Side, Action]:
    """(side, action) from explicit legacy fields, else canonical buy of the outcome side."""
    if book_side is not None and outcome_side is not None \
            and outcome_side_of(BookSide(book_side)).value != outcome_side:
        raise DataError(f"{what}: book_side {book_side} contradicts outcome_side {outcome_side}")
    if side is not None and action is not None:
        return Side(side), Action(action)
    if book_side is not None:
        return outcome_side_of(BookSide(book_side)), Action.BUY
    if outcome_side is not None:
        return Side(outcome_side), Action.BUY
    raise DataError(f"{what}: no direction (outcome_side/book_side/side+action) in the answer")


def _side_price(side: Side, yes: str, no: str, what: str) -> Price:
    yp, np_ = price(yes, f"{what} yes_price_dollars"), price(no, f"{what} no_price_dollars")
    if yp.value + np_.value != ONE:
        raise DataError(f"{what}: yes {yp.to_str()} + no {np_.to_str()} != 1")
    return yp if side is Side.YES else np_


_ORDER_STATUS = {"resting": OrderStatus.RESTING, "canceled": OrderStatus.CANCELLED,
                 "executed": OrderStatus.EXECUTED}


def parse_order(o: w.WireOrder) -> Order:
    what = f"order {o.order_id}"
    side, action = direction(o.outcome_side, o.book_side, o.side, o.action, what)
    filled = count(o.fill_count_fp, f"{what} fill_count_fp")
    status = _ORDER_STATUS.get(o.status)
    if status is None:
        raise DataError(f"{what}: unknown status {o.status!r}")
    if status is OrderStatus.RESTING and filled.value > 0:
        status = OrderStatus.PARTIALLY_FILLED
    fees = (money(o.taker_fees_dollars, f"{what} taker_fees_dollars")
            + money(o.maker_fees_dollars, f"{what} maker_fees_dollars"))
    return Order(
        order_id=o.order_id, client_order_id=o.client_order_id or None, ticker=o.ticker,
        side=side, action=action,
        price=_side_price(side, o.yes_price_dollars, o.no_price_dollars, what),
        initial_count=count(o.initial_count_fp, f"{what} initial_count_fp"),
        filled_count=filled,
        remaining_count=count(o.remaining_count_fp, f"{what} remaining_count_fp"),
        status=status, fees_paid=fees, created_time=o.created_time,
        updated_time=o.last_update_time, exchange_index=o.exchange_index,
    )


def parse_fill(f: w.WireFill) -> Fill:
    what = f"fill {f.fill_id}"
    side, action = direction(f.outcome_side, f.book_side, f.side, f.action, what)
    ticker = f.ticker or f.market_ticker
    if not ticker:
        raise DataError(f"{what}: ticker is missing")
    if f.created_time is not None:
        ts = f.created_time
    elif f.ts is not None:
        ts = from_epoch_s(f.ts)
    else:
        raise DataError(f"{what}: no created_time or ts")
    return Fill(
        fill_id=f.fill_id, order_id=f.order_id, ticker=ticker, side=side, action=action,
        price=_side_price(side, f.yes_price_dollars, f.no_price_dollars, what),
        count=count(f.count_fp, f"{what} count_fp"), fee=money(f.fee_cost, f"{what} fee_cost"),
        is_taker=f.is_taker, ts=ts, client_order_id=f.client_order_id or None,
    )


def parse_position(p: w.WireMarketPosition) -> Position:
    """``qty`` + YES / - NO; ``cost`` = market exposure in dollars. A ``null`` value (sent for
    flat positions) is zero; an absent one was refused by the wire model."""
    what = f"position {p.ticker}"
    return Position(
        ticker=p.ticker, qty=count(p.position_fp or "0", f"{what} position_fp"),
        cost=money(p.market_exposure_dollars or "0", f"{what} market_exposure_dollars"),
        realized_pnl=money(p.realized_pnl_dollars or "0", f"{what} realized_pnl_dollars"),
        fees=money(p.fees_paid_dollars or "0", f"{what} fees_paid_dollars"),
        exchange_index=p.exchange_index,
    )


def parse_balance(b: w.WireBalance) -> Balance:
    """Cash from ``balance_dollars`` (exact); portfolio value from integer cents."""
    return Balance(cash=money(b.balance_dollars, "balance_dollars"),
                   portfolio_value=Money.from_cents(b.portfolio_value))


def parse_settlement(s: w.WireSettlement) -> Settlement:
    """``revenue`` (payout received, >= 0) and ``value`` come in integer cents."""
    what = f"settlement {s.ticker}"
    return Settlement(
        ticker=s.ticker, result=_enum(Result, s.market_result, f"{what} market_result"),
        revenue=Money.from_cents(s.revenue), settled_time=s.settled_time,
        yes_count=count(s.yes_count_fp, f"{what} yes_count_fp").value,
        no_count=count(s.no_count_fp, f"{what} no_count_fp").value,
        value=Price(Decimal(s.value) / 100) if s.value is not None else None,
    )


def parse_order_ack(r: w.WireCreateOrderResponse, *, client_order_id: str, side: Side) -> OrderAck:
    """The create answer. ``average_fill_price`` is a YES price on the wire; it is returned as
    the price of the intent's ``side``. ``average_fee_paid`` is dollars per contract."""
    what = f"create ack {r.order_id}"
    if r.client_order_id and r.client_order_id != client_order_id:
        raise DataError(f"{what}: client_order_id {r.client_order_id!r} is not the one sent "
                        f"({client_order_id!r})")
    avg: Price | None = None
    if r.average_fill_price is not None:
        yes = price(r.average_fill_price, f"{what} average_fill_price")
        avg = yes if side is Side.YES else yes.complement()
    fee = (money(r.average_fee_paid, f"{what} average_fee_paid")
           if r.average_fee_paid is not None else None)
    return OrderAck(
        order_id=r.order_id, client_order_id=client_order_id,
        filled_count=count(r.fill_count, f"{what} fill_count"),
        remaining_count=count(r.remaining_count, f"{what} remaining_count"),
        average_fill_price=avg, average_fee_per_contract=fee, ts=from_ms(r.ts_ms),
    )
