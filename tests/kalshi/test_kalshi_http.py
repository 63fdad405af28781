"""HTTP layer: pagination, retries (reads only), error mapping, unknown order outcomes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
import responses
from responses import matchers

from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Action, OrderIntent, Side
from kalshibot.errors import (
    AuthError,
    DataError,
    ExchangeRejectedError,
    ExchangeUnavailableError,
    OrderOutcomeUnknownError,
    RateLimitedError,
)
from kalshibot.kalshi.auth import HEADER_SIGNATURE, Signer
from kalshibot.kalshi.endpoints.client import KalshiClient
from kalshibot.kalshi.http import (
    BatchOutcomeUnknownError,
    DuplicateClientOrderIdError,
    error_code_and_message,
)
from tests.kalshi.helpers import BASE, RecordingClock, fixture_json, fixture_text, make_http

ORDERS = BASE + "/portfolio/events/orders"


def intent(coid: str = "sol15m-20261120T1903-7f3a9c2e") -> OrderIntent:
    return OrderIntent("KXSOL15M-26NOV201415-15", Side.YES, Action.BUY, Price("0.49"),
                       Count(10), coid)


def post_calls(rsps: responses.RequestsMock) -> int:
    return sum(1 for c in rsps.calls if c.request.method == "POST")


# --- pagination -------------------------------------------------------------------------
def test_pagination_over_three_pages(rsps: responses.RequestsMock,
                                     public_client: KalshiClient) -> None:
    page = fixture_json("get_markets")
    m = page["markets"]
    url = BASE + "/markets"
    rsps.get(url, json={"markets": m[:1], "cursor": "c1"},
             match=[matchers.query_param_matcher({"series_ticker": "KXSOL15M", "limit": "1000"})])
    rsps.get(url, json={"markets": m[1:2], "cursor": "c2"},
             match=[matchers.query_param_matcher(
                 {"series_ticker": "KXSOL15M", "limit": "1000", "cursor": "c1"})])
    rsps.get(url, json={"markets": m[2:], "cursor": ""},
             match=[matchers.query_param_matcher(
                 {"series_ticker": "KXSOL15M", "limit": "1000", "cursor": "c2"})])
    got = [x.ticker for x in public_client.iter_markets(series_ticker="KXSOL15M")]
    assert got == [x["ticker"] for x in m]
    assert len(rsps.calls) == 3


def test_repeated_cursor_is_refused(rsps: responses.RequestsMock,
                                    public_client: KalshiClient) -> None:
    url = BASE + "/markets/trades"
    trades = fixture_json("get_markets_trades")["trades"]
    rsps.get(url, json={"trades": trades[:1], "cursor": "A"})
    rsps.get(url, json={"trades": trades[1:], "cursor": "B"},
             match=[matchers.query_param_matcher({"limit": "1000", "cursor": "A"})])
    rsps.get(url, json={"trades": [], "cursor": "A"},
             match=[matchers.query_param_matcher({"limit": "1000", "cursor": "B"})])
    it = public_client.iter_trades()
    assert next(it).trade_id == trades[0]["trade_id"]
    assert next(it).trade_id == trades[1]["trade_id"]
    with pytest.raises(DataError, match="repeated cursor"):
        next(it)
    assert len(rsps.calls) == 3


def test_missing_cursor_ends_pagination(rsps: responses.RequestsMock, client: KalshiClient
                                        ) -> None:
    body = fixture_json("get_portfolio_positions")
    del body["cursor"]
    rsps.get(BASE + "/portfolio/positions", json=body)
    assert len(list(client.iter_positions())) == 2


# --- retries ----------------------------------------------------------------------------
def test_429_then_success_backs_off_with_injected_sleep(
    rsps: responses.RequestsMock, clock: RecordingClock, public_client: KalshiClient
) -> None:
    url = BASE + "/exchange/status"
    rsps.get(url, status=429, body=fixture_text("error_429_rate_limited"))
    rsps.get(url, status=429, body=fixture_text("error_429_rate_limited"))
    rsps.get(url, json=fixture_json("get_exchange_status"))
    status = public_client.get_exchange_status()
    assert status.trading_active is True
    assert len(rsps.calls) == 3
    backoff = [s for s in clock.sleeps if s > 0.05]  # the limiter's own pacing is 0.05 s
    assert len(backoff) == 2
    assert 0.125 <= backoff[0] <= 0.25 and 0.25 <= backoff[1] <= 0.5  # exponential + jitter


def test_429_exhausted_raises_rate_limited(rsps: responses.RequestsMock,
                                           public_client: KalshiClient) -> None:
    rsps.get(BASE + "/markets/KX", status=429, json={"error": "too many requests"})
    with pytest.raises(RateLimitedError, match="too many requests"):
        public_client.get_market("KX")
    assert len(rsps.calls) == public_client.http.retry.max_attempts


@pytest.mark.parametrize("failure", [502, 503, requests.ConnectionError("reset"),
                                     requests.ReadTimeout("slow"),
                                     requests.exceptions.ChunkedEncodingError("cut off")])
def test_get_retried_on_5xx_and_network_errors(
    rsps: responses.RequestsMock, public_client: KalshiClient, failure: object
) -> None:
    url = BASE + "/markets/KXSOL15M-26NOV201415-15"
    if isinstance(failure, int):
        rsps.get(url, status=failure, body="<html>bad gateway</html>")
    else:
        rsps.get(url, body=failure)  # type: ignore[arg-type]
    rsps.get(url, json=fixture_json("get_market"))
    assert public_client.get_market("KXSOL15M-26NOV201415-15").ticker.endswith("-15")
    assert len(rsps.calls) == 2


def test_get_5xx_exhausted_is_exchange_unavailable(
    rsps: responses.RequestsMock, public_client: KalshiClient
) -> None:
    rsps.get(BASE + "/markets/KX", status=500, json={"error": {"code": "internal"}})
    with pytest.raises(ExchangeUnavailableError):
        public_client.get_market("KX")
    assert len(rsps.calls) == 4


# --- order writes are never re-sent -----------------------------------------------------
@pytest.mark.parametrize("failure", [500, 502, 503, 504, requests.ReadTimeout("lost"),
                                     requests.ConnectionError("dropped"),
                                     requests.exceptions.ChunkedEncodingError("cut off"),
                                     requests.exceptions.ContentDecodingError("bad gzip")])
def test_create_with_unknown_outcome_is_sent_once(
    rsps: responses.RequestsMock, client: KalshiClient, failure: object
) -> None:
    if isinstance(failure, int):
        rsps.post(ORDERS, status=failure, json={"error": {"code": "internal_error"}})
    else:
        rsps.post(ORDERS, body=failure)  # type: ignore[arg-type]
    rsps.post(ORDERS, status=201, json=fixture_json("post_portfolio_events_orders"))
    with pytest.raises(OrderOutcomeUnknownError) as ei:
        client.create_order(intent())
    assert ei.value.client_order_id == "sol15m-20261120T1903-7f3a9c2e"
    assert post_calls(rsps) == 1


def test_create_2xx_unreadable_is_outcome_unknown(rsps: responses.RequestsMock,
                                                  client: KalshiClient) -> None:
    rsps.post(ORDERS, status=201, body="<html>proxy</html>")
    with pytest.raises(OrderOutcomeUnknownError):
        client.create_order(intent())
    rsps.replace(responses.POST, ORDERS, status=201, json={"client_order_id": "x"})
    with pytest.raises(OrderOutcomeUnknownError):  # accepted, but no order_id in the answer
        client.create_order(intent())
    assert post_calls(rsps) == 2


def test_create_409_is_duplicate_client_order_id(rsps: responses.RequestsMock,
                                                 client: KalshiClient) -> None:
    rsps.post(ORDERS, status=409, json={"error": {"code": "order_already_exists",
                                                  "message": "duplicate client_order_id"}})
    with pytest.raises(DuplicateClientOrderIdError) as ei:
        client.create_order(intent())
    assert ei.value.status == 409 and ei.value.client_order_id == intent().client_order_id
    assert post_calls(rsps) == 1


def test_create_429_is_rate_limited_not_retried(rsps: responses.RequestsMock,
                                                client: KalshiClient) -> None:
    rsps.post(ORDERS, status=429, body=fixture_text("error_429_rate_limited"))
    with pytest.raises(RateLimitedError):
        client.create_order(intent())
    assert post_calls(rsps) == 1


def test_create_sends_signed_v2_body(rsps: responses.RequestsMock, client: KalshiClient) -> None:
    rsps.post(ORDERS, status=201, json=fixture_json("post_portfolio_events_orders"))
    ack = client.create_order(intent())
    assert ack.order_id == "b7e1c0a4-3f52-4d8e-9a61-2c5f0e7d9b13"
    req = rsps.calls[0].request
    assert HEADER_SIGNATURE in req.headers
    assert json.loads(req.body) == {
        "ticker": "KXSOL15M-26NOV201415-15", "client_order_id": intent().client_order_id,
        "side": "bid", "count": "10.00", "price": "0.4900",
        "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross",
        "post_only": False, "reduce_only": False,
    }


def test_batch_create_unknown_outcome_carries_every_id(rsps: responses.RequestsMock,
                                                       client: KalshiClient) -> None:
    rsps.post(ORDERS + "/batched", status=503)
    with pytest.raises(BatchOutcomeUnknownError) as ei:
        client.batch_create_orders([intent("a-1"), intent("b-2")])
    assert ei.value.client_order_ids == ("a-1", "b-2")
    assert post_calls(rsps) == 1


def test_cancel_transport_error_is_unknown_not_a_crash(rsps: responses.RequestsMock,
                                                       client: KalshiClient) -> None:
    rsps.delete(ORDERS + "/oid-1", body=requests.exceptions.ChunkedEncodingError("cut off"))
    with pytest.raises(ExchangeUnavailableError, match="outcome is unknown"):
        client.cancel_order("oid-1", "KX")
    assert len(rsps.calls) == 1


def test_cancel_5xx_not_retried(rsps: responses.RequestsMock, client: KalshiClient) -> None:
    rsps.delete(ORDERS + "/abc", status=500)
    with pytest.raises(ExchangeUnavailableError, match="outcome is unknown"):
        client.cancel_order("abc")
    assert len(rsps.calls) == 1


# --- error mapping ----------------------------------------------------------------------
def test_2xx_with_error_body_is_an_error(rsps: responses.RequestsMock, client: KalshiClient
                                         ) -> None:
    rsps.post(ORDERS, status=200, body=fixture_text("error_deprecated_v1_order_endpoint"))
    with pytest.raises(ExchangeRejectedError) as ei:
        client.create_order(intent())
    assert ei.value.code == "deprecated_v1_order_endpoint"
    rsps.get(BASE + "/markets/KX", status=200, json={"error": {"code": "bad_request"}})
    with pytest.raises(ExchangeRejectedError, match="bad_request"):
        client.get_market("KX")
    assert len(rsps.calls) == 2  # neither retried


def test_400_codes_nested_and_top_level(rsps: responses.RequestsMock, client: KalshiClient
                                        ) -> None:
    rsps.post(ORDERS, status=400, body=fixture_text("error_400_invalid_order"))
    with pytest.raises(ExchangeRejectedError) as ei:
        client.create_order(intent())
    assert (ei.value.status, ei.value.code) == (400, "invalid_order")
    assert "post only cross" in str(ei.value)
    rsps.replace(responses.POST, ORDERS, status=400,
                 body=fixture_text("error_400_unparseable_body"))
    with pytest.raises(ExchangeRejectedError) as ei2:
        client.create_order(intent())
    assert ei2.value.code == "bad_request"


def test_error_code_shapes() -> None:
    assert error_code_and_message(fixture_json("error_429_rate_limited")) == (
        None, "too many requests")
    assert error_code_and_message(fixture_json("error_400_unparseable_body"))[0] == "bad_request"
    assert error_code_and_message("oops") == (None, None)


def test_401_hints_at_environment_keys_and_clock(rsps: responses.RequestsMock,
                                                 client: KalshiClient) -> None:
    rsps.get(BASE + "/portfolio/balance", status=401,
             json={"error": {"code": "authentication_error"}})
    with pytest.raises(AuthError) as ei:
        client.get_balance()
    text = str(ei.value)
    assert "demo and prod keys" in text and "clock" in text
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(("status", "exc"), [(403, AuthError), (404, ExchangeRejectedError)])
def test_403_404_mapping(rsps: responses.RequestsMock, client: KalshiClient, status: int,
                         exc: type[Exception]) -> None:
    rsps.get(BASE + "/portfolio/orders/zzz", status=status, json={"error": {"code": "x"}})
    with pytest.raises(exc):
        client.get_order("zzz")
    assert len(rsps.calls) == 1


def test_public_mode_refuses_account_calls_without_sending(
    rsps: responses.RequestsMock, public_client: KalshiClient
) -> None:
    with pytest.raises(AuthError, match="needs an API key"):
        public_client.get_balance()
    with pytest.raises(AuthError):
        public_client.create_order(intent())
    assert len(rsps.calls) == 0


def test_public_requests_are_unsigned_and_signed_ones_carry_headers(
    rsps: responses.RequestsMock, public_client: KalshiClient, client: KalshiClient
) -> None:
    rsps.get(BASE + "/exchange/status", json=fixture_json("get_exchange_status"))
    public_client.get_exchange_status()
    client.get_exchange_status()
    assert HEADER_SIGNATURE not in rsps.calls[0].request.headers
    assert HEADER_SIGNATURE in rsps.calls[1].request.headers


def test_json_floats_never_become_binary_floats(rsps: responses.RequestsMock,
                                                public_client: KalshiClient) -> None:
    rsps.get(BASE + "/markets/KXSOL15M-26NOV201415-15", body=fixture_text("get_market"))
    m = public_client.get_market("KXSOL15M-26NOV201415-15")
    assert m.floor_strike == Decimal("185.4321")
    rsps.get(BASE + "/markets/X/orderbook",
             json={"orderbook_fp": {"yes_dollars": [[0.47, "1.00"]], "no_dollars": []}})
    with pytest.raises(DataError):
        public_client.get_orderbook("X")


def test_maintenance_status_is_returned(rsps: responses.RequestsMock,
                                        public_client: KalshiClient) -> None:
    rsps.get(BASE + "/exchange/status", status=503,
             json={"exchange_active": False, "trading_active": False})
    s = public_client.get_exchange_status()
    assert not s.exchange_active and len(rsps.calls) == 1


def test_timeouts_are_passed_to_requests(clock: RecordingClock, signer: Signer,
                                         rsps: responses.RequestsMock) -> None:
    http = make_http(clock, signer, connect_timeout_s=1.5, read_timeout_s=4.0)
    assert http.timeouts == (1.5, 4.0)
    rsps.get(BASE + "/exchange/status", json=fixture_json("get_exchange_status"))
    KalshiClient(http).get_exchange_status()
    assert rsps.calls[0].request.req_kwargs["timeout"] == (1.5, 4.0)
