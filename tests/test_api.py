"""The public namespace."""

from __future__ import annotations

import importlib

import contactguard


class TestPublicApi:
    def test_all_is_sorted(self) -> None:
        """`__all__` is sorted so that additions are easy to review."""
        assert contactguard.__all__ == sorted(contactguard.__all__)

    def test_every_name_imports(self) -> None:
        """Every name in `__all__` is importable from the package."""
        module = importlib.import_module("contactguard")
        assert [n for n in contactguard.__all__ if not hasattr(module, n)] == []

    def test_reason_codes_are_stable(self) -> None:
        """The reason codes are the documented strings."""
        assert [r.value for r in contactguard.Reason] == [
            "inbound-first", "no-evidence", "business-initiated", "opted-out", "expired",
            "invalid-number", "no-number", "unparseable", "ambiguous-name", "ambiguous-number",
            "merged-duplicate",
        ]
