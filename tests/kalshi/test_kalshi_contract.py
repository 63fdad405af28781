"""Contract test: every REST fixture and every request body the client builds validates against
Kalshi's OpenAPI document (``../shared/specs/kalshi-openapi.yaml``).

Validation uses ``openapi-schema-validator`` (OAS 3.0 dialect) with ``$ref``s resolved by the
``referencing`` registry over the loaded spec; no schema is written by hand. The spec is 3.34.0
(October 2026, the API the fixtures come from). Every request the client can send is checked:
its method and path exist in the spec, every query parameter is one the spec declares for that
operation, and every body validates against the operation's request schema. Three
*mechanical* overlays are applied, each tied to ``kalshi-api.md``:

1. ``nullable: true`` beside a ``$ref``/``allOf`` is honoured (OAS 3.0 validators ignore it there,
   yet the spec documents e.g. candle trade prices as "may be null").
2. Properties the spec marks ``deprecated`` are not required (section 5: deprecated
   ``side``/``action``/``taker_side`` may be absent; S34 made them optional).
3. ``Market.liquidity_dollars`` and ``Market.fractional_trading_enabled`` are not required
   (section 7: "the field set drifts between versions", naming exactly these two).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses
import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Action, OrderIntent, Side, TimeInForce
from kalshibot.kalshi.endpoints.client import KalshiClient
from kalshibot.kalshi.orders_v2 import BookSide
from tests.kalshi.helpers import BASE, FIXTURES, SPEC, fixture_json

URI = "urn:kalshi-openapi"
DRIFT_NOT_REQUIRED = {"Market": {"liquidity_dollars", "fractional_trading_enabled"}}

#: REST fixture -> the OpenAPI schema of that answer
REST_FIXTURES = {
    "get_exchange_status": "ExchangeStatus",
    "get_market": "GetMarketResponse",
    "get_markets": "GetMarketsResponse",
    "get_market_orderbook": "GetMarketOrderbookResponse",
    "get_markets_trades": "GetTradesResponse",
    "get_series_markets_candlesticks": "GetMarketCandlesticksResponse",
    "get_portfolio_balance": "GetBalanceResponse",
    "get_portfolio_positions": "GetPositionsResponse",
    "get_portfolio_orders": "GetOrdersResponse",
    "get_portfolio_fills": "GetFillsResponse",
    "post_portfolio_events_orders": "CreateOrderV2Response",
    "delete_portfolio_events_orders_order_id": "CancelOrderV2Response",
    "error_400_invalid_order": "ErrorResponse",
    "error_400_unparseable_body": "ErrorResponse",
    "error_429_rate_limited": "ErrorResponse",
    "error_deprecated_v1_order_endpoint": "ErrorResponse",
}
#: The legacy V1 order (S32) predates fixed-point fields: it must FAIL today's schema.
LEGACY = {"post_portfolio_orders_legacy_v1": "GetOrderResponse"}
#: WebSocket messages belong to the AsyncAPI document and the feeds; not REST.
WS_PREFIX = "ws_"


def _overlay(node: Any, name: str | None = None) -> Any:
    if isinstance(node, list):
        return [_overlay(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _overlay(v) for k, v in node.items()}
    props = out.get("properties")
    if isinstance(props, dict) and isinstance(out.get("required"), list):
        drop = {k for k, v in props.items() if isinstance(v, dict) and v.get("deprecated")}
        drop |= DRIFT_NOT_REQUIRED.get(name or "", set())
        out["required"] = [r for r in out["required"] if r not in drop]
        if not out["required"]:
            del out["required"]
    if out.get("nullable") is True and ("$ref" in out or "allOf" in out):
        inner = {k: v for k, v in out.items() if k not in ("nullable", "description")}
        out = {"anyOf": [inner, {"enum": [None]}]}
    return out


@pytest.fixture(scope="module")
def registry() -> Registry:
    if not SPEC.is_file():
        pytest.skip(f"OpenAPI spec {SPEC} is absent")
    spec = yaml.safe_load(SPEC.read_text())
    schemas = spec["components"]["schemas"]
    spec["components"]["schemas"] = {k: _overlay(v, k) for k, v in schemas.items()}
    return Registry().with_resource(URI, Resource(contents=spec, specification=DRAFT4))


def errors(registry: Registry, schema: str, instance: Any) -> list[str]:
    v = OAS30Validator({"$ref": f"{URI}#/components/schemas/{schema}"}, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(instance)]


def test_every_fixture_is_classified() -> None:
    if not FIXTURES.is_dir():
        pytest.skip("shared fixtures are absent")
    names = {p.stem for p in FIXTURES.glob("*.json")}
    unclassified = names - set(REST_FIXTURES) - set(LEGACY) - {
        n for n in names if n.startswith(WS_PREFIX)}
    assert not unclassified, f"new fixtures need a schema here: {sorted(unclassified)}"


@pytest.mark.parametrize(("name", "schema"), sorted(REST_FIXTURES.items()))
def test_fixture_matches_spec(registry: Registry, name: str, schema: str) -> None:
    assert errors(registry, schema, fixture_json(name)) == []


def test_legacy_v1_fixture_fails_the_current_schema(registry: Registry) -> None:
    errs = errors(registry, "GetOrderResponse", fixture_json("post_portfolio_orders_legacy_v1"))
    assert any("fill_count_fp" in e for e in errs)


def test_overlay_still_catches_real_breakage(registry: Registry) -> None:
    book = copy.deepcopy(fixture_json("get_market_orderbook"))
    del book["orderbook_fp"]["yes_dollars"]
    assert errors(registry, "GetMarketOrderbookResponse", book)
    order = copy.deepcopy(fixture_json("get_portfolio_orders"))
    order["orders"][0]["yes_price_dollars"] = 0.49
    assert errors(registry, "GetOrdersResponse", order)


# --- request bodies ---------------------------------------------------------------------
def _intents() -> Iterator[OrderIntent]:
    for side in Side:
        for action in Action:
            yield OrderIntent("KXSOL15M-26NOV201415-15", side, action, Price("0.4900"),
                              Count("2.50"), f"cid-{side}-{action}")
    yield OrderIntent("KXSOL15M-26NOV201415-15", Side.NO, Action.SELL, Price("0.051"),
                      Count(1), "cid-ioc", time_in_force=TimeInForce.IOC, reduce_only=True)
    yield OrderIntent("KXSOL15M-26NOV201415-15", Side.YES, Action.BUY, Price("0.01"),
                      Count(100), "cid-post", post_only=True)


def _sent_bodies(client: KalshiClient) -> list[tuple[str, str, Any]]:
    """Drive every write method through a mocked server; collect (method, path, body)."""
    orders = BASE + "/portfolio/events/orders"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        r.post(orders, status=201, json=fixture_json("post_portfolio_events_orders"))
        r.post(orders + "/batched", status=201, json={"orders": []})
        r.delete(orders + "/batched", json={"orders": []})
        r.post(orders + "/o1/amend", json={"order_id": "o1", "ts_ms": 1})
        r.post(orders + "/o1/decrease", json={"order_id": "o1", "remaining_count": "1.00",
                                               "ts_ms": 1})
        for i in _intents():
            client.create_order(i)
        client.create_order(next(_intents()), cancel_order_on_pause=True)
        client.batch_create_orders(list(_intents()))
        client.batch_cancel_orders([("o1", "KXSOL15M-26NOV201415-15"), ("o2", None)])
        client.amend_order("o1", "KXSOL15M-26NOV201415-15", BookSide.ASK, Price("0.5100"),
                           Count(8), client_order_id="cid-a", updated_client_order_id="cid-b")
        client.decrease_order("o1", reduce_by=Count(1))
        client.decrease_order("o1", reduce_to=Count(1), ticker="KXSOL15M-26NOV201415-15")
        return [(c.request.method, c.request.path_url.split("?")[0], json.loads(c.request.body))
                for c in r.calls]


SCHEMA_FOR = {
    ("POST", "/trade-api/v2/portfolio/events/orders"): "CreateOrderV2Request",
    ("POST", "/trade-api/v2/portfolio/events/orders/batched"): "BatchCreateOrdersV2Request",
    ("DELETE", "/trade-api/v2/portfolio/events/orders/batched"): "BatchCancelOrdersV2Request",
    ("POST", "/trade-api/v2/portfolio/events/orders/o1/amend"): "AmendOrderV2Request",
    ("POST", "/trade-api/v2/portfolio/events/orders/o1/decrease"): "DecreaseOrderV2Request",
}


def test_every_request_body_matches_spec(registry: Registry, client: KalshiClient) -> None:
    sent = _sent_bodies(client)
    assert len(sent) == 6 + 1 + 1 + 1 + 1 + 2
    assert any(b.get("cancel_order_on_pause") is True for _m, _p, b in sent)
    assert any(b.get("market_ticker") for m, p, b in sent if p.endswith("/decrease"))
    for method, path, body in sent:
        schema = SCHEMA_FOR[(method, path)]
        assert errors(registry, schema, body) == [], (schema, body)


def test_spec_paths_used_by_the_client_exist(registry: Registry) -> None:
    spec = registry.contents(URI)
    paths = set(spec["paths"])
    used = {"/exchange/status", "/exchange/schedule", "/series/{series_ticker}", "/events",
            "/events/{event_ticker}", "/markets", "/markets/{ticker}",
            "/markets/{ticker}/orderbook", "/markets/orderbooks", "/markets/trades",
            "/series/{series_ticker}/markets/{ticker}/candlesticks", "/markets/candlesticks",
            "/historical/cutoff", "/historical/markets", "/historical/markets/{ticker}",
            "/historical/markets/{ticker}/candlesticks", "/historical/trades",
            "/historical/fills", "/historical/orders", "/portfolio/balance",
            "/portfolio/positions", "/portfolio/fills", "/portfolio/settlements",
            "/portfolio/orders", "/portfolio/orders/{order_id}", "/portfolio/events/orders",
            "/portfolio/events/orders/batched", "/portfolio/events/orders/{order_id}",
            "/portfolio/events/orders/{order_id}/amend",
            "/portfolio/events/orders/{order_id}/decrease", "/account/limits",
            "/account/endpoint_costs", "/exchange/user_data_timestamp"}
    assert used <= paths, sorted(used - paths)


# --- every request the client can send: path, method, query parameters, body --------------
def _spec_operation(spec: dict[str, Any], method: str, path: str
                    ) -> tuple[str, dict[str, Any]] | None:
    """The spec path template matching a concrete request path, and its operation."""
    import re

    p = path.removeprefix("/trade-api/v2")
    for tmpl, item in sorted(spec["paths"].items(), key=lambda kv: kv[0].count("{")):
        rx = "^" + re.sub(r"\{[^/]+\}", "[^/]+", tmpl) + "$"
        if re.match(rx, p) and method.lower() in item:
            return tmpl, item
    return None


def _declared_query(spec: dict[str, Any], item: dict[str, Any], method: str) -> set[str]:
    params = list(item.get("parameters", [])) + list(item[method.lower()].get("parameters", []))
    names = set()
    for prm in params:
        if "$ref" in prm:
            prm = spec["components"]["parameters"][prm["$ref"].rsplit("/", 1)[1]]
        if prm.get("in") == "query":
            names.add(prm["name"])
    return names


def _every_request(client: KalshiClient) -> list[Any]:
    """Call every method of the client once against a catch-all mock; the requests sent."""
    import re
    from datetime import UTC, datetime

    t0, t1 = datetime(2026, 11, 20, 19, tzinfo=UTC), datetime(2026, 11, 20, 19, 15, tzinfo=UTC)
    tk, ev = "KXSOL15M-26NOV201415-15", "KXSOL15M-26NOV201415"
    mk = fixture_json("get_market")["market"]
    order = fixture_json("get_portfolio_orders")["orders"][0]
    candles = fixture_json("get_series_markets_candlesticks")
    bodies: list[tuple[str, str, Any]] = [
        ("GET", r"/exchange/status$", fixture_json("get_exchange_status")),
        ("GET", r"/exchange/schedule$", {"schedule": {"standard_hours": [],
                                                       "maintenance_windows": []}}),
        ("GET", r"/exchange/user_data_timestamp$", {"as_of_time": "2026-11-20T19:00:00Z"}),
        ("GET", r"/historical/cutoff$", {"market_settled_ts": "2026-01-01T00:00:00Z",
                                         "trades_created_ts": "2026-01-01T00:00:00Z",
                                         "orders_updated_ts": "2026-01-01T00:00:00Z"}),
        ("GET", r"/account/limits$", {"usage_tier": "basic", "read": {"refill_rate": 200,
                                      "bucket_capacity": 200}, "write": {
                                      "refill_rate": 100, "bucket_capacity": 100}}),
        ("GET", r"/account/endpoint_costs$", {"default_cost": 10, "endpoint_costs": []}),
        ("GET", r"/series/[^/]+$", {"series": {"ticker": "KXSOL15M", "fee_type": "quadratic",
                                               "fee_multiplier": 1}}),
        ("GET", r"/events$", {"events": [], "cursor": ""}),
        ("GET", r"/events/[^/]+$", {"event": {"event_ticker": ev, "series_ticker": "KXSOL15M"},
                                    "markets": []}),
        ("GET", r"(/historical)?/markets$", {"markets": [mk], "cursor": ""}),
        ("GET", r"(/historical)?/markets/[^/]+$", {"market": mk}),
        ("GET", r"/markets/[^/]+/orderbook$", fixture_json("get_market_orderbook")),
        ("GET", r"/markets/orderbooks$", {"orderbooks": []}),
        ("GET", r"/markets/trades$|/historical/trades$", {"trades": [], "cursor": ""}),
        ("GET", r"/series/[^/]+/markets/[^/]+/candlesticks$", candles),
        ("GET", r"/markets/candlesticks$", {"markets": []}),
        ("GET", r"/historical/markets/[^/]+/candlesticks$", {"ticker": tk, "candlesticks": []}),
        ("GET", r"/portfolio/balance$", fixture_json("get_portfolio_balance")),
        ("GET", r"/portfolio/positions$", fixture_json("get_portfolio_positions")),
        ("GET", r"(/portfolio|/historical)/fills$", {"fills": [], "cursor": ""}),
        ("GET", r"/portfolio/settlements$", {"settlements": [], "cursor": ""}),
        ("GET", r"(/portfolio|/historical)/orders$", {"orders": [], "cursor": ""}),
        ("GET", r"/portfolio/orders/[^/]+$", {"order": order}),
        ("DELETE", r"/portfolio/events/orders/[^/]+$",
         fixture_json("delete_portfolio_events_orders_order_id")),
        ("DELETE", r"/portfolio/events/orders$", {}),
    ]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        for method, rx, body in bodies:
            alts = rx.replace("(/historical)?", "(?:/historical)?").replace("$", "")
            r.add(method, re.compile(re.escape(BASE) + f"(?:{alts})" + r"(?:\?.*)?$"),
                  json=body)
        client.get_exchange_status(), client.get_exchange_schedule()
        client.get_user_data_timestamp(), client.get_historical_cutoff()
        client.refresh_rate_limits(), client.get_series("KXSOL15M")
        list(client.iter_events(series_ticker="KXSOL15M", status="open", tickers=[ev]))
        client.get_event(ev)
        list(client.iter_markets(series_ticker="KXSOL15M", status="open", tickers=[tk],
                                 min_close_ts=t0, max_close_ts=t1))
        list(client.iter_markets(event_ticker=ev, historical=True))
        client.get_market(tk), client.get_market(tk, historical=True)
        client.get_orderbook(tk, 10), client.get_orderbooks([tk])
        list(client.iter_trades(ticker=tk, min_ts=t0, max_ts=t1))
        list(client.iter_trades(ticker=tk, historical=True))
        client.get_candlesticks("KXSOL15M", tk, t0, t1), client.get_candlesticks_batch([tk], t0,
                                                                                        t1)
        client.get_historical_candlesticks(tk, t0, t1)
        client.get_balance()
        list(client.iter_positions(ticker=tk, event_ticker=ev))
        list(client.iter_fills(ticker=tk, order_id="o1", min_ts=t0, max_ts=t1))
        list(client.iter_fills(ticker=tk, historical=True))
        list(client.iter_settlements(ticker=tk, min_ts=t0, max_ts=t1))
        list(client.iter_orders(ticker=tk, event_ticker=ev, status="resting", min_ts=t0))
        list(client.iter_orders(ticker=tk, historical=True))
        client.get_order("o1")
        client.cancel_order("o1", tk)
        client.cancel_all_orders()
        return [c.request for c in r.calls]


def test_every_request_path_method_and_query_parameter_is_in_the_spec(
        registry: Registry, client: KalshiClient) -> None:
    """Reads and parameterised writes; the bodies of writes are checked above. A parameter
    the spec does not declare (e.g. one Kalshi removed) fails here."""
    from urllib.parse import parse_qs, urlsplit

    spec = registry.contents(URI)
    sent = _every_request(client)
    assert len(sent) >= 30
    for req in sent:
        url = urlsplit(req.url)
        found = _spec_operation(spec, req.method, url.path)
        assert found is not None, f"{req.method} {url.path} is not in the 3.34 spec"
        tmpl, item = found
        unknown = set(parse_qs(url.query)) - _declared_query(spec, item, req.method)
        assert not unknown, f"{req.method} {tmpl}: undeclared query parameters {unknown}"


