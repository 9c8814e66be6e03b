"""Rules the code base holds itself to: comments say why instead of citing what a reader
cannot open, and modules meet through each other's public names only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "contactguard"

# built from pieces, so that this file does not match its own patterns
_CITATIONS = re.compile(r"\b[Ii]ssues?\s+#?\d|#\d+\b(?=\))|\b" + "DESIGN" + r"\.md\b")

# Imports of another module's private names that exist today. This list must only shrink:
# give the name a public spelling (or move the code to its owner) and remove it here; never add.
PRIVATE_IMPORTS_ALLOWED: frozenset[tuple[str, str]] = frozenset()


def _sources() -> list[Path]:
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py"),
             *(ROOT / "benchmarks").rglob("*.py")]
    return sorted(p for p in files if not any(part.startswith(".venv") for part in p.parts))


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def private_imports(name: str, path: Path, modules: dict[str, Path]) -> set[tuple[str, str]]:
    """(module, private name of another module) for every ``from .x import _y`` and every
    ``x._y`` where ``x`` is a contactguard module the file imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    aliases: dict[str, str] = {}  # local name → the contactguard module it is bound to
    found: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not source.startswith("contactguard"):
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in modules:
                    aliases[alias.asname or alias.name] = full
                elif alias.name.startswith("_") and source != name:
                    found.add((name, full))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("contactguard"):
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            module = aliases.get(node.value.id)
            if module is not None and module != name:
                found.add((name, f"{module}.{node.attr}"))
    return found


class TestComments:
    def test_no_issue_numbers_or_outside_documents(self) -> None:
        """No comment, docstring or string in the package, tests or benchmarks cites an issue
        number or a DESIGN file that is not in the repository."""
        hits = [
            f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for path in _sources()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if _CITATIONS.search(line)
        ]
        assert hits == []

    def test_the_pattern_finds_citations(self) -> None:
        """The check above would see the citations it forbids (a check that cannot fail is none)."""
        issue = "issue"
        for text in (f"# fast path ({issue} 5)", f"see {issue.title()} 12",
                     "(" + "DESIGN" + ".md, Policy)", f"{issue}s 3 and 4"):
            assert _CITATIONS.search(text), text
        assert not _CITATIONS.search("# the issue is that a 5-digit number")

    def test_cited_docs_exist(self) -> None:
        """Every docs/… file the code cites is in the repository."""
        cited = {
            match
            for path in _sources()
            for match in re.findall(r"docs/[\w./-]+\.md", path.read_text(encoding="utf-8"))
        }
        assert cited, "the code cites its architecture document"
        assert sorted(c for c in cited if not (ROOT / c).is_file()) == []


class TestPrivateNames:
    def test_modules_use_only_public_names_of_each_other(self) -> None:
        """No module imports (or reads through a module) another module's private name,
        beyond the shrinking allow-list."""
        modules = _modules()
        found: set[tuple[str, str]] = set()
        for name, path in modules.items():
            found |= private_imports(name, path, modules)
        assert sorted(found - PRIVATE_IMPORTS_ALLOWED) == [], "new private import"
        assert sorted(PRIVATE_IMPORTS_ALLOWED - found) == [], "fixed: remove it from the list"

    def test_the_checker_sees_both_shapes(self, tmp_path: Path) -> None:
        """A ``from .x import _y`` and an ``x._y`` are both found; public names and a module's
        own privates are not."""
        package = tmp_path / "contactguard"
        package.mkdir()
        (package / "a.py").write_text("_own = 1\ndef f():\n    return _own\n", encoding="utf-8")
        (package / "b.py").write_text(
            "from . import a\nfrom .a import _own, f\nx = a._own + a.f()\n", encoding="utf-8"
        )
        modules = {"contactguard.a": package / "a.py", "contactguard.b": package / "b.py"}
        assert private_imports("contactguard.b", package / "b.py", modules) == {
            ("contactguard.b", "contactguard.a._own")
        }
        assert private_imports("contactguard.a", package / "a.py", modules) == set()
