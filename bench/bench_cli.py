"""CLI start-up benchmark: CPU time (user + system, seconds) of ``kalshibot --help``,
``status --quiet`` and ``markets`` on a large sample store, against ``python -c pass``.

    python bench/bench_cli.py [--days 10] [--repeat 5]

Target (issue 19): ``--help`` and ``status --quiet`` under 0.4 s of CPU (f6e3055: ~2.2 s; the
commands' heavy libraries, pandas / scikit-learn / scipy, now load only where needed). Prints
figures only: no timed assertion (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """CPU seconds (user + system) of one child process, and its exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(args, env=env, cwd=cwd, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used, r.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=10.0, help="days of sample data (store size)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per command (median shown)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHIBOT_")}
        env.update({"KALSHIBOT_DATA_DIR": str(root / "data"), "KALSHIBOT_LOG_DIR": str(root / "l"),
                    "KALSHIBOT_MODEL_DIR": str(root / "m"), "PYTHONPATH": str(REPO),
                    "COLUMNS": "80", "LINES": "24"})
        kb = [sys.executable, "-m", "kalshibot"]
        print(f"generating a {a.days:g}-day sample store ...", flush=True)
        t, code = cpu_seconds([*kb, "data", "sample", "--days", str(a.days),
                               "--end", "2026-11-20T00:00Z"], env, root)
        if code:
            sys.exit(f"data sample failed (exit {code})")
        size = sum(p.stat().st_size for p in (root / "data").glob("*.sqlite*")) / 1e6
        print(f"store: {size:,.0f} MB (generated in {t:.1f} s CPU)")
        cases = {"python -c pass": [sys.executable, "-c", "pass"],
                 "kalshibot --help": [*kb, "--help"],
                 "kalshibot status --quiet": [*kb, "status", "--quiet"],
                 "kalshibot markets": [*kb, "markets"],
                 "kalshibot --version": [*kb, "--version"]}
        print(f"{'command':<28} {'CPU s (median)':>15} {'min':>7} {'max':>7}  exit")
        for name, args in cases.items():
            runs = [cpu_seconds(args, env, root) for _ in range(a.repeat)]
            times = [r[0] for r in runs]
            print(f"{name:<28} {statistics.median(times):>15.3f} {min(times):>7.3f} "
                  f"{max(times):>7.3f}  {runs[-1][1]}")


if __name__ == "__main__":
    main()
