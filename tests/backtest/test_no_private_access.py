"""Issue 22: no module in ``kalshibot/backtest/`` reaches into another object's or module's
underscore attributes (on f6e3055 the fast path wrote ``MeanReversionStrategy._mids`` and the
breakdown imported ``analysis._points``; this scan fails there)."""

from __future__ import annotations

import ast
from pathlib import Path

import kalshibot.backtest

BACKTEST = Path(kalshibot.backtest.__file__).parent


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[str]:
    """``obj._name`` where ``obj`` is not ``self``/``cls``, and imports of ``_name``."""
    out = []
    for n in ast.walk(ast.parse(source)):
        if isinstance(n, ast.Attribute) and _private(n.attr):
            if not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls")):
                out.append(f"{n.lineno}: {ast.unparse(n)}")
        elif isinstance(n, ast.ImportFrom):
            out += [f"{n.lineno}: import {a.name}" for a in n.names if _private(a.name)]
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in (
                "getattr", "setattr") and len(n.args) > 1:
            arg = n.args[1]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _private(
                    arg.value):
                out.append(f"{n.lineno}: {ast.unparse(n)}")
    return out


def test_the_scan_finds_what_it_forbids() -> None:
    assert private_uses("self.s._mids.pop(t)\n") == ["1: self.s._mids"]
    assert private_uses("from a import _points\n") == ["1: import _points"]
    assert private_uses("getattr(acct, '_orders')\n") == ["1: getattr(acct, '_orders')"]
    assert private_uses("self._x = 1\nobj.__class__\n") == []


def test_backtest_modules_use_public_interfaces_only() -> None:
    found = {p.name: private_uses(p.read_text()) for p in sorted(BACKTEST.glob("*.py"))}
    assert {k: v for k, v in found.items() if v} == {}
