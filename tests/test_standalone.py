"""The repository stands alone: a clone with nothing beside it has its contract, its docs,
and no path that reaches outside it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_OURS = {".git", ".venv", ".adledger", "node_modules", "build"}
OUTSIDE = "../" + "shared"  # spelled apart so this file does not match itself
DOCS = ("billing.md", "api.md", "operations.md")


def _repository_text_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if path.is_file() and not parts & NOT_OURS and not any(p.endswith("cache") for p in parts):
            files.append(path)
    return files


def test_nothing_in_the_repository_names_a_folder_outside_it() -> None:
    naming = []
    for path in _repository_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if OUTSIDE in text:
            naming.append(str(path.relative_to(ROOT)))
    assert naming == []


def test_the_docs_a_user_needs_are_in_the_repository_and_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in DOCS:
        assert (ROOT / "docs" / name).is_file(), name
        assert f"docs/{name}" in readme, name


def test_the_contract_copy_is_shipped_with_the_package() -> None:
    contract = ROOT / "adledger" / "schema" / "contract.graphql"

    assert "type Query" in contract.read_text(encoding="utf-8")
