"""`kalshibot risk show` / `kalshibot risk reset`: inspect and reset the circuit breaker.

Both are audited: one ``risk_show`` / ``risk_reset`` event (with the OS user and the state
before and after) goes to the JSON-lines log under ``log_dir`` (``kalshibot.monitor.audit``).
A reset writes its record inside the transaction that clears the breaker: when the record
cannot be written (read-only folder, full disk) nothing is reset and the command exits 3.
"""

from __future__ import annotations

import logging
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from kalshibot.cli import status_cmd
from kalshibot.cli.context import console, settings
from kalshibot.cli.render import print_json
from kalshibot.cli.status_cmd import (
    DB_HELP,
    SIM_HELP,
    _grid,
    _kv_table,
    _limit_values,
    build_document,
    resolve_db,
)
from kalshibot.config import Settings
from kalshibot.errors import UserInputError
from kalshibot.monitor.audit import audit_event, audit_ready

risk_app = typer.Typer(name="risk", help="Inspect and reset the circuit breaker (audited in the log).",
                       no_args_is_help=True)
__all__ = ["audit", "audit_ready", "ask", "risk_app"]


def audit(s: Settings, event: str, msg: str, **fields: Any) -> None:
    """Write one audit event (with the OS user) to the JSON-lines log, durably; ``ConfigError``
    (exit 3) when it cannot be written (console untouched)."""
    audit_event(s, event, msg, level=logging.WARNING if event.endswith("reset")
                or event.endswith("cancel") else logging.INFO, **fields)


def ask(question: str) -> bool:
    """Ask a yes/no question on the terminal; without a terminal, refuse (tests patch this)."""
    if not sys.stdin.isatty():
        raise UserInputError(f"{question} needs confirmation: add --yes")
    return typer.confirm(question, default=False)


@risk_app.command("show")
def show(
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    sim: bool = typer.Option(False, "--sim", help=SIM_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the risk section as JSON."),
) -> None:
    """Circuit breaker, kill switch, blocked entries, daily loss and limits used vs allowed."""
    s = settings()
    path = resolve_db(s, db, sim)
    doc = build_document(s, path, now_clock=status_cmd._clock(), decisions=0)
    risk = doc["risk"]
    audit(s, "risk_show", f"risk shown for {path}", database=str(path),
          breaker=risk["circuit_breaker"], kill_switch=risk["kill_switch"]["on"],
          entries_blocked=risk["entries_blocked"])
    if as_json:
        print_json(risk)
        return
    br = risk["circuit_breaker"]
    console.print(_kv_table(f"Risk ({path})", [
        ("circuit breaker", f"TRIPPED at {br['at']}: {br['reason']}" if br["tripped"] else "ok"),
        ("kill switch", ("ON " if risk["kill_switch"]["on"] else "off ")
         + f"({risk['kill_switch']['path']})"),
        ("entries blocked", risk["entries_blocked"] or "no"),
        ("daily loss limit", "REACHED" if risk["daily_loss_limit_reached"] else "not reached"),
    ]))
    console.print(_grid("Limits used vs allowed", ["limit", "used", "allowed", "unit"],
                        [[x["name"], *_limit_values(x), x["unit"]]
                         for x in risk["limits"]], ""))


@risk_app.command("reset")
def reset(
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    sim: bool = typer.Option(False, "--sim", help=SIM_HELP),
    clear_block: bool = typer.Option(False, "--clear-block", help="Also clear 'new entries blocked' (a persisting reconciliation mismatch blocks again at the next reconciliation)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Reset the circuit breaker (and drawdown tracking); asks for confirmation unless --yes.

    The kill switch is a file and is not touched: delete it yourself. Stop a running `trade`
    on this database first (one writer per database); the next session starts reset.
    """
    from kalshibot.engine import ENTRIES_BLOCKED_KEY, StoreKV
    from kalshibot.risk import CircuitBreaker
    from kalshibot.store.connection import atomic
    from kalshibot.store.kv import kv_delete, kv_get

    s, path, clock, conn = status_cmd.open_for_change(db, sim)
    try:
        now = clock.now()
        breaker = CircuitBreaker(StoreKV(conn, now), Decimal(str(s.circuit_breaker_drawdown)))
        before = breaker.state()
        blocked = str(kv_get(conn, ENTRIES_BLOCKED_KEY, "") or "")
        console.print(_kv_table(f"Reset preview ({path})", [
            ("circuit breaker", f"TRIPPED at {before.at}: {before.reason}" if before.tripped
             else "ok (nothing to reset)"),
            ("entries blocked", (blocked + (" -> will be cleared" if clear_block else
                                            " (kept; add --clear-block)")) if blocked else "no"),
        ]))
        if not before.tripped and not (clear_block and blocked):
            console.print("Nothing to reset.")
            audit(s, "risk_reset", "risk reset: nothing to reset", database=str(path),
                  outcome="nothing to reset")
            return
        if not yes and not ask("Reset the circuit breaker now?"):
            audit(s, "risk_reset", "risk reset declined", database=str(path),
                  outcome="declined", breaker_reason=before.reason)
            console.print("Not reset.")
            raise typer.Exit(1)
        with atomic(conn):  # the audit record is written before the reset commits
            breaker.reset()
            if clear_block and blocked:
                kv_delete(conn, ENTRIES_BLOCKED_KEY)
            audit(s, "risk_reset", "circuit breaker reset", database=str(path),
                  outcome="reset", breaker_was_tripped=before.tripped,
                  breaker_reason=before.reason, breaker_at=before.at,
                  entries_block_cleared=bool(clear_block and blocked),
                  entries_blocked_was=blocked or None)
        console.print("[green]Circuit breaker reset.[/green] Drawdown tracking restarts from "
                      "the next equity the bot sees.")
    finally:
        conn.close()
