"""Bad CLI input gives one clear line and a non-zero exit; secrets never leak; key files wider
than 0600 are refused in live mode; .gitignore covers the secret and artefact paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshibot.cli.main import run
from tests.reliability import summary
from tests.reliability.harness import REPO, BotRig


def _one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("args,code,needle", [
    (["trade", "--exchange", "sim", "--start", "2026-13-45"], 2, "not a date"),
    (["trade", "--max-cycles", "-3"], 2, "--max-cycles"),
    (["trade", "--interval", "-1"], 2, "--interval"),
    (["trade", "--exchange", "sim", "--tickers", "NOPE-1"], 2, "no market data"),
    (["trade", "--exchange", "nowhere"], 2, "unknown --exchange"),
])
def test_bad_cli_input(args: list[str], code: int, needle: str, clean_env: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    summary.add(cli_cases=1)
    assert run(args) == code
    assert needle in _one_line(capsys.readouterr().err)


def test_missing_key_file(clean_env: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    summary.add(cli_cases=1)
    monkeypatch.setenv("KALSHIBOT_MODE", "live")
    monkeypatch.setenv("KALSHIBOT_API_KEY_ID", "k")
    monkeypatch.setenv("KALSHIBOT_PRIVATE_KEY_PATH", str(clean_env / "missing.pem"))
    assert run(["trade", "--exchange", "kalshi", "--live", "--tickers", "X"]) != 0
    assert "missing.pem" in _one_line(capsys.readouterr().err)


def test_unreadable_database(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary.add(cli_cases=1)
    bad = clean_env / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    assert run(["status", "--db", str(bad)]) == 3
    out = capsys.readouterr()
    assert (out.out + out.err).strip()


def test_wide_key_file_refused_in_live(tmp_path: Path) -> None:
    rig = BotRig(tmp_path)
    try:
        rig.key_path.chmod(0o644)
        res = rig.run_to_end(1, 2)
        assert res.returncode != 0
        assert "0644" in _one_line(res.stderr)
        assert not rig.fake.snapshot()["create_log"]
    finally:
        rig.fake.stop()


def test_no_secret_in_logs_status_or_crash_output(tmp_path: Path) -> None:
    rig = BotRig(tmp_path)
    try:
        outputs = []
        res = rig.run_to_end(2, 4, env=rig.env(KALSHIBOT_ALERT_WEBHOOK_URL=
                                               "https://hooks.example/T0/sekret-hook-token"))
        outputs += [res.stdout, res.stderr]
        outputs += [rig.cli("status").stdout, rig.cli("status", "--json").stdout]
        outputs += [rig.cli("config", "--show").stdout]
        # A crash: the exchange vanishes mid-session (and --debug prints a traceback).
        rig.fake.stop()
        crash = rig.cli("--debug", "trade", *rig.trade_args()[1:], "--max-cycles", "2")
        outputs += [crash.stdout, crash.stderr]
        logs = [p.read_text(errors="replace") for p in (tmp_path / "logs").rglob("*")
                if p.is_file()]
        pem_body = rig.key_path.read_text().splitlines()[1]
        for text in outputs + logs:
            for secret in (rig.key_id, pem_body, "sekret-hook-token"):
                assert secret not in text, f"secret leaked: {secret[:8]}..."
        summary.add(secret_scans=len(outputs) + len(logs))
    finally:
        rig.fake.stop()


def test_gitignore_covers_secrets_and_artefacts() -> None:
    text = (REPO / ".gitignore").read_text().splitlines()
    for pattern in (".env", "*.pem", "keys/", "data/*", "logs/", "models/*"):
        assert pattern in text, pattern
