"""Scan test: log files never contain the key id, the PEM private key or a request signature.

Secrets are driven through the real code paths (the signer's headers, the HTTP client's
logger, exceptions with tracebacks, structured events, alert failures, the trading monitor),
then every file under ``log_dir`` (rotated ones too) is scanned.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshibot.clock import SimClock
from kalshibot.config import load_settings
from kalshibot.kalshi.auth import HEADER_KEY, HEADER_SIGNATURE, Signer
from kalshibot.monitor.alerts import Alerter
from kalshibot.monitor.logging import MASK, Redactor, log_event, setup_logging
from kalshibot.monitor.trading import TradingMonitor

from .conftest import T0

KEY_ID = "0b7e4c1d-secret-key-id-5f3a9e2b7c61"
HOOK = "https://discord.com/api/webhooks/1234/discord-secret-token"


@pytest.fixture(scope="module")
def pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _body_lines(pem: bytes) -> list[str]:
    return [ln for ln in pem.decode().splitlines() if ln and not ln.startswith("-----")]


def _scan(log_dir: Path, needles: list[str]) -> str:
    files = sorted(log_dir.glob("kalshibot.jsonl*"))
    assert files, "no log files written"
    text = "".join(f.read_text(encoding="utf-8") for f in files)
    for n in needles:
        assert n not in text, f"secret leaked into the log: {n[:24]}..."
    return text


@responses.activate
def test_logs_never_contain_key_id_pem_or_signature(tmp_path: Path, pem: bytes):
    key_file = tmp_path / "kalshi.pem"
    key_file.write_bytes(pem)
    key_file.chmod(0o600)
    s = load_settings(env={"KALSHIBOT_LOG_DIR": str(tmp_path / "logs"),
                           "KALSHIBOT_API_KEY_ID": KEY_ID,
                           "KALSHIBOT_PRIVATE_KEY_PATH": str(key_file),
                           "KALSHIBOT_ALERT_WEBHOOK_URL": HOOK,
                           "KALSHIBOT_LOG_MAX_BYTES": "4000",
                           "KALSHIBOT_LOG_BACKUP_COUNT": "50"}, dotenv_file=None)
    log_file = setup_logging(s, console=True, console_level=logging.INFO)
    clock = SimClock(T0)
    signer = Signer.from_file(KEY_ID, key_file, clock)
    headers = signer.headers("GET", "/trade-api/v2/portfolio/balance")
    signature = headers[HEADER_SIGNATURE]
    assert headers[HEADER_KEY] == KEY_ID

    # 1. plain messages through the HTTP client's and the exchange's loggers
    http_log = logging.getLogger("kalshibot.kalshi.http")
    http_log.info("GET /portfolio/balance headers=%s", headers)
    http_log.warning("sent %s: %s / %s: %s", HEADER_KEY, KEY_ID, HEADER_SIGNATURE, signature)
    logging.getLogger("kalshibot.kalshi.exchange").info("key id %s, key file:\n%s", KEY_ID,
                                                        pem.decode())
    # 2. an exception whose message and traceback carry the secrets
    try:
        raise RuntimeError(f"signing failed for {KEY_ID} with {pem.decode()} -> {signature}")
    except RuntimeError:
        logging.getLogger("kalshibot.kalshi.auth").exception("auth problem")
    # 3. structured events with secrets in fields (also nested, also under innocent names)
    ev_log = logging.getLogger("kalshibot.trading")
    log_event(ev_log, "request", "signed request", headers=headers,
              request={"headers": dict(headers), "note": f"key={KEY_ID}"},
              blob=pem.decode(), api_key_id=KEY_ID)
    # 4. a body line of the key on its own (no PEM header around it)
    ev_log.error("stray key material: %s", _body_lines(pem)[3])
    # 5. an alert whose delivery fails with the URL in the exception
    responses.post(HOOK, body=requests.ConnectionError(f"cannot reach {HOOK}"))
    alerter = Alerter.from_settings(s, clock=clock)
    alerter.alert("errors", f"API errors: 401 for key {KEY_ID} signature {signature}")
    # 6. the trading monitor with an error string carrying a signature header
    mon = TradingMonitor(alerter, max_daily_loss=__import__("kalshibot").domain.money.Money(500),
                         run_id="r1")
    from kalshibot.domain.money import Money
    from kalshibot.engine import CycleReport

    report = CycleReport(1, T0, 0, 0, 0, [f"order books: 401 {HEADER_SIGNATURE}: {signature}"],
                         Money(10000), Money(10000), Money(0), "ok", False, "")
    mon.on_cycle(report, [], [])
    # enough volume to rotate at least once
    for i in range(60):
        ev_log.info("filler %d with key %s", i, KEY_ID)

    assert len(list(log_file.parent.glob("kalshibot.jsonl.*"))) >= 1  # rotated
    needles = [KEY_ID, signature, signature[:40], "discord-secret-token",
               "-----BEGIN PRIVATE KEY-----", *_body_lines(pem)]
    text = _scan(log_file.parent, needles)
    assert MASK in text and "[REDACTED PEM]" in text
    assert "auth problem" in text and "Traceback" in text  # the record itself survived


def test_redactor_patterns():
    r = Redactor()
    sig = "c2lnbmF0dXJlLWJ5dGVzLXRoYXQtbXVzdC1uZXZlci1sZWFr=="
    for text in (f"KALSHI-ACCESS-SIGNATURE: {sig}", f"'KALSHI-ACCESS-SIGNATURE': '{sig}'",
                 f'{{"KALSHI-ACCESS-SIGNATURE": "{sig}"}}',
                 f'\\"KALSHI-ACCESS-SIGNATURE\\": \\"{sig}\\"',
                 f"kalshi-access-signature={sig}"):
        assert sig not in r.redact(text), text
    assert "tok123" not in r.redact("Authorization: Bearer tok123")
    assert "abc:def" not in r.redact("https://api.telegram.org/botabc:def/sendMessage")
    assert "T0/B0/x" not in r.redact("https://hooks.slack.com/services/T0/B0/x")
    cut = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n(truncated"
    assert "MIIEow" not in r.redact(cut)
    assert r.redact_value({"password": "x", "nested": [{"token": "y"}], "ok": "fine"}) == {
        "password": MASK, "nested": [{"token": MASK}], "ok": "fine"}
