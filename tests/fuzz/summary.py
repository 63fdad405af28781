"""What the fuzz suite tried, printed at the end of the run (see ``conftest.py``)."""

from __future__ import annotations

from collections import Counter

#: (command, exit code) -> how many runs.
EXITS: Counter[tuple[str, int]] = Counter()
#: inputs (argument lists, files, environments) tried, per command.
INPUTS: Counter[str] = Counter()


def record(command: str, code: int) -> None:
    EXITS[(command, code)] += 1
    INPUTS[command] += 1


def line() -> str | None:
    """``fuzz: 19 commands x 2,345 inputs; exits 0=..., 1=...; 0 with code 70``."""
    if not INPUTS:
        return None
    by_code: Counter[int] = Counter()
    for (_, code), n in EXITS.items():
        by_code[code] += n
    exits = ", ".join(f"{c}={n:,}" for c, n in sorted(by_code.items()))
    text = (f"fuzz: {len(INPUTS)} commands x {sum(INPUTS.values()):,} inputs tried; "
            f"exits by code: {exits}; {by_code.get(70, 0)} with code 70")
    return text
