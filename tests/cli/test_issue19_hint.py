"""Issue 19 item 1: an error hint naming an extra keeps the brackets (rich markup ate
``[plot]`` on f6e3055, printing ``pip install 'kalshibot'``)."""

from __future__ import annotations

import pytest

from kalshibot.cli.main import _report
from kalshibot.errors import UserInputError


def test_hint_with_extra_is_printed_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    assert _report(UserInputError("matplotlib is missing",
                                  hint="pip install 'kalshibot[plot]'")) == 2
    assert "pip install 'kalshibot[plot]'" in capsys.readouterr().err
