"""Hostile inputs for every CLI command, as hypothesis strategies (seeded by the tests).

A *case* is a command line (``argv``), an environment fault applied to the workspace before
the run, and hostile files the command line may name. Values come from small pools of known
troublemakers (NaN/inf, far dates, huge numbers, NUL bytes, bad encodings, huge fields) mixed
with hypothesis' own random text, so every run explores new inputs while known ones stay in.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from hypothesis import strategies as st

from tests.fuzz.harness import (
    Workspace,
    corrupt_page,
    corrupt_schema,
    dev_full_log,
    file_instead_of_dir,
    mounted_dir,
)

# --- value pools -----------------------------------------------------------------------------
FLOATS = ["0.5", "3", "60", "0.05", "nan", "NaN", "inf", "-inf", "Infinity", "-1", "0", "1e308",
          "1e-320", "1e999999999", "abc", "", "9" * 400, "1_000", "0x10"]
INTS = ["1", "2", "3", "0", "-1", "99999999999999999999", "-99999999999", "abc", "1.5", "",
        "1e3", "007", "9223372036854775807"]
WHENS = ["2026-11-19T10:00Z", "2026-11-19", "9999-12-31", "9999-12-31T23:59:59+00:00",
         "0001-01-01T00:00-05:00", "0001-01-01", "99999999999d", "999999999h", "7d", "30m",
         "2026-13-45", "", "nan", "now", "1e999999999", "2026-11-19T10:00+14:00",
         "1970-01-01", "2026-11-19T10:00:00.123456789Z", "A\x00B"]
TICKERS = ["KXBTC15M", "KXTEST-26NOV19-A", "KXHIGHNY", "", "A\x00B", "\u00fc" * 50, "X" * 5000,
           ",,,", "../../etc/passwd", "'; DROP TABLE orders;--", "kxbtc15m", "KX BTC",
           "\udcff", "%s%n", "-", "--help"]
WORDS = ["edge", "meanrev", "crypto", "sim",
         "", "x", "A\x00B", "\u00fc" * 30, "Z" * 3000, "--", "-1", "nan", "edge", "crypto",
         "meanrev", "paper", "sim", "kalshi", "json", "table", "line", "prometheus", "demo",
         "prod", "yes", "no", "open", "settled", "mid", "touch", "queue", "trades", "sharpe",
         "pnl", "loky", "threading", "dask", "markets", "quotes", "spot", "prices"]


def value(pool: list[str]) -> st.SearchStrategy[str]:
    """A value from ``pool`` (its first, plausible entries most often), or random text."""
    return st.one_of(st.sampled_from(pool[:4]), st.sampled_from(pool), st.sampled_from(pool),
                     st.text(max_size=12), st.text(alphabet=st.characters(), max_size=40))


# --- paths the options may name (resolved per workspace) ------------------------------------
#: Every path lies inside the workspace: a fuzz run must never write to /dev or / (as root a
#: rename over /dev/null replaces the device for the whole machine). Device nodes are made
#: inside the workspace (``mknod``, root only; else a plain file).
PATH_KINDS = ["store", "missing", "dir", "random-bytes", "empty-file", "null-node", "full-node",
              "inside-a-file", "new-file", "long-name", "fifo"]
#: For configuration files: binary ones are the configuration faults (``CONFIG_FAULTS``).
TEXT_PATH_KINDS = ["missing", "dir", "empty-file", "null-node", "inside-a-file", "new-file",
                   "long-name"]


def make_path(ws: Workspace, kind: str, seed: int) -> str:
    r = ws.root
    if kind == "store":
        return str(ws.db)
    if kind == "missing":
        return str(r / "missing" / "x.sqlite")
    if kind == "dir":
        (r / "adir").mkdir(exist_ok=True)
        return str(r / "adir")
    if kind == "random-bytes":
        p = r / f"rnd{seed}.sqlite"
        p.write_bytes(bytes((seed * 7 + i * 13) % 256 for i in range(9000)))
        return str(p)
    if kind == "empty-file":
        p = r / "empty.bin"
        p.write_bytes(b"")
        return str(p)
    if kind in ("null-node", "full-node"):
        p = r / kind
        if not p.exists():
            try:
                os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3 if kind == "null-node" else 7))
            except OSError:  # not root: a plain file stands in
                p.write_bytes(b"")
        return str(p)
    if kind == "fifo":
        p = r / "fifo"
        if not p.exists():
            os.mkfifo(p)
        return str(p)
    if kind == "inside-a-file":
        p = r / "afile"
        p.write_text("x")
        return str(p / "sub" / "x.out")
    if kind == "new-file":
        return str(r / f"out{seed}.txt")
    return str(r / ("n" * 300))  # long-name


# --- hostile import files ---------------------------------------------------------------------
HEADERS = {
    "quotes": "ts,ticker,yes_bid,yes_ask,yes_bid_size,yes_ask_size",
    "trades": "ts,ticker,yes_price,count,taker_side,trade_id",
    "spot": "ts,symbol,price,source,open,high,low,volume",
    "prices": "ts,ticker,last_price,volume",
    "markets": "ticker,close_time,event_ticker,series_ticker,result,status,floor_strike,"
               "settlement_value,fee_type,open_time",
}
CELLS = ["", "nan", "inf", "-1", "0", "0.49", "1.0001", "0.12345", "1e999999999", "1e-999999",
         "9" * 200, "2026-10-01T00:00:00Z", "0001-01-01", "9999-12-31T00:00:00Z",
         "99999999999999999999", "1759277700", "A\x00B", "KXTEST-26NOV19-A", "yes", "no",
         "maybe", "\u00fc", "\"", "BTC", "finalized", "active", "scalar", "quadratic", "-0"]
FILE_KINDS = ["csv", "random-bytes", "bad-utf8-late", "huge-field", "truncated-gz", "gz-csv",
              "parquet", "corrupt-parquet", "nan-parquet", "empty", "header-only", "folder",
              "dataset-folder", "bom-only", "nul-bytes"]


@dataclass
class FileSpec:
    kind: str
    layout: str
    rows: list[list[str]] = field(default_factory=list)
    seed: int = 0


@st.composite
def file_specs(draw: st.DrawFn) -> FileSpec:
    layout = draw(st.sampled_from(sorted(HEADERS)))
    width = len(HEADERS[layout].split(","))
    cell = st.one_of(st.sampled_from(CELLS), st.text(max_size=8))
    rows = draw(st.lists(st.lists(cell, min_size=width - 1, max_size=width + 1), max_size=6))
    return FileSpec(draw(st.sampled_from(FILE_KINDS)), layout, rows, draw(st.integers(0, 999)))


def _csv_text(spec: FileSpec) -> str:
    out = io.StringIO()
    out.write(HEADERS[spec.layout] + "\n")
    for row in spec.rows:
        out.write(",".join(c.replace(",", ";").replace("\n", " ") for c in row) + "\n")
    return out.getvalue()


def make_file(ws: Workspace, spec: FileSpec) -> str:
    """Write the hostile file (or folder) of ``spec``; returns its path."""
    r = ws.root / "in"
    r.mkdir(exist_ok=True)
    text = _csv_text(spec)
    good = "".join(f"2026-10-01T00:00:{i % 60:02d}Z,KXT-{i},0.47,0.49,1,1\n" for i in range(300))
    k = spec.kind
    if k == "csv":
        p = r / f"{spec.layout}.csv"
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
    elif k == "random-bytes":
        p = r / f"rnd.{['csv', 'csv.gz', 'parquet'][spec.seed % 3]}"
        p.write_bytes(bytes((spec.seed * 31 + i * 17) % 256 for i in range(5000)))
    elif k == "bad-utf8-late":
        p = r / "late.csv"
        p.write_bytes((HEADERS["quotes"] + "\n" + good).encode() + b"2026,K\xff\xfe\xc3,1\n")
    elif k == "huge-field":
        p = r / "huge.csv"
        p.write_text(HEADERS["quotes"] + "\n2026-10-01T00:00:00Z,K," + "9" * 140_000
                     + ",0.5,,\n")
    elif k in ("truncated-gz", "gz-csv"):
        p = r / "x.csv.gz"
        blob = gzip.compress((HEADERS["quotes"] + "\n" + good * 5 + text).encode(
            "utf-8", "surrogatepass"))
        p.write_bytes(blob[: len(blob) // 2] if k == "truncated-gz" else blob)
    elif k in ("parquet", "corrupt-parquet", "nan-parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        p = r / "x.parquet"
        n = 3000 if k == "corrupt-parquet" else 4
        cols: dict[str, object] = {"ts": ["2026-10-01T00:00:00Z"] * n,
                                   "ticker": [f"KXT-{i}" for i in range(n)]}
        if k == "nan-parquet":
            cols["yes_bid"] = pa.array([float("nan"), 0.47, float("inf"), None])
            cols["yes_ask"] = pa.array([0.49, float("nan"), 0.49, 1e300])
        else:
            cols["yes_bid"] = ["0.47"] * n
            cols["yes_ask"] = ["0.49"] * n
        pq.write_table(pa.table(cols), p, data_page_size=2048)
        if k == "corrupt-parquet":
            raw = bytearray(p.read_bytes())
            mid = len(raw) // 2
            raw[mid: mid + 1500] = bytes((spec.seed + i * 13) % 256 for i in range(1500))
            p.write_bytes(bytes(raw))
    elif k == "empty":
        p = r / "empty.csv"
        p.write_bytes(b"")
    elif k == "header-only":
        p = r / "h.csv"
        p.write_text(HEADERS[spec.layout] + "\n")
    elif k == "folder":
        p = r / "folder"
        p.mkdir(exist_ok=True)
    elif k == "dataset-folder":
        p = r / "window_x"
        p.mkdir(exist_ok=True)
        (p / "outcomes.csv").write_text("ticker,series,result,close_time\n" + "\n".join(
            ",".join(row[:4]) for row in spec.rows) + "\n", errors="surrogatepass")
        (p / "quotes_2s.csv").write_bytes(b"time,ticker,side,secs_left,bid,ask\n\xff\x00,1\n")
    elif k == "bom-only":
        p = r / "bom.csv"
        p.write_bytes(b"\xef\xbb\xbf")
    else:  # nul-bytes
        p = r / "nul.csv"
        p.write_bytes(HEADERS[spec.layout].encode() + b"\n\x00\x00,\x00\n")
    return str(p)


# --- environment faults ----------------------------------------------------------------------
#: Faults that need no mount; the mount-based ones run where the machine allows mounts.
FAULTS = ["none", "none", "none", "corrupt-schema", "corrupt-page", "garbage-db", "empty-db",
          "db-is-dir", "missing-db", "logs-file", "logs-full", "kill-switch", "models-file",
          "old-version-db", "newer-version-db", "mount:logs:full", "mount:logs:readonly",
          "mount:data:readonly", "mount:data:full"]
#: Configuration faults: exercised by the config test (loading is issue 14's area).
CONFIG_FAULTS = ["binary-config", "bad-dotenv", "nan-setting", "inf-setting", "huge-setting",
                 "binary-env-file"]


def apply_fault(ws: Workspace, fault: str, seed: int, argv: list[str]) -> list[str]:
    """Damage the workspace for ``fault``; returns ``argv`` with any global option added.
    (``mount:<folder>:<kind>`` faults are applied around the run by ``fault_context``.)"""
    tables = ["runs", "orders", "markets", "kv", "book_snapshots", "fills", "positions",
              "heartbeats", "equity", "decisions", "spot_prices"]
    if fault == "corrupt-schema":
        corrupt_schema(ws.db, tables[seed % len(tables)])
    elif fault == "corrupt-page":
        corrupt_page(ws.db, tables[seed % len(tables)], seed)
    elif fault == "garbage-db":
        ws.db.write_bytes(b"SQLite format 3\x00" + bytes((seed + i * 7) % 256 for i in range(8000)))
    elif fault == "empty-db":
        ws.db.write_bytes(b"")
    elif fault == "db-is-dir":
        ws.db.unlink()
        ws.db.mkdir()
    elif fault == "missing-db":
        ws.db.unlink()
    elif fault == "logs-file":
        file_instead_of_dir(ws.root / "logs")
    elif fault == "logs-full":
        dev_full_log(ws.root / "logs")
    elif fault == "kill-switch":
        (ws.root / "data" / "KILL").write_text("stop")
    elif fault == "models-file":
        file_instead_of_dir(ws.root / "models")
    elif fault in ("old-version-db", "newer-version-db"):
        import sqlite3

        c = sqlite3.connect(ws.db)
        c.execute(f"PRAGMA user_version = {1 if fault == 'old-version-db' else 99}")
        c.close()
    elif fault == "binary-config":
        p = ws.root / "bin.cfg"
        p.write_bytes(bytes((seed * 5 + i * 11) % 256 for i in range(3000)))
        return ["--config", str(p), *argv]
    elif fault == "binary-env-file":
        p = ws.root / "bin.env"
        p.write_bytes(b"KALSHIBOT_MIN_EDGE=0.1\n\xff\xfe\x00\n")
        extra = ["--env-file", str(p)] if argv[:1] == ["config"] else []
        return ["--config", str(p), *argv, *extra]
    elif fault == "bad-dotenv":
        (ws.root / ".env").write_bytes(b"KALSHIBOT_MIN_EDGE=0.1\nKALSHIBOT_X=\xff\xfe\n")
    elif fault in ("nan-setting", "inf-setting", "huge-setting"):
        bad = {"nan-setting": "nan", "inf-setting": "inf", "huge-setting": "1e999999999"}[fault]
        names = ["MIN_EDGE", "KELLY_FRACTION", "MAX_DAILY_LOSS", "PAPER_STARTING_BALANCE",
                 "TRADING_INTERVAL_S", "HEARTBEAT_STALE_S", "CIRCUIT_BREAKER_DRAWDOWN",
                 "MAX_PORTFOLIO_EXPOSURE", "HTTP_READ_TIMEOUT_S", "RETRAIN_INTERVAL_HOURS"]
        ws.extra[f"KALSHIBOT_{names[seed % len(names)]}"] = bad
    return argv


@contextlib.contextmanager
def fault_context(ws: Workspace, fault: str) -> Iterator[None]:
    """Around the run: ``mount:<folder>:full|readonly`` mounts a full tmpfs (holding the
    folder's files, e.g. the store) or a read-only bind over the workspace folder (where
    mounts are allowed; else the portable stand-in for logs, nothing for data)."""
    if not fault.startswith("mount:"):
        yield
        return
    _, folder, kind = fault.split(":")
    path = ws.root / folder
    keep = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()} \
        if kind == "full" and path.is_dir() else {}
    with mounted_dir(path, kind, keep) as how:
        if how == "fallback" and folder == "logs":
            if kind == "full":
                dev_full_log(path)
            else:
                file_instead_of_dir(path)
        yield


# --- command specs -----------------------------------------------------------------------------
Opt = tuple[str, Callable[[], st.SearchStrategy[str]] | None]  # (flag, value strategy | flag)


def _p() -> st.SearchStrategy[str]:
    return st.sampled_from(PATH_KINDS).map(lambda k: f"@path:{k}")


def _tp() -> st.SearchStrategy[str]:
    return st.sampled_from(TEXT_PATH_KINDS).map(lambda k: f"@path:{k}")


def _f() -> st.SearchStrategy[str]:
    return st.just("@file")


def _v(pool: list[str]) -> Callable[[], st.SearchStrategy[str]]:
    return lambda: value(pool)


FL, IN, WH, TK, WD = _v(FLOATS), _v(INTS), _v(WHENS), _v(TICKERS), _v(WORDS)
DB = ("--db", _p)

COMMANDS: dict[str, tuple[list[str], list[Opt]]] = {
    "config": (["config"], [("--validate", None), ("--show", None), ("--json", None),
                            ("--env-file", _tp)]),
    "markets": (["markets"], [("--series", TK), ("--event", TK), ("--status", WD),
                              ("--search", WD), ("--limit", IN), DB, ("--json", None)]),
    "trade": (["trade"], [("--tickers", TK), ("--series", TK), ("--strategy", WD),
                          ("--exchange", WD), ("--interval", FL), ("--duration", FL),
                          ("--max-cycles", IN), ("--fresh", None), ("--start", WH),
                          ("--quiet", None), ("--json", None), ("--live", None),
                          ("--yes", None)]),
    "train": (["train"], [("--series", TK), ("--tickers", TK), ("--since", WH),
                          ("--until", WH), ("--folds", IN), ("--min-edge", FL),
                          ("--require-edge", None), DB, ("--model-dir", _p), ("--json", None)]),
    "status": (["status"], [DB, ("--sim", None), ("--json", None), ("--quiet", None),
                            ("--format", WD), ("--output", _p), ("--decisions", IN),
                            ("--live", None)]),
    "history": (["history"], [("--ticker", TK), ("--series", TK), ("--strategy", WD),
                              ("--side", WD), ("--since", WH), ("--until", WH),
                              ("--limit", IN), ("--csv", None), DB, ("--sim", None)]),
    "backtest": (["backtest"], [("--strategy", WD), ("--series", TK), ("--tickers", TK),
                                ("--from", WH), ("--to", WH), DB, ("--interval", FL),
                                ("--latency", FL), ("--fills", WD), ("--unknown-size", WD),
                                ("--cash", FL), ("--min-edge", FL), ("--kelly", FL),
                                ("--param", WD), ("--model", WD), ("--model-dir", _p),
                                ("--retrain-every", FL), ("--check-lookahead", None),
                                ("--lookahead-points", IN), ("--rank-by", WD),
                                ("--backend", WD), ("--json", None), ("--export", _p)]),
    "data import": (["data", "import"], [("@arg", _f), ("--layout", WD), ("--source", WD),
                                         ("--symbol", TK), ("--bar-seconds", IN),
                                         ("--strict", None), DB, ("--json", None)]),
    "data sample": (["data", "sample"], [("--days", FL), ("--seed", IN), ("--series", TK),
                                         ("--end", WH), DB, ("--json", None)]),
    "data sync": (["data", "sync"], [("--series", TK), ("--event", TK), ("--tickers", TK),
                                     ("--status", WD), ("--since", WH), ("--until", WH),
                                     ("--period", IN), ("--no-candles", None),
                                     ("--no-trades", None), ("--public", None),
                                     ("--env", WD), DB, ("--json", None)]),
    "data record": (["data", "record"], [("--series", TK), ("--tickers", TK),
                                         ("--interval", FL), ("--duration", WD),
                                         ("--max-polls", IN), ("--refresh-markets", FL),
                                         ("--no-spot", None), ("--symbols", TK),
                                         ("--env", WD), DB, ("--json", None)]),
    "risk show": (["risk", "show"], [DB, ("--sim", None), ("--json", None)]),
    "risk reset": (["risk", "reset"], [DB, ("--sim", None), ("--clear-block", None),
                                       ("--yes", None)]),
    "orders list": (["orders", "list"], [("--status", WD), ("--ticker", TK),
                                         ("--json", None), DB, ("--sim", None)]),
    "orders cancel": (["orders", "cancel"], [("@arg", TK), ("--yes", None), DB,
                                             ("--sim", None), ("--live", None)]),
    "orders cancel-all": (["orders", "cancel-all"], [("--ticker", TK), ("--yes", None), DB,
                                                     ("--sim", None), ("--live", None)]),
    "positions list": (["positions", "list"], [DB, ("--sim", None), ("--json", None)]),
    "positions close-all": (["positions", "close-all"], [("--yes", None), DB,
                                                         ("--sim", None), ("--live", None)]),
    "eval crypto": (["eval", "crypto"], [("--series", TK), ("--horizons", WD),
                                         ("--windows", WD), ("--symbol", TK), ("--source", WD),
                                         ("--since", WH), ("--until", WH),
                                         ("--min-train-days", FL), ("--boot", IN),
                                         ("--seed", IN), ("--no-research", None), DB,
                                         ("--json", None), ("--plot", _p)]),
}
#: Options that keep a run short whatever else is drawn (a fuzz run must not trade for ever).
BOUNDS: dict[str, list[str]] = {
    "trade": ["--max-cycles", "2", "--quiet"],
    "data record": ["--max-polls", "1", "--interval", "0.05"],
}
#: Commands whose valid runs cost seconds: fewer examples in the default run.
EXPENSIVE = {"train", "backtest", "data sync", "data record", "positions close-all",
             "eval crypto"}


@dataclass
class Case:
    command: str
    argv: list[str]
    fault: str
    file: FileSpec | None
    seed: int


@st.composite
def cases(draw: st.DrawFn, command: str, faults: list[str] = FAULTS) -> Case:
    words, opts = COMMANDS[command]
    chosen = draw(st.lists(st.sampled_from(opts), max_size=min(5, len(opts)), unique=True))
    argv = list(words)
    spec: FileSpec | None = None
    for flag, strat in chosen:
        if strat is None:
            argv.append(flag)
            continue
        v = draw(strat())
        if v == "@file":
            spec = draw(file_specs())
        if flag != "@arg":
            argv.append(flag)
        argv.append(v)
    if draw(st.integers(0, 9)) == 0:  # a stray token
        argv.insert(draw(st.integers(1, len(argv))), draw(value(WORDS + ["--help", "-h"])))
    argv += BOUNDS.get(command, [])
    return Case(command, argv, draw(st.sampled_from(faults)), spec, draw(st.integers(0, 10**6)))


def materialize(ws: Workspace, case: Case) -> list[str]:
    """Create the files the case names and apply its fault; returns the final argv."""
    argv: list[str] = []
    for token in case.argv:
        if token.startswith("@path:"):
            argv.append(make_path(ws, token.split(":", 1)[1], case.seed))
        elif token == "@file":
            assert case.file is not None
            argv.append(make_file(ws, case.file))
        else:
            argv.append(token)
    return apply_fault(ws, case.fault, case.seed, argv)
