"""The live gate (issue 14): real orders need every piece of the checklist, and a missing
piece is refused with its own one-line message, exit 3, before ANY request reaches the
exchange (counted on the fake exchange of tests/reliability).

On f6e3055 `--live` switched live mode on by itself: with KALSHIBOT_MODE=paper, prod and no
confirmation setting, `trade --exchange kalshi --live --yes` sent real orders (these tests fail
there: exit 0 and requests > 0 instead of exit 3 and none).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.harness import BotRig

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> BotRig:
    r = BotRig(tmp_path_factory.mktemp("gate"), n_markets=2)
    yield r
    r.fake.stop()


def _trade(rig: BotRig, *extra: str, env: dict[str, str], args: list[str] | None = None):
    env = dict(env, RELI_CHAOS_SEED="3")
    before = sum(rig.fake.requests.values())
    argv = args if args is not None else rig.trade_args("--max-cycles", "3", *extra)
    res = rig.cli(*argv, env=env)
    return res, sum(rig.fake.requests.values()) - before


@pytest.mark.parametrize(
    ("change", "extra", "args_edit", "says"),
    [
        ({"KALSHIBOT_MODE": "paper"}, (), None, "KALSHIBOT_MODE=live is not set"),
        ({}, (), "drop-live", "add --live"),
        ({}, (), "paper-venue", "--live needs --exchange kalshi"),
        ({"KALSHIBOT_API_KEY_ID": ""}, (), None, "set KALSHIBOT_API_KEY_ID"),
        ({"KALSHIBOT_PRIVATE_KEY_PATH": ""}, (), None, "set KALSHIBOT_PRIVATE_KEY_PATH"),
        ({"KALSHIBOT_PRIVATE_KEY_PATH": "/nonexistent/key.pem"}, (), None, "does not exist"),
        ({"KALSHIBOT_ENVIRONMENT": "prod"}, ("--yes",), None,
         "KALSHIBOT_CONFIRM_PROD_LIVE=true"),
        ({"KALSHIBOT_ENVIRONMENT": "prod", "KALSHIBOT_CONFIRM_PROD_LIVE": "true"}, (), None,
         "prod needs a confirmation"),
    ],
    ids=["mode-paper", "no-live-flag", "paper-venue", "no-key-id", "no-key-path",
         "missing-key-file", "prod-yes-without-setting", "prod-no-confirmation"],
)
def test_each_missing_piece_is_refused_before_any_request(
    rig: BotRig, change: dict[str, str], extra: tuple[str, ...], args_edit: str | None,
    says: str,
) -> None:
    env = rig.env(**change)
    args = rig.trade_args("--max-cycles", "3", *extra)
    if args_edit == "drop-live":
        args.remove("--live")
    elif args_edit == "paper-venue":
        args[args.index("kalshi")] = "paper"
    res, requests = _trade(rig, env=env, args=args)
    assert res.returncode == 3, res.stderr
    assert says in res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1  # one line
    assert requests == 0, "the gate must refuse before any request"


def test_key_file_readable_by_others_is_refused(rig: BotRig, tmp_path: Path) -> None:
    key = tmp_path / "open.pem"
    key.write_bytes(rig.key_path.read_bytes())
    key.chmod(0o644)
    res, requests = _trade(rig, env=rig.env(KALSHIBOT_PRIVATE_KEY_PATH=str(key)))
    assert res.returncode == 3 and "wider than 0600" in res.stderr
    assert requests == 0


def test_the_full_checklist_sends_orders_on_demo(rig: BotRig) -> None:
    creates = len(rig.fake.state["create_log"])
    res, requests = _trade(rig, env=rig.env())
    assert res.returncode == 0, res.stderr
    assert requests > 0
    assert len(rig.fake.state["create_log"]) > creates


def test_prod_needs_the_setting_and_a_confirmation(rig: BotRig) -> None:
    creates = len(rig.fake.state["create_log"])
    env = rig.env(KALSHIBOT_ENVIRONMENT="prod", KALSHIBOT_CONFIRM_PROD_LIVE="true")
    res, requests = _trade(rig, "--yes", env=env)
    assert res.returncode == 0, res.stderr
    assert requests > 0 and len(rig.fake.state["create_log"]) > creates
