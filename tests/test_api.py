"""The public namespace."""

from __future__ import annotations

import importlib
import importlib.resources
import subprocess
import sys

import contactguard


class TestPublicApi:
    def test_all_is_sorted(self) -> None:
        """`__all__` is sorted so that additions are easy to review."""
        assert contactguard.__all__ == sorted(contactguard.__all__)

    def test_every_name_imports(self) -> None:
        """Every name in `__all__` is importable from the package."""
        module = importlib.import_module("contactguard")
        assert [n for n in contactguard.__all__ if not hasattr(module, n)] == []

    def test_names_do_not_depend_on_import_order(self) -> None:
        """``contactguard.sanitize`` is the function whatever was imported before it: no
        submodule shares a public name (the import system would set the package attribute to
        the submodule when it is first imported directly)."""
        code = (
            "import contactguard.pipeline, contactguard.books, contactguard.evidence\n"
            "from contactguard import sanitize, read_book, load_evidence\n"
            "import inspect\n"
            "print(all(inspect.isfunction(f) for f in (sanitize, read_book, load_evidence)))\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.stdout.strip() == "True", done.stderr
        names = {path.stem for path in importlib.resources.files("contactguard").iterdir()}
        assert names.isdisjoint(contactguard.__all__)

    def test_reason_codes_are_stable(self) -> None:
        """The reason codes are the documented strings."""
        assert [r.value for r in contactguard.Reason] == [
            "inbound-first", "no-evidence", "business-initiated", "opted-out", "expired",
            "invalid-number", "no-number", "unparseable", "ambiguous-name", "ambiguous-number",
            "merged-duplicate",
        ]
