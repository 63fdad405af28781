"""Order book from Kalshi's bids-only representation."""

import pytest

from kalshibot.domain.book import OrderBook
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Side
from kalshibot.errors import DataError


def lv(p: str, n: str) -> tuple[Price, Count]:
    return Price(p), Count(n)


# the book of fixtures/kalshi/get_market_orderbook.json (ascending, as Kalshi sends it)
BOOK = OrderBook.from_levels(
    "KXSOL15M-26NOV201415-15",
    [lv("0.44", "120"), lv("0.45", "300"), lv("0.46", "75"), lv("0.47", "210")],
    [lv("0.48", "90"), lv("0.49", "150"), lv("0.50", "60"), lv("0.51", "240")],
)


def test_top_of_book_from_bids_only():
    assert BOOK.best_bid(Side.YES).price == Price("0.47")
    assert BOOK.best_ask(Side.YES).price == Price("0.49")  # 1 - best NO bid 0.51
    assert BOOK.best_ask(Side.YES).size == Count(240)
    assert BOOK.best_bid(Side.NO).price == Price("0.51")
    assert BOOK.best_ask(Side.NO).price == Price("0.53")  # 1 - 0.47
    assert BOOK.mid() == Price("0.48")
    assert BOOK.mid(Side.NO) == Price("0.52")
    assert BOOK.spread() == Price("0.49") - Price("0.47")
    assert not BOOK.is_crossed()


def test_asks_best_first():
    asks = BOOK.asks(Side.YES)
    assert [a.price for a in asks] == [Price("0.49"), Price("0.50"), Price("0.51"), Price("0.52")]


def test_empty_sides():
    only_yes = OrderBook.from_levels("T", [lv("0.30", "5")], [])
    assert only_yes.best_ask(Side.YES) is None
    assert only_yes.best_ask(Side.NO).price == Price("0.70")
    assert only_yes.mid() is None and only_yes.spread() is None
    empty = OrderBook.empty("T")
    assert empty.best_bid() is None and empty.best_ask() is None
    assert empty.depth_to_buy(Side.YES, Price("0.99")) == Count(0)


def test_depth_and_walk():
    assert BOOK.depth_to_buy(Side.YES, Price("0.50")) == Count(300)  # 240 @.49 + 60 @.50
    assert BOOK.depth_to_buy(Side.YES, Price("0.48")) == Count(0)
    assert BOOK.depth_to_sell(Side.YES, Price("0.46")) == Count(285)
    w = BOOK.walk_buy(Side.YES, Count(250), Price("0.50"))
    assert w.count == Count(250)
    assert w.cost == Money("117.60") + Money("5.00")  # 240*0.49 + 10*0.50
    assert w.average_price == Price(Money("122.60").amount / 250)
    ws = BOOK.walk_sell(Side.NO, Count(1000), Price("0.50"))
    assert ws.count == Count(300)  # 240 @.51 + 60 @.50


def test_zero_size_dropped_and_bad_levels_rejected():
    b = OrderBook.from_levels("T", [lv("0.30", "0"), lv("0.20", "1")], [])
    assert b.best_bid().price == Price("0.20")
    with pytest.raises(DataError):
        OrderBook.from_levels("T", [lv("0.30", "1"), lv("0.30", "2")], [])
    with pytest.raises(DataError):
        OrderBook.from_levels("T", [lv("0.30", "-1")], [])
