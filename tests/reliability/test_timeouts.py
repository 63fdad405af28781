"""Slow suites set their own timeout (issue 16 case 9).

The default ``timeout = 300`` of pyproject.toml is for the default run. A test marked
``slow`` (e.g. ``test_sigkill_60_runs``: 175 s alone, several times that on a loaded 2-core
machine) must carry its own ``@pytest.mark.timeout(...)`` (on the test, its class or the
module's ``pytestmark``) so ``-m slow`` is not killed by the default. Fails on f6e3055, where
``test_sigkill_60_runs`` and ``test_faults_long`` had none.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _marks(decorators: list[ast.expr]) -> set[str]:
    """Names of ``pytest.mark.<name>`` / ``pytest.mark.<name>(...)`` among decorators."""
    out: set[str] = set()
    for d in decorators:
        node = d.func if isinstance(d, ast.Call) else d
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "mark":
            out.add(node.attr)
    return out


def _module_marks(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            value = node.value
            items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
            return _marks(list(items))
    return set()


def slow_tests_without_timeout(root: Path = TESTS) -> list[str]:
    """``file::test`` for every slow test that would run under the default timeout."""
    missing: list[str] = []
    for path in sorted(root.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = _module_marks(tree)
        name = str(path.relative_to(root))

        def visit(body: list[ast.stmt], inherited: set[str], prefix: str,
                  name: str = name) -> None:
            for node in body:
                if isinstance(node, ast.ClassDef):
                    visit(node.body, inherited | _marks(node.decorator_list),
                          f"{prefix}{node.name}::", name)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                        and node.name.startswith("test"):
                    marks = inherited | _marks(node.decorator_list)
                    if "slow" in marks and "timeout" not in marks:
                        missing.append(f"{name}::{prefix}{node.name}")

        visit(tree.body, module, "")
    return missing


def test_every_slow_test_sets_its_own_timeout() -> None:
    assert slow_tests_without_timeout() == []


def test_the_check_sees_a_slow_test_without_timeout(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.slow\ndef test_long():\n    pass\n\n"
        "@pytest.mark.slow\n@pytest.mark.timeout(900)\ndef test_ok():\n    pass\n",
        encoding="utf-8")
    assert slow_tests_without_timeout(tmp_path) == ["test_x.py::test_long"]
