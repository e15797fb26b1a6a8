"""The default text of `antorcha gpt`: antorcha's own source and docs, a GPT that learns to write antorcha.

It exists wherever antorcha is installed, so the command runs without a download: every `.py`
file of the installed package, plus README.md and ARCHITECTURE.md when they sit beside it (a
source checkout or an editable install). The order is fixed and sorted, so one installation
always gives one text.
"""

from __future__ import annotations

from pathlib import Path

_DOCS = ("README.md", "ARCHITECTURE.md")
DEFAULT_CORPUS_NAME = "antorcha's own source and docs"


def corpus_files() -> list[Path]:
    """The docs first (when present), then the package's .py files by their sorted relative path."""
    package = Path(__file__).resolve().parents[1]  # .../antorcha
    docs = [package.parent / name for name in _DOCS if (package.parent / name).is_file()]
    sources = sorted(package.rglob("*.py"), key=lambda path: path.relative_to(package).as_posix())
    return docs + sources


def default_corpus() -> str:
    """The files' texts, each after a `# file: <name>` line so the model sees where one ends."""
    package_root = Path(__file__).resolve().parents[2]
    parts = []
    for path in corpus_files():
        name = path.relative_to(package_root).as_posix()
        parts.append(f"# file: {name}\n{path.read_text(encoding='utf-8')}")
    return "\n".join(parts)
