"""The live gate: the one function that decides whether real orders may be sent.

Real orders need ALL of:
1. the kalshi venue (``--exchange kalshi``; other commands: a database whose venue is kalshi),
2. ``--live`` on the command line,
3. ``KALSHIBOT_MODE=live`` in the configuration (a flag never switches it on),
4. usable keys: ``KALSHIBOT_API_KEY_ID`` and ``KALSHIBOT_PRIVATE_KEY_PATH`` naming a readable
   RSA/Ed25519 PEM key with permissions 0600 (checked here, before any request),
5. on prod: ``KALSHIBOT_CONFIRM_PROD_LIVE=true`` **and** a confirmation, either an
   interactive "yes" or ``--yes`` (``--yes`` alone never suffices).

``check_live_gate`` raises ``LiveGateError`` (exit 3) with one line naming every missing piece;
it sends no request. Every command that can send an order (``trade``, ``orders cancel``,
``orders cancel-all``, ``positions close-all``) calls it before it builds an exchange client.
"""

from __future__ import annotations

from collections.abc import Callable

from kalshibot.config import Environment, Settings, check_key_file
from kalshibot.errors import LiveGateError

#: Asks the person at the terminal; returns True for "yes". None: no terminal to ask.
Confirm = Callable[[str], bool]


def missing_pieces(s: Settings, *, venue: str, live_flag: bool) -> list[str]:
    """What is missing for real orders, in checklist order (empty = all but the prod
    confirmation are present)."""
    missing: list[str] = []
    if venue != "kalshi":
        missing.append(f"--live needs --exchange kalshi (got --exchange {venue})")
    if not live_flag:
        missing.append("the kalshi venue sends real orders: add --live")
    if not s.is_live:
        missing.append(f"KALSHIBOT_MODE=live is not set in the configuration "
                       f"(mode is {s.mode.value})")
    if s.api_key_id is None:
        missing.append("no API key configured: set KALSHIBOT_API_KEY_ID")
    if s.private_key_path is None:
        missing.append("no private key configured: set KALSHIBOT_PRIVATE_KEY_PATH")
    else:
        missing += check_key_file(s.private_key_path, s.private_key_password)
    if s.environment is Environment.PROD and not s.confirm_prod_live:
        missing.append("prod needs KALSHIBOT_CONFIRM_PROD_LIVE=true in the configuration")
    return missing


def check_live_gate(
    s: Settings,
    *,
    venue: str,
    live_flag: bool,
    yes: bool,
    confirm: Confirm | None,
    what: str = "Trade REAL MONEY on Kalshi prod?",
) -> None:
    """Pass silently when real orders may be sent; else ``LiveGateError`` (see module doc).

    ``confirm`` is called only when every other piece is present, on prod, without ``--yes``;
    pass None when there is no terminal (then ``--yes`` is required)."""
    missing = missing_pieces(s, venue=venue, live_flag=live_flag)
    if missing:
        raise LiveGateError("real orders refused: " + "; ".join(missing),
                            hint="see README, 'Trading live'")
    if s.environment is not Environment.PROD or yes:
        return
    if confirm is None:
        raise LiveGateError("real orders refused: prod needs a confirmation: answer the "
                            "question in a terminal, or add --yes")
    if not confirm(what):
        raise LiveGateError("real orders refused: not confirmed")
