"""``TradingMonitor``: what the engine and the session report, turned into log events and alerts.

The engine calls (when its optional ``monitor`` attribute is set):

- ``on_order(intent, result, now)`` for every order it submits;
- ``on_reconcile(diffs, now)`` after each reconciliation with the exchange;
- ``on_cycle(report, decisions, fills)`` at the end of each cycle: one ``decision`` event per
  decision, one ``fill`` event per new fill, one ``error`` event per error and one
  ``heartbeat`` event (cycle duration in ms, markets seen, orders sent, errors).

Alert-worthy conditions (each alerted when it starts, then rate limited by the ``Alerter``):
circuit breaker tripped, kill switch on, daily loss limit reached, reconciliation mismatch,
errors in ``alert_api_error_cycles`` consecutive cycles, and fills when ``alert_on_fills``.

Every method swallows its own exceptions: monitoring never stops trading.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kalshibot.clock import Clock, SystemClock
from kalshibot.config import Settings
from kalshibot.domain.money import Money
from kalshibot.domain.orders import Fill, OrderIntent
from kalshibot.monitor.alerts import Alerter, Severity
from kalshibot.monitor.logging import log_event, setup_logging
from kalshibot.store.decisions import Decision

if TYPE_CHECKING:
    from kalshibot.engine import CycleReport
    from kalshibot.execution import SubmitResult

log = logging.getLogger("kalshibot.trading")


def decision_fields(d: Decision) -> dict[str, Any]:
    """A decision as log fields (prices/edge in dollars per contract, size in contracts)."""
    return {"run_id": d.run_id, "cycle": d.cycle, "ts": d.ts, "ticker": d.ticker,
            "strategy": d.strategy, "verdict": d.verdict.value, "reason": d.reason,
            "model_p": d.model_p, "market_price": d.market_price, "side": d.side,
            "edge": d.edge, "proposed_size": d.proposed_size}


def fill_fields(f: Fill) -> dict[str, Any]:
    """A fill as log fields (price/fee in dollars, count in contracts)."""
    return {"fill_id": f.fill_id, "order_id": f.order_id, "client_order_id": f.client_order_id,
            "ticker": f.ticker, "side": f.side.value, "action": f.action.value,
            "price": f.price, "count": f.count, "fee": f.fee, "is_taker": f.is_taker, "ts": f.ts}


@dataclass
class TradingMonitor:
    """Structured events and alerts for one trading run (see module docstring)."""

    alerter: Alerter
    max_daily_loss: Money
    alert_on_fills: bool = False
    error_cycles: int = 3
    run_id: str = ""
    logger: logging.Logger = log
    _state: dict[str, bool] = field(default_factory=dict)
    _error_streak: int = 0

    @classmethod
    def from_settings(cls, s: Settings, *, clock: Clock | None = None, run_id: str = "",
                      install_logging: bool = True, console: bool = False) -> TradingMonitor:
        """Monitor from settings; installs the JSON-lines log under ``log_dir`` (and, with
        ``console``, a rich console handler for warnings; the trade view shows the rest)."""
        if install_logging:
            setup_logging(s, console=console)
        return cls(Alerter.from_settings(s, clock=clock or SystemClock()),
                   Money(s.max_daily_loss), s.alert_on_fills, s.alert_api_error_cycles, run_id)

    # --- helpers --------------------------------------------------------------------------
    def _edge(self, name: str, on: bool) -> bool:
        """True when condition ``name`` has just become true."""
        before = self._state.get(name, False)
        self._state[name] = on
        return on and not before

    def _safe(self, what: str, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # monitoring must never stop trading
            self.logger.error("monitor %s failed: %s: %s", what, type(exc).__name__, exc)

    # --- session --------------------------------------------------------------------------
    def on_run_start(self, *, venue: str, strategy: str, mode: str, now: datetime,
                     database: str = "") -> None:
        self._safe("run_start", lambda: log_event(
            self.logger, "run_start", f"run {self.run_id} started ({venue}, {strategy})",
            run_id=self.run_id, venue=venue, strategy=strategy, mode=mode, ts=now,
            database=database))

    def on_run_end(self, summary: dict[str, Any]) -> None:
        self._safe("run_end", lambda: log_event(
            self.logger, "run_end",
            f"run {self.run_id} stopped: {summary.get('stop_reason') or 'stopped'}", **summary))

    # --- engine ---------------------------------------------------------------------------
    def on_order(self, intent: OrderIntent, result: SubmitResult, now: datetime) -> None:
        self._safe("order", self._order, intent, result, now)

    def _order(self, intent: OrderIntent, result: SubmitResult, now: datetime) -> None:
        log_event(self.logger, "order",
                  f"order {intent.action.value} {intent.count} {intent.side.value} "
                  f"{intent.ticker} @ {intent.price.to_str()}: {result.message}",
                  run_id=self.run_id, ts=now, client_order_id=intent.client_order_id,
                  ticker=intent.ticker, side=intent.side.value, action=intent.action.value,
                  price=intent.price, count=intent.count,
                  time_in_force=intent.time_in_force.value, post_only=intent.post_only,
                  reduce_only=intent.reduce_only, status=result.status.value,
                  message=result.message)

    def on_reconcile(self, diffs: Sequence[str], now: datetime) -> None:
        self._safe("reconcile", self._reconcile, list(diffs), now)

    def _reconcile(self, diffs: list[str], now: datetime) -> None:
        log_event(self.logger, "reconcile",
                  "reconciliation: " + ("; ".join(diffs[:5]) if diffs else "in agreement"),
                  level=logging.WARNING if diffs else logging.INFO, run_id=self.run_id, ts=now,
                  diffs=diffs)
        if self._edge("reconciliation", bool(diffs)):
            self.alerter.alert("reconciliation",
                               f"reconciliation mismatch, new entries stopped: "
                               f"{'; '.join(diffs[:5])}", Severity.CRITICAL, diffs=diffs[:20])

    def on_cycle(self, report: CycleReport, decisions: Sequence[Decision],
                 fills: Sequence[Fill]) -> None:
        self._safe("cycle", self._cycle, report, decisions, fills)

    def _cycle(self, r: CycleReport, decisions: Sequence[Decision], fills: Sequence[Fill]
               ) -> None:
        for d in decisions:
            log_event(self.logger, "decision", f"{d.ticker}: {d.verdict.value}: {d.reason}",
                      **decision_fields(d))
        for f in fills:
            log_event(self.logger, "fill",
                      f"fill {f.action.value} {f.count} {f.side.value} {f.ticker} @ "
                      f"{f.price.to_str()} fee {f.fee}", run_id=self.run_id, **fill_fields(f))
            if self.alert_on_fills:
                self.alerter.alert(f"fill:{f.fill_id}",
                                   f"fill: {f.action.value} {f.count} {f.side.value} {f.ticker} "
                                   f"@ {f.price.to_str()} (fee {f.fee})", Severity.INFO,
                                   ticker=f.ticker)
        for e in r.errors:
            log_event(self.logger, "error", e, level=logging.ERROR, run_id=self.run_id,
                      cycle=r.cycle, ts=r.now, message=e)
        log_event(self.logger, "heartbeat", f"cycle {r.cycle}: {r.markets} markets, "
                  f"{r.orders_sent} orders, {r.fills} fills, {len(r.errors)} errors",
                  run_id=self.run_id, ts=r.now, cycle=r.cycle, cycle_ms=int(r.duration_ms),
                  markets_seen=r.markets, orders_sent=r.orders_sent, fills=r.fills,
                  errors=len(r.errors), equity=r.equity, cash=r.cash, day_pnl=r.day_pnl,
                  breaker=r.breaker, kill_switch=r.kill_switch,
                  entries_blocked=r.entries_blocked)
        # alert-worthy conditions, alerted when they start
        if self._edge("breaker", r.breaker != "ok"):
            self.alerter.alert("breaker", f"circuit breaker tripped: {r.breaker}. New entries "
                               "stopped until `kalshibot risk reset`.", Severity.CRITICAL)
        if self._edge("kill_switch", r.kill_switch):
            self.alerter.alert("kill_switch", "kill switch is ON: no new orders, resting "
                               "orders cancelled", Severity.CRITICAL)
        limit_hit = r.day_pnl <= -self.max_daily_loss
        if self._edge("daily_loss", limit_hit):
            self.alerter.alert("daily_loss", f"daily loss limit reached: today's P&L "
                               f"{r.day_pnl} <= -{self.max_daily_loss}; entries stopped",
                               Severity.CRITICAL, day_pnl=r.day_pnl)
        if r.errors:
            self._error_streak += 1
            if self._error_streak >= self.error_cycles:
                self.alerter.alert("errors", f"errors in {self._error_streak} cycles in a row; "
                                   f"latest: {'; '.join(r.errors[:3])}", Severity.WARNING,
                                   errors=r.errors[:10])
        else:
            self._error_streak = 0
