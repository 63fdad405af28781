"""Orders, fills and their vocabulary, in the bot's own terms (not Kalshi's wire terms).

An order is expressed as an *intent*: buy or sell the YES or NO contract at a price of that
contract (a NO price, for NO). ``kalshibot.kalshi`` maps intents to Kalshi's V2 body
(``side`` bid/ask on the YES price) and back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kalshibot.domain.money import Count, Money, Price
from kalshibot.errors import DataError, InvalidCountError, InvalidPriceError


class Side(StrEnum):
    """Which contract: YES or NO."""

    YES = "yes"
    NO = "no"

    def other(self) -> Side:
        return Side.NO if self is Side.YES else Side.YES


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"


class TimeInForce(StrEnum):
    GTC = "good_till_canceled"
    IOC = "immediate_or_cancel"
    FOK = "fill_or_kill"


class OrderStatus(StrEnum):
    """Local order state machine (see ``kalshibot.execution``)."""

    PENDING_SUBMIT = "pending_submit"  # written locally, request not yet answered
    RESTING = "resting"
    PARTIALLY_FILLED = "partially_filled"
    EXECUTED = "executed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    OUTCOME_UNKNOWN = "outcome_unknown"  # request sent, answer lost: must be resolved by reading

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.EXECUTED, OrderStatus.CANCELLED, OrderStatus.REJECTED)

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What we want to do. ``price`` is the price of ``side`` (a NO price for NO orders)."""

    ticker: str
    side: Side
    action: Action
    price: Price
    count: Count
    client_order_id: str
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False

    @property
    def is_buy(self) -> bool:
        return self.action is Action.BUY

    @property
    def yes_price(self) -> Price:
        """The same limit expressed as a YES price."""
        return self.price if self.side is Side.YES else self.price.complement()


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The exchange's answer to a create: accepted, possibly (partly) filled at once."""

    order_id: str
    client_order_id: str
    filled_count: Count
    remaining_count: Count
    average_fill_price: Price | None = None  # price of the order's side
    average_fee_per_contract: Money | None = None
    ts: datetime | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the exchange reports it (prices in the order's own side)."""

    order_id: str
    client_order_id: str | None
    ticker: str
    side: Side
    action: Action
    price: Price
    initial_count: Count
    filled_count: Count
    remaining_count: Count
    status: OrderStatus
    fees_paid: Money = field(default_factory=Money.zero)
    created_time: datetime | None = None
    updated_time: datetime | None = None
    exchange_index: int | None = None  # the exchange shard holding it (None: not stated)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders. ``price`` is the price of ``side``; ``fee`` >= 0 paid."""

    fill_id: str
    order_id: str
    ticker: str
    side: Side
    action: Action
    price: Price
    count: Count
    fee: Money
    is_taker: bool
    ts: datetime
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade on the tape. ``yes_price`` in dollars; ``taker_side``: the taker's side."""

    trade_id: str
    ticker: str
    yes_price: Price
    count: Count
    taker_side: Side
    ts: datetime


# --- well-formed orders -----------------------------------------------------------------
#: Client order ids: 1-64 characters of Kalshi's documented alphabet.
CLIENT_ORDER_ID_RE = re.compile(r"^[A-Za-z0-9_:+=/-]{1,64}$")
#: Request prices carry at most 4 decimal places.
MAX_PRICE_PLACES = 4


def check_price(price: Price) -> Price:
    """A limit price: strictly inside (0, 1) dollars with at most 4 decimal places."""
    if not (0 < price.value < 1):
        raise InvalidPriceError(f"order price {price.to_str()} must be strictly between $0 and $1")
    exp = price.value.as_tuple().exponent
    if isinstance(exp, int) and -exp > MAX_PRICE_PLACES:
        raise InvalidPriceError(f"order price {price.value} has more than {MAX_PRICE_PLACES} "
                                "decimal places")
    return price


def check_count(count: Count) -> Count:
    """An order size: strictly positive contracts."""
    if count.value <= 0:
        raise InvalidCountError(f"order count {count} must be positive")
    return count


def check_client_order_id(client_order_id: str) -> str:
    if not CLIENT_ORDER_ID_RE.match(client_order_id):
        raise DataError(f"client_order_id {client_order_id!r} must be 1-64 characters of "
                        "[A-Za-z0-9_:+=/-]")
    return client_order_id


def check_intent(intent: OrderIntent) -> OrderIntent:
    """Every venue-independent rule of a well-formed order; ``DataError`` (subclasses) if not.

    Checked before an order is recorded or sent, so a malformed intent is *rejected* locally
    rather than becoming an order whose outcome is unknown."""
    check_client_order_id(intent.client_order_id)
    check_price(intent.price)
    check_count(intent.count)
    if intent.reduce_only and intent.time_in_force is not TimeInForce.IOC:
        raise DataError("reduce_only orders must be immediate_or_cancel")
    if intent.post_only and intent.time_in_force is not TimeInForce.GTC:
        raise DataError("post_only orders must be good_till_canceled")
    return intent
