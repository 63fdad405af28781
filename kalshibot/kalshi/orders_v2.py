"""Intents <-> Kalshi's V2 order body (``kalshi-api.md`` section 5).

The V2 body quotes everything on the YES book: ``side`` is ``bid`` (buy YES) or ``ask`` (sell YES)
and ``price`` is always the **YES** price in dollars. A NO intent at NO price ``q`` becomes the
opposite book side at YES price ``1 - q``:

    buy YES @p -> bid @p      sell YES @p -> ask @p
    buy NO  @q -> ask @1-q    sell NO  @q -> bid @1-q

``bid`` and ``ask`` each stand for two economically identical intents (buy YES @p == sell NO @1-p),
so mapping back needs the contract side the caller wants the result expressed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from kalshibot.clock import ensure_utc
from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import (
    Action,
    OrderIntent,
    Side,
    TimeInForce,
    check_client_order_id,
    check_count,
    check_intent,
    check_price,
)
from kalshibot.errors import DataError, InvalidCountError


class BookSide(StrEnum):
    BID = "bid"  # buy YES (== sell NO)
    ASK = "ask"  # sell YES (== buy NO)


class SelfTradePrevention(StrEnum):
    TAKER_AT_CROSS = "taker_at_cross"
    MAKER = "maker"


#: FIX ClOrdID rule, assumed for REST too (``kalshi-api.md`` section 5).


def book_side_of(side: Side, action: Action) -> BookSide:
    """The V2 book side for buying/selling ``side``."""
    buys_yes_exposure = (side is Side.YES) == (action is Action.BUY)
    return BookSide.BID if buys_yes_exposure else BookSide.ASK


def action_of(book_side: BookSide, side: Side) -> Action:
    """Inverse of ``book_side_of`` for a chosen contract ``side``."""
    if side is Side.YES:
        return Action.BUY if book_side is BookSide.BID else Action.SELL
    return Action.BUY if book_side is BookSide.ASK else Action.SELL


def outcome_side_of(book_side: BookSide) -> Side:
    """The exposure a book side adds: ``bid`` -> YES, ``ask`` -> NO."""
    return Side.YES if book_side is BookSide.BID else Side.NO


def wire_price(price: Price) -> str:
    """A request price: strictly inside (0, 1), at most 4 decimals, as ``"0.4900"``."""
    return check_price(price).to_str()


def wire_count(count: Count) -> str:
    """A request count: positive, as ``"10.00"``."""
    return check_count(count).to_str()


def intent_to_v2(
    intent: OrderIntent,
    *,
    self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS,
    expiration_time: datetime | None = None,
    cancel_order_on_pause: bool = False,
) -> dict[str, Any]:
    """The ``POST /portfolio/events/orders`` body for ``intent`` (YES price, string count).
    ``cancel_order_on_pause``: Kalshi cancels the order if it rests when trading pauses.
    No ``exchange_index``: the exchange routes by ``ticker`` to the market's shard."""
    check_intent(intent)
    body: dict[str, Any] = {
        "ticker": intent.ticker,
        "client_order_id": check_client_order_id(intent.client_order_id),
        "side": book_side_of(intent.side, intent.action).value,
        "count": wire_count(intent.count),
        "price": wire_price(intent.yes_price),
        "time_in_force": intent.time_in_force.value,
        "self_trade_prevention_type": self_trade_prevention.value,
        "post_only": intent.post_only,
        "reduce_only": intent.reduce_only,
    }
    if cancel_order_on_pause:
        body["cancel_order_on_pause"] = True
    if expiration_time is not None:
        if intent.time_in_force is not TimeInForce.GTC:
            raise DataError("expiration_time needs good_till_canceled")
        body["expiration_time"] = int(ensure_utc(expiration_time).timestamp())
    return body


def intent_from_v2(body: Mapping[str, Any], *, side: Side) -> OrderIntent:
    """The intent a V2 body expresses, written on contract ``side`` (price of that side)."""
    try:
        book = BookSide(body["side"])
        yes_price = Price.from_dollars(body["price"], "price")
        count = Count.from_fp(body["count"], "count")
        tif = TimeInForce(body["time_in_force"])
        ticker = body["ticker"]
        coid = body["client_order_id"]
    except KeyError as exc:
        raise DataError(f"V2 order body lacks {exc.args[0]!r}") from None
    except ValueError as exc:
        raise DataError(f"V2 order body: {exc}") from None
    return OrderIntent(
        ticker=ticker,
        side=side,
        action=action_of(book, side),
        price=yes_price if side is Side.YES else yes_price.complement(),
        count=count,
        client_order_id=coid,
        time_in_force=tif,
        post_only=bool(body.get("post_only", False)),
        reduce_only=bool(body.get("reduce_only", False)),
    )


def amend_body(
    ticker: str, book_side: BookSide, yes_price: Price, total_count: Count,
    *, client_order_id: str | None = None, updated_client_order_id: str | None = None,
) -> dict[str, Any]:
    """``POST .../amend`` body: YES price and total count (filled + new remaining)."""
    body: dict[str, Any] = {
        "ticker": ticker, "side": book_side.value,
        "price": wire_price(yes_price), "count": wire_count(total_count),
    }
    if client_order_id:
        body["client_order_id"] = check_client_order_id(client_order_id)
    if updated_client_order_id:
        body["updated_client_order_id"] = check_client_order_id(updated_client_order_id)
    return body


def decrease_body(*, reduce_by: Count | None = None, reduce_to: Count | None = None,
                  market_ticker: str | None = None) -> dict[str, Any]:
    """``POST .../decrease`` body: exactly one of ``reduce_by`` / ``reduce_to``, and the
    ``market_ticker`` that routes it to the market's shard (without it: shard 0)."""
    if (reduce_by is None) == (reduce_to is None):
        raise DataError("decrease needs exactly one of reduce_by / reduce_to")
    body: dict[str, Any] = {"market_ticker": market_ticker} if market_ticker else {}
    if reduce_by is not None:
        return {**body, "reduce_by": wire_count(reduce_by)}
    assert reduce_to is not None
    if reduce_to.value < 0:
        raise InvalidCountError(f"reduce_to {reduce_to} is negative")
    return {**body, "reduce_to": reduce_to.to_str()}
