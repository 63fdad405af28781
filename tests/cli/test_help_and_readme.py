"""Issue 19: every command's ``--help`` works (exit 0, no traceback) and fits 80 columns, and
every ``kalshibot ...`` command line in README.md's code blocks parses (option names, values
of the right type, subcommands) without running it. A guard for what changes next (a
renamed option, a README example left behind), not a regression test.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer import _click as click
from typer.core import TyperGroup

from kalshibot.cli.main import command_tree, run

REPO = Path(__file__).resolve().parents[2]


def _paths() -> list[list[str]]:
    out: list[list[str]] = []

    def walk(cmd: object, prefix: list[str]) -> None:
        out.append(prefix)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*prefix, name])

    walk(command_tree(), [])
    return out


@pytest.mark.parametrize("path", _paths(), ids=lambda p: " ".join(p) or "(root)")
def test_help_exits_0_and_fits_80_columns(path: list[str], monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    assert run([*path, "--help"]) == 0
    out, err = capsys.readouterr()
    assert "Usage: kalshibot" in out and "Traceback" not in out + err
    wide = [ln for ln in out.splitlines() if len(ln) > 80]
    assert not wide, wide


def _readme_commands() -> list[str]:
    """``kalshibot ...`` lines of README.md's fenced code blocks (continuations joined,
    comments, redirections and pipes cut; synopsis lines with ``[optional]`` parts left out)."""
    text = (REPO / "README.md").read_text()
    found: list[str] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"^(\w+=\S+\s+)+", "", line.strip())  # VAR=value prefixes
            if not line.startswith("kalshibot ") or " [" in line:
                continue
            line = re.split(r"\s+#|\s*(?:\||&&|>)", line)[0]
            found.append(line)
    return found


def _parse_only(argv: list[str]) -> None:
    """Parse ``argv`` (after ``kalshibot``) down to the leaf command, executing nothing."""
    cmd: click.Command = command_tree()
    ctx = cmd.make_context("kalshibot", list(argv))
    while isinstance(cmd, TyperGroup):
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub


def test_readme_has_commands() -> None:
    assert len(_readme_commands()) > 20


@pytest.mark.parametrize("line", _readme_commands())
def test_readme_command_parses(line: str) -> None:
    argv = shlex.split(line)[1:]
    try:
        _parse_only(argv)
    except click.exceptions.ClickException as exc:
        pytest.fail(f"README command does not parse: {line!r}: {exc.format_message()}")


#: Options named after a setting but not defaulting to it (filters, side-by-side lists).
NOT_SETTINGS = {("history", "--strategy"), ("backtest", "--strategy")}
ALIASES = {"db": "db_path", "kelly": "kelly_fraction", "env": "environment"}


def test_options_with_a_setting_name_its_env_var() -> None:
    """An option that overrides a setting says which ``KALSHIBOT_*`` variable it overrides
    (f6e3055 named ``KALSHIBOT_DATABASE_PATH``, which does not exist, or "from config")."""
    from kalshibot.config import Settings

    fields = set(Settings.model_fields)
    missing: list[str] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
            return
        for p in getattr(cmd, "params", []):
            for opt in getattr(p, "opts", []):
                key = opt[2:].replace("-", "_")
                field = ALIASES.get(key, key)
                if not opt.startswith("--") or field not in fields \
                        or (" ".join(path), opt) in NOT_SETTINGS:
                    continue
                env = f"KALSHIBOT_{field.upper()}"
                if env not in (p.help or "") and getattr(p, "envvar", None) != env:
                    missing.append(f"{' '.join(path)} {opt}: {env}")

    walk(command_tree(), [])
    assert not missing, missing
