"""Every example in both spec files (3.34) goes through the bot's parsers (issue 20, Must show).

Each example is either parsed by the code that reads that message, or listed here with the
reason it is rightly not parsed (a channel the bot does not use, a command the bot sends, a
field value rather than a message). A new example in a future spec fails
``test_every_example_is_classified`` until it is placed in one of the two groups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kalshibot.clock import SimClock
from kalshibot.domain.orders import Side
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.orders_v2 import intent_from_v2
from kalshibot.ws.feed import WsFeed
from tests.kalshi.helpers import SPEC, T0

ASYNC_SPEC = Path(SPEC).with_name("kalshi-asyncapi.yaml")


def _load(path: Path) -> Any:
    if not path.is_file():
        pytest.skip(f"spec {path} is absent")
    return yaml.safe_load(path.read_text())


# --- OpenAPI ------------------------------------------------------------------------------
def _openapi_examples() -> Iterator[tuple[str, Any]]:
    """(location, example) for every ``example``/``examples`` in the OpenAPI document."""
    def walk(node: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "example":
                    yield "/".join(path), v
                elif k == "examples" and isinstance(v, dict):
                    for name, ex in v.items():
                        yield "/".join([*path, name]), ex.get("value", ex)
                else:
                    yield from walk(v, [*path, str(k)])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, [*path, str(i)])
    yield from walk(_load(Path(SPEC)), [])


def _ack(ex: dict[str, Any]) -> Any:
    r = w.load(w.WireCreateOrderResponse, ex, "example")
    return p.parse_order_ack(r, client_order_id=ex["client_order_id"], side=Side.YES)


#: Response (and V2 request) schema examples -> the parser of that message.
OPENAPI_PARSERS: dict[str, Callable[[Any], Any]] = {
    "components/schemas/CreateOrderV2Response": _ack,
    "components/schemas/CancelOrderV2Response":
        lambda ex: p.count(w.load(w.WireCancelOrderResponse, ex, "ex").reduced_by, "reduced_by"),
    "components/schemas/DecreaseOrderV2Response":
        lambda ex: p.count(w.load(w.WireDecreaseOrderResponse, ex, "ex").remaining_count, "rc"),
    "components/schemas/AmendOrderV2Response": lambda ex: w.load(w.WireAmendOrderResponse, ex,
                                                                 "ex"),
    "components/schemas/BatchCreateOrdersV2Response":
        lambda ex: [p.parse_order_ack(w.WireCreateOrderResponse.model_validate(o),
                                      client_order_id=o["client_order_id"], side=Side.NO)
                    for o in w.load(w.WireBatchCreateResponse, ex, "ex").model_dump()["orders"]],
    "components/schemas/BatchCancelOrdersV2Response":
        lambda ex: w.load(w.WireBatchCancelResponse, ex, "ex"),
    # single values of the money / count / book types
    "components/schemas/FixedPointDollars": lambda ex: p.price(ex, "FixedPointDollars"),
    "components/schemas/FixedPointCount": lambda ex: p.count(ex, "FixedPointCount"),
    "components/schemas/PriceLevelDollarsCountFp": lambda ex: p.parse_levels([ex], "level"),
    "components/schemas/ExchangeIndex":
        lambda ex: w.WireEvent(event_ticker="E", series_ticker="S", exchange_index=ex),
    # request bodies the bot reads back (resolving what it sent)
    "components/schemas/CreateOrderV2Request": lambda ex: intent_from_v2(ex, side=Side.YES),
    "components/schemas/BatchCreateOrdersV2Request":
        lambda ex: [intent_from_v2(o, side=Side.NO) for o in ex["orders"]],
}
#: Examples rightly not parsed, with the reason.
OPENAPI_NOT_PARSED: dict[str, str] = {
    "components/schemas/DecreaseOrderV2Request": "a request the client builds (contract test)",
    "components/schemas/AmendOrderV2Request": "a request the client builds (contract test)",
    "components/schemas/BatchCancelOrdersV2Request": "a request the client builds (contract "
                                                     "test)",
    "paths//fcm/positions/transfers/post/requestBody/content/application/json/move_yes":
        "FCM transfer request: an endpoint the bot does not use",
    "paths//fcm/positions/transfers/post/requestBody/content/application/json/move_no":
        "FCM transfer request: an endpoint the bot does not use",
}
#: Prefixes of locations that are single field values of endpoints the bot does not use (query
#: parameters, tier names, milestone metadata) or checked in ``test_field_value_examples...``.
OPENAPI_VALUES = ("paths//structured_targets/", "paths//milestones/",
                  "components/schemas/GetAccountApiLimitsResponse/properties/",
                  "components/schemas/ApiUsageLevelGrant/properties/",
                  "components/schemas/AccountApiUsageLevelVolumeGoal/properties/",
                  "components/schemas/Settlement/properties/",
                  "components/schemas/Milestone/properties/",
                  "components/schemas/EventFeeChange/properties/")


def test_every_openapi_example_is_classified() -> None:
    for loc, _ex in _openapi_examples():
        assert loc in OPENAPI_PARSERS or loc in OPENAPI_NOT_PARSED or \
            loc.startswith(OPENAPI_VALUES), f"new spec example needs a parser or a reason: {loc}"


def test_every_openapi_message_example_parses() -> None:
    seen = set()
    for loc, ex in _openapi_examples():
        if loc in OPENAPI_PARSERS:
            assert OPENAPI_PARSERS[loc](ex) is not None
            seen.add(loc)
    assert seen == set(OPENAPI_PARSERS)  # every parser met its example


def test_field_value_examples_parse_as_their_kind() -> None:
    """The value examples that are money or enum values go through the same parsers."""
    values = dict(_openapi_examples())
    assert p.money(values["components/schemas/Settlement/properties/fee_cost"], "fee_cost")
    p.parse_event(w.WireEvent(event_ticker="E", series_ticker="S", fee_type_override=values[
        "components/schemas/EventFeeChange/properties/fee_type_override"]))


# --- AsyncAPI -----------------------------------------------------------------------------
def _async_examples() -> Iterator[tuple[str, str, Any]]:
    spec = _load(ASYNC_SPEC)
    for name, msg in spec["components"]["messages"].items():
        for ex in msg.get("examples") or ():
            yield name, str(ex.get("name", "")), ex["payload"]


#: Messages the bot reads (routed by ``WsFeed``); each example must route without a bad message.
ASYNC_PARSED = {"orderbookSnapshot", "orderbookDelta", "ticker", "trade", "fill", "userOrder",
                "marketLifecycleV2", "cfbenchmarksValue", "subscribedResponse",
                "unsubscribedResponse", "okResponse", "errorResponse", "incomingPing",
                "incomingPong"}
#: Messages rightly not parsed: why.
ASYNC_NOT_PARSED = {
    **{n: "a command the client sends, not a message it receives" for n in (
        "subscribeCommand", "unsubscribeCommand", "listSubscriptionsCommand",
        "updateSubscriptionCommand", "updateSubscriptionDeleteCommand",
        "updateSubscriptionGetSnapshotCommand", "updateSubscriptionSingleSidCommand",
        "cfbenchmarksUpdateSubscriptionCommand", "pythUpdateSubscriptionCommand",
        "outgoingPing", "outgoingPong")},
    **{n: "a channel the bot does not subscribe to (ignored if it arrives)" for n in (
        "subscribedIndicesResponse", "subscribedUnderlyingsResponse", "listSubscriptionsResponse",
        "cfbenchmarksIndexList", "cfbenchmarksValue5Hz", "cfbenchmarks5HzIndexList",
        "pythValue", "pythUnderlyingList", "marketMetadataUpdated",
        "multivariateMarketLifecycle", "eventLifecycle", "eventFeeUpdate",
        "marketPosition", "orderGroupUpdates", "rfqCreated", "rfqDeleted", "quoteCreated",
        "quoteAccepted", "quoteExecuted", "rfqBatchCreated", "rfqBatchDeleted",
        "batchQuoteCreated", "rfqBatchBestQuotes", "batchQuoteAccepted", "rfqBatchExecuted",
        "batchQuoteExecuted")},
}


def test_every_asyncapi_message_is_classified() -> None:
    spec = _load(ASYNC_SPEC)
    names = set(spec["components"]["messages"])
    assert names - ASYNC_PARSED - set(ASYNC_NOT_PARSED) == set(), "classify new messages"
    assert "ticker_v2" not in spec["channels"]  # removed: the bot never subscribes to it


def test_every_asyncapi_example_goes_through_the_feed() -> None:
    """Each example reaches ``WsFeed`` as if from the socket (book messages in order); those
    the bot reads leave no bad message, those it does not read are ignored quietly."""
    feed = WsFeed("wss://example.invalid/trade-api/ws/v2", None, SimClock(T0))
    fills: list[Any] = []
    orders: list[Any] = []
    feed.on_fill.append(fills.append)
    feed.on_order.append(orders.append)
    examples = list(_async_examples())
    assert examples
    for name, ex_name, payload in examples:
        if not isinstance(payload, dict):  # ping/pong frame bodies: websocket-client answers
            assert name in ("incomingPing", "incomingPong", "outgoingPing", "outgoingPong")
            continue
        before = feed.bad_messages
        feed.client._dispatch(payload)
        assert feed.bad_messages == before, (name, ex_name, feed.problems[-1:])
    assert fills and orders
    assert feed.books.snapshots >= 1 and feed.tickers
    assert feed.states.grid_change("INXD-23SEP14-B4487") is not None  # structure update kept
    assert feed.cf.latest("BRTI") is not None
