"""Issue 19 item 12: no dead documentation links. Every relative Markdown link and every
``docs/...`` / ``*.md`` path named in the code or README exists, and every "README: <section>"
reference in messages, help texts and docstrings names a README heading (f6e3055 pointed to
``docs/data-import.md`` and two other docs that never existed)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((REPO / "kalshibot").rglob("*.py")), REPO / "config.env.example",
           REPO / "README.md"]
#: README references: README: X / README, "X" / README 'X' (X ends at a quote or bracket)
SECTION = re.compile(r"README[,:]?\s+(?:\"([^\"]+)\"|'([^']+)'|([A-Za-z][^)\"'\n.;]*))")


def _headings() -> list[str]:
    text = (REPO / "README.md").read_text()
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # "# comment" lines in code blocks
    return [h.replace("`", "").strip().lower() for h in re.findall(r"^#+ (.+)$", text, re.M)]


def test_relative_links_and_named_doc_files_exist() -> None:
    dead: list[str] = []
    for src in SOURCES:
        text = src.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not re.match(r"[a-z]+://|mailto:", target) and not (src.parent / target).exists():
                dead.append(f"{src.relative_to(REPO)}: {target}")
        for path in re.findall(r"(?<![\w./-])(docs/[\w./-]+)", text):
            if not (REPO / path.rstrip(".")).exists():
                dead.append(f"{src.relative_to(REPO)}: {path}")
    assert not dead, dead


def test_readme_section_references_name_a_heading() -> None:
    heads = _headings()
    missing: list[str] = []
    found = 0
    for src in SOURCES:
        if src.name == "README.md":
            continue
        for m in SECTION.finditer(src.read_text()):
            name = next(g for g in m.groups() if g).replace("`", "").strip().lower()
            if name.startswith(("for ", "in ", "the ", "and ")) and not any(
                    name in h for h in heads):
                name = name.split(" ", 1)[1]
            found += 1
            if not any(name in h for h in heads):
                missing.append(f"{src.relative_to(REPO)}: README {name!r}")
    assert found >= 5
    assert not missing, missing
